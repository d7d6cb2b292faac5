package io.ummu;

import java.time.Duration;
import java.util.List;
import java.util.Objects;

import io.ummu.agent.AgentRuntime;

/**
 * The application's side of the ummu agent
 * ({@code java -javaagent:ummu.jar ...}): the buffers it tracks and the
 * listeners it calls. Without the agent every method works and reports
 * nothing ({@link #isActive()} is false). Thread-safe.
 */
public final class Ummu {
    private Ummu() {
    }

    /**
     * Registers a listener for {@link BufferEvent}s of every tracked buffer.
     * May be called before the agent is attached late.
     *
     * @return false if it was already registered
     * @throws NullPointerException if listener is null
     */
    public static boolean addListener(BufferListener listener) {
        return AgentRuntime.addListener(Objects.requireNonNull(listener, "listener"));
    }

    /** @return true if it was registered */
    public static boolean removeListener(BufferListener listener) {
        return AgentRuntime.removeListener(Objects.requireNonNull(listener, "listener"));
    }

    /** @return true when the agent is installed and tracking */
    public static boolean isActive() {
        return AgentRuntime.isActive();
    }

    /** @return the kernel backend in use ("ummunotify", "userfaultfd"), "jvm" without one, "none" without the agent */
    public static String backend() {
        return AgentRuntime.backend();
    }

    /** @return one line: what the agent does here, and what it does not and why */
    public static String status() {
        return AgentRuntime.status();
    }

    /** @return a snapshot of the buffers the JDK holds right now (as far as the dispatcher has caught up) */
    @SuppressWarnings("unchecked")
    public static List<TrackedBuffer> liveBuffers() {
        return (List<TrackedBuffer>) AgentRuntime.liveBuffers();
    }

    /** @return the number of live tracked buffers */
    public static int liveCount() {
        return AgentRuntime.liveCount();
    }

    /**
     * Waits until every allocation, release and kernel invalidation that
     * happened before this call has been processed and its events delivered.
     * Not from a listener (returns false at once).
     *
     * @return false on timeout
     * @throws InterruptedException if interrupted while waiting
     */
    public static boolean flush(Duration timeout) throws InterruptedException {
        return AgentRuntime.flush(timeout.toNanos());
    }
}
