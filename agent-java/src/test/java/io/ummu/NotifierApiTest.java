package io.ummu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/** The API with whatever backend this machine has, without provoking kernel events (see the *Device* tests). */
class NotifierApiTest {
    @Test
    void watchReportsItsRangeCookieAndNotifier() {
        try (MemoryNotifier n = TestBackends.openAny()) {
            ByteBuffer b = ByteBuffer.allocateDirect(3 * 4096);
            b.position(100).limit(200);
            Watch w = n.watch(b);
            assertEquals(3 * 4096, w.length(), "the whole capacity, whatever position and limit say");
            assertNotEquals(0, w.address());
            assertSame(n, w.notifier());
            assertFalse(w.isClosed());
            Watch slice = n.watch(b.limit(8192).position(4096).slice());
            assertEquals(w.address() + 4096, slice.address(), "a slice starts at its own element 0");
            assertEquals(4096, slice.length());
            Watch raw = n.watch(w.address(), 4096);
            assertEquals(w.address(), raw.address());
            Set<Long> cookies = new HashSet<>(List.of(w.cookie(), slice.cookie(), raw.cookie()));
            assertEquals(3, cookies.size(), "cookies are unique");
            assertEquals(3, n.watchCount());
            raw.close();
            assertTrue(raw.isClosed());
            raw.close();
            assertEquals(2, n.watchCount());
        }
    }

    @Test
    void readOnlyDirectBuffersCanBeWatched() {
        try (MemoryNotifier n = TestBackends.openAny()) {
            ByteBuffer b = ByteBuffer.allocateDirect(4096);
            Watch w = n.watch(b.asReadOnlyBuffer());
            assertEquals(n.watch(b).address(), w.address());
        }
    }

    @Test
    void quietNotifierHasNothingToDrain() {
        try (MemoryNotifier n = TestBackends.openAny()) {
            long g = n.generationAcquire();
            Drain d = n.drain();
            assertTrue(d.invalidations().isEmpty());
            assertEquals(g, d.generation(), "nothing pending: the current counter");
            assertFalse(n.changedSince(d.generation()));
            assertTrue(n.changedSince(d.generation() + 1));
            assertFalse(n.await(Duration.ZERO));
            assertFalse(n.await(Duration.ofMillis(20)));
        }
    }

    @Test
    void closeWakesWaitersBlockedInTheKernelWhichReturnFalse() throws Exception {
        MemoryNotifier n = TestBackends.openAny();
        ExecutorService ex = Executors.newFixedThreadPool(2);
        try {
            List<Thread> threads = java.util.Collections.synchronizedList(new ArrayList<>());
            List<Future<Boolean>> waiters = new ArrayList<>();
            for (Duration d : List.of(Duration.ofDays(365_000_000L), Duration.ofHours(1))) { // forever, long
                waiters.add(ex.submit(() -> {
                    threads.add(Thread.currentThread());
                    return n.await(d);
                }));
            }
            // Close only once both are inside the native wait (epoll_wait), so
            // that it is the eventfd wakeup that has to release them.
            for (int i = 0; i < 6000 && !(threads.size() == 2 && threads.stream().allMatch(
                    NotifierApiTest::inNativeAwait)); i++) {
                Thread.sleep(10);
            }
            assertTrue(threads.size() == 2 && threads.stream().allMatch(NotifierApiTest::inNativeAwait),
                    "the waiters never reached Native.await");
            n.close();
            for (Future<Boolean> w : waiters) {
                assertFalse(w.get(60, TimeUnit.SECONDS), "a waiter woken by close reports no events");
            }
        } finally {
            ex.shutdownNow();
        }
    }

    private static boolean inNativeAwait(Thread t) {
        for (StackTraceElement e : t.getStackTrace()) {
            if (e.getClassName().equals("io.ummu.internal.Native") && e.getMethodName().equals("await")) {
                return true;
            }
        }
        return false;
    }

    @Test
    void theFastPathReadsTheMappedCounterPageThroughAReadOnlyView() {
        try (MemoryNotifier n = TestBackends.openAny()) {
            java.nio.ByteBuffer page = n.counterPageView();
            assertTrue(page.isDirect(), "the kernel's (or reader thread's) page, not a copy");
            assertTrue(page.isReadOnly(), "the page is mapped PROT_READ; a write must not reach it");
            assertThrows(java.nio.ReadOnlyBufferException.class, () -> page.putLong(0, 1));
            assertEquals(page.duplicate().order(java.nio.ByteOrder.nativeOrder()).getLong(0), n.generationAcquire());
            n.close();
            assertEquals(null, n.counterPageView(), "closed: the notifier's counter field is cleared"
                    + " (the constant fast path keeps its page, switched to the closed marker)");
        }
    }

    @Test
    void closeClosesEveryWatch() {
        MemoryNotifier n = TestBackends.openAny();
        ByteBuffer b = ByteBuffer.allocateDirect(4096);
        Watch a = n.watch(b);
        Watch c = n.watch(b);
        n.close();
        assertTrue(a.isClosed());
        assertTrue(c.isClosed());
        a.close(); // still idempotent after the notifier closed
        assertEquals(0, n.watchCount());
    }

    @Test
    void listenersAreRegisteredOnceAndTheDispatcherIsADaemonNamedUmmuDispatcher() throws Exception {
        try (MemoryNotifier n = TestBackends.openAny()) {
            InvalidationListener l = inv -> { };
            assertTrue(n.addListener(l));
            assertFalse(n.addListener(l));
            Thread t = findThread("ummu-dispatcher");
            assertTrue(t != null && t.isDaemon(), "dispatcher thread: " + t);
            assertTrue(n.removeListener(l));
            assertFalse(n.removeListener(l));
            n.close();
            t.join(TimeUnit.SECONDS.toMillis(60));
            assertFalse(t.isAlive(), "close stops the dispatcher");
        }
    }

    @Test
    void drainWhileListenersExistReturnsNothing() {
        try (MemoryNotifier n = TestBackends.openAny()) {
            n.addListener(inv -> { });
            Drain d = n.drain();
            assertTrue(d.invalidations().isEmpty());
            assertEquals(n.generationAcquire(), d.generation());
        }
    }

    /**
     * Hammers a notifier from several threads while closing it: every call
     * either works or says "notifier closed"; nothing crashes the JVM.
     */
    @Test
    void closeIsSafeAgainstConcurrentCalls() throws Exception {
        for (int round = 0; round < 20; round++) {
            MemoryNotifier n = TestBackends.openAny();
            ByteBuffer b = ByteBuffer.allocateDirect(4096);
            AtomicBoolean stop = new AtomicBoolean();
            List<Thread> threads = new ArrayList<>();
            List<Throwable> unexpected = java.util.Collections.synchronizedList(new ArrayList<>());
            CountDownLatch running = new CountDownLatch(4);
            Runnable[] jobs = {
                () -> { while (!stop.get()) { n.watch(b).close(); } },
                () -> { while (!stop.get()) { n.drain(); n.changedSince(n.generationAcquire()); } },
                () -> { while (!stop.get()) { n.await(Duration.ofMillis(1)); } },
                () -> { while (!stop.get()) { InvalidationListener l = i -> { }; n.addListener(l); n.removeListener(l); } },
            };
            for (Runnable job : jobs) {
                Thread t = new Thread(() -> {
                    running.countDown();
                    try {
                        job.run();
                    } catch (IllegalStateException e) {
                        if (!"notifier closed".equals(e.getMessage())) {
                            unexpected.add(e);
                        }
                    } catch (Throwable e) {
                        unexpected.add(e);
                    }
                });
                threads.add(t);
                t.start();
            }
            running.await();
            Thread.sleep(round % 5);
            n.close();
            stop.set(true);
            for (Thread t : threads) {
                t.join(TimeUnit.SECONDS.toMillis(60));
                assertFalse(t.isAlive());
            }
            assertTrue(unexpected.isEmpty(), "unexpected: " + unexpected);
            assertThrows(IllegalStateException.class, n::generationAcquire);
            // Whatever raced, the closed notifier is done with the memory: a
            // fresh one can watch it.
            try (MemoryNotifier fresh = MemoryNotifier.open(n.backend())) {
                fresh.watch(b).close();
            }
        }
    }

    @Test
    void closedAndForgottenNotifiersReleaseTheirDescriptors() throws Exception {
        // Each handle holds at least three descriptors (the backend's, an
        // epoll set, an eventfd). close() and a forgotten notifier both leave
        // the release to the cleaner once the counter page is unreachable, so
        // after a few GCs the count must be back where it started.
        TestBackends.openAny().close();
        // Earlier tests' handles may still be waiting for the cleaner: let
        // them go first, so that "before" does not count them.
        int before = openDescriptors();
        for (int i = 0, last = -1; i < 50 && before != last; i++) {
            System.gc();
            Thread.sleep(20);
            last = before;
            before = openDescriptors();
        }
        List<MemoryNotifier> open = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
            // No watches: a forgotten userfaultfd notifier would keep its
            // registration (the whole VMA) until the cleaner runs, and no
            // other userfaultfd in the process may register that VMA.
            open.add(TestBackends.openAny());
        }
        int during = openDescriptors();
        // At least two descriptors per handle (three with either backend
        // today): proves the count sees them, whatever else moves meanwhile.
        assertTrue(during >= before + 2 * 64, "64 open handles, " + during + " descriptors, " + before + " before");
        for (int i = 0; i < open.size(); i += 2) {
            open.get(i).close();
        }
        open = null; // the other half is forgotten unclosed
        int now = -1;
        for (int i = 0; i < 600; i++) {
            System.gc();
            Thread.sleep(20);
            now = openDescriptors();
            if (now <= before) {
                return;
            }
        }
        assertEquals(before, now, "descriptors still open after close and GC");
    }

    private static int openDescriptors() throws java.io.IOException {
        try (java.util.stream.Stream<java.nio.file.Path> s = java.nio.file.Files.list(java.nio.file.Path.of("/proc/self/fd"))) {
            return (int) s.count();
        }
    }

    private static Thread findThread(String name) {
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().equals(name)) {
                return t;
            }
        }
        return null;
    }
}
