package io.ummu.agent;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import io.ummu.BufferListener;

/**
 * The agent's state as seen by {@link io.ummu.Ummu}. Public only because
 * {@code Ummu} lives in another package; not an API.
 */
public final class AgentRuntime {
    /** Listeners survive the agent being absent: they start receiving once it is attached. */
    static final CopyOnWriteArrayList<BufferListener> LISTENERS = new CopyOnWriteArrayList<>();

    static volatile Tracker tracker;
    static volatile String status = "ummu agent not loaded (start the JVM with -javaagent:ummu.jar)";

    private AgentRuntime() {
    }

    public static boolean addListener(BufferListener l) {
        return LISTENERS.addIfAbsent(l);
    }

    public static boolean removeListener(BufferListener l) {
        return LISTENERS.remove(l);
    }

    public static boolean isActive() {
        return tracker != null;
    }

    /** @return "ummunotify", "userfaultfd", "jvm", or "none" without the agent */
    public static String backend() {
        Tracker t = tracker;
        return t == null ? "none" : t.backendName();
    }

    public static String status() {
        return status;
    }

    public static List<? extends io.ummu.TrackedBuffer> liveBuffers() {
        Tracker t = tracker;
        return t == null ? List.of() : t.liveBuffers();
    }

    public static int liveCount() {
        Tracker t = tracker;
        return t == null ? 0 : t.liveCount();
    }

    public static boolean flush(long timeoutNanos) throws InterruptedException {
        Tracker t = tracker;
        return t == null || t.flush(timeoutNanos);
    }
}
