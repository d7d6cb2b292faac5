package io.ummu.agent;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import io.ummu.MemoryNotifier;
import io.ummu.Ummu;

/**
 * The child of {@link AgentExitWaitTest}: has the three kinds of thread that
 * wait in the backend's native poll (the agent's kernel waiter, a notifier's
 * dispatcher, an application thread in await()), shows that they are in
 * native code, then exits (main returns, or System.exit with "exit"). A
 * shutdown hook of its own reports whether they left native code while the
 * hooks run (HotSpot's exit waits for threads in native code; it does not
 * log it, so their state is the evidence) and whether an unmap made by a
 * shutdown hook still reaches await() and a listener. Lines "KEY value".
 */
public final class ExitWaitChild {
    private static final String AWAITER = "exitwait-awaiter";
    private static final List<String> WAITING_THREADS = List.of("ummu-kernel-waiter", "ummu-dispatcher", AWAITER);
    /** A liveness bound for the hook, not a measurement: the test fails on the lines, never on time. */
    private static final long BOUND_NANOS = TimeUnit.SECONDS.toNanos(20);

    private ExitWaitChild() {
    }

    public static void main(String[] args) throws Exception {
        String backend = Ummu.backend();
        System.out.println("BACKEND " + backend);
        if (backend == null || backend.equals("jvm")) {
            return; // nothing waits in the kernel: the test skips
        }
        MemoryNotifier listened = MemoryNotifier.open();
        MemoryNotifier awaited = MemoryNotifier.open();
        CountDownLatch heard = new CountDownLatch(1);
        CountDownLatch seen = new CountDownLatch(1);
        listened.addListener(inv -> heard.countDown());
        Thread awaiter = new Thread(() -> {
            try {
                for (;;) {
                    if (awaited.await(Duration.ofDays(1)) && !awaited.drain().invalidations().isEmpty()) {
                        seen.countDown();
                    }
                }
            } catch (IllegalStateException closed) {
                // notifier closed
            }
        }, AWAITER);
        awaiter.setDaemon(true);
        awaiter.start();

        long deadline = System.nanoTime() + BOUND_NANOS;
        List<String> notNative = WAITING_THREADS;
        while (!(notNative = notIn(true)).isEmpty() && System.nanoTime() - deadline < 0) {
            Thread.sleep(1);
        }
        System.out.println(notNative.isEmpty() ? "BLOCKED-IN-NATIVE " + WAITING_THREADS
                : "NOT-BLOCKED-IN-NATIVE " + describe(notNative));

        Runtime.getRuntime().addShutdownHook(new Thread(() -> atExit(listened, awaited, heard, seen), "exitwait-probe"));
        if (args.length > 0 && args[0].equals("exit")) {
            System.exit(0);
        }
    }

    private static void atExit(MemoryNotifier listened, MemoryNotifier awaited, CountDownLatch heard,
            CountDownLatch seen) {
        try {
            long deadline = System.nanoTime() + BOUND_NANOS;
            List<String> inNative;
            while (!(inNative = notIn(false)).isEmpty() && System.nanoTime() - deadline < 0) {
                Thread.sleep(1);
            }
            System.out.println(inNative.isEmpty() ? "OUT-OF-NATIVE-AT-EXIT " + WAITING_THREADS
                    : "STILL-IN-NATIVE-AT-EXIT " + describe(inNative));
            // A library that unmaps memory from its own hook: the waiters must still see it.
            // 64 MiB: above glibc's largest mmap threshold, so free() munmaps it.
            ByteBuffer b = ByteBuffer.allocateDirect(64 << 20);
            listened.watch(b);
            awaited.watch(b);
            AgentChild.free(b);
            boolean l = heard.await(20, TimeUnit.SECONDS);
            boolean a = seen.await(20, TimeUnit.SECONDS);
            System.out.println("EVENT-AT-EXIT listener=" + l + " await=" + a);
        } catch (Exception | Error e) {
            System.out.println("PROBE-FAILED " + e);
            e.printStackTrace(System.out);
        }
        System.out.flush();
    }

    /**
     * @param nativeWanted true: the threads not (yet) in Native.await; false:
     *        the threads not parked or waiting in Java (RUNNABLE may be native code)
     */
    private static List<String> notIn(boolean nativeWanted) {
        List<String> bad = new ArrayList<>(WAITING_THREADS);
        for (Map.Entry<Thread, StackTraceElement[]> e : Thread.getAllStackTraces().entrySet()) {
            Thread t = e.getKey();
            if (!WAITING_THREADS.contains(t.getName())) {
                continue;
            }
            StackTraceElement[] st = e.getValue();
            boolean inNative = st.length > 0 && st[0].isNativeMethod() && st[0].getClassName().equals(
                    "io.ummu.internal.Native") && st[0].getMethodName().equals("await");
            Thread.State s = t.getState();
            boolean parked = s == Thread.State.WAITING || s == Thread.State.TIMED_WAITING;
            if (nativeWanted ? inNative : parked) {
                bad.remove(t.getName());
            }
        }
        return bad;
    }

    private static String describe(List<String> names) {
        StringBuilder sb = new StringBuilder();
        List<String> missing = new ArrayList<>(names);
        for (Map.Entry<Thread, StackTraceElement[]> e : Thread.getAllStackTraces().entrySet()) {
            if (names.contains(e.getKey().getName())) {
                missing.remove(e.getKey().getName());
                StackTraceElement[] st = e.getValue();
                sb.append(e.getKey().getName()).append(' ').append(e.getKey().getState()).append(" at ")
                        .append(st.length > 0 ? st[0] : "?").append("; ");
            }
        }
        return sb + (missing.isEmpty() ? "" : "no such thread: " + missing);
    }
}
