package io.ummu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.ummu.internal.CounterPage;
import io.ummu.internal.DirectAddress;
import io.ummu.internal.Native;
import java.io.IOException;
import java.lang.ref.Reference;
import java.lang.ref.WeakReference;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * close() against the fast path, which reads the backend's mapped counter
 * page without any count of readers and, in a notifier of its own class,
 * without any other load: close retires the handle (its descriptors go at
 * once) and switches the page, in place, to one that reads
 * {@link Native#COUNTER_CLOSED}, which is how that fast path learns it is
 * closed; the page itself stays mapped while anything can still read it
 * (the notifier, or a CounterPage got from it, is reachable) and goes after
 * a garbage collection that finds neither. Observed in /proc/self/maps and
 * /proc/self/fd, the way a crash or a leak would come about. Every backend
 * under test (both in the VM).
 */
class CounterLifetimeTest {

    @Test
    void theFastPathUsesTheConstantCounter() {
        try (MemoryNotifier n = TestBackends.openAny()) {
            assertEquals(jdk() >= 22 ? "constant-segment" : "constant-unsafe", n.counterKind());
            n.close();
            assertNull(n.counterKind(), "closed: the counter field is cleared (the constant load stays,"
                    + " and reads the closed marker)");
        }
    }

    @ParameterizedTest
    @MethodSource("io.ummu.TestBackends#all")
    void afterCloseEveryFastPathReadThrowsAndThePageReadsClosed(Backend backend) throws Exception {
        TestBackends.assumeAvailable(backend);
        MemoryNotifier n = MemoryNotifier.open(backend);
        assertNotNull(n.constantKind(), "a notifier of its own class, whose fast path loads only the counter");
        CounterPage counter = n.counterForTests();
        long g = n.generationAcquire();
        assertTrue(g >= 0, "generations count up from 0: " + g);
        assertFalse(n.changedSince(g));
        assertTrue(n.changedSince(g + 1));
        n.close();
        // The value the closed page holds, and any other, as a generation.
        for (long any : new long[] {g, g + 1, -1, Native.COUNTER_CLOSED, Long.MAX_VALUE}) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> n.changedSince(any));
            assertEquals("notifier closed", e.getMessage());
        }
        assertEquals("notifier closed", assertThrows(IllegalStateException.class, n::generationAcquire).getMessage());
        assertEquals(Native.COUNTER_CLOSED, counter.getAcquire(), "close switched the page");
        // A second close, from another thread, is a no-op that leaves it closed.
        Thread t = new Thread(n::close);
        t.start();
        t.join();
        assertThrows(IllegalStateException.class, n::generationAcquire);
        assertTrue(mapped(DirectAddress.of(counter.view())), "still reachable, still mapped");
    }

    /**
     * Two threads closing at once: each, once its close() returned, finds the
     * notifier closed, also the one that was not first (it waits until the
     * first has switched the page, which is all the fast path looks at).
     */
    @ParameterizedTest
    @MethodSource("io.ummu.TestBackends#all")
    void everyCloserSeesItClosedOnceItsCloseReturned(Backend backend) throws Exception {
        TestBackends.assumeAvailable(backend);
        try (MemoryNotifier keep = MemoryNotifier.open(backend)) { // keeps the backend's shared state warm
            for (int round = 0; round < 100; round++) {
                MemoryNotifier n = MemoryNotifier.open(backend);
                CyclicBarrier start = new CyclicBarrier(2);
                List<Throwable> unexpected = Collections.synchronizedList(new ArrayList<>());
                Runnable closer = () -> {
                    try {
                        start.await();
                        n.close();
                        try {
                            long g = n.generationAcquire();
                            unexpected.add(new AssertionError("open after close() returned: generation " + g));
                        } catch (IllegalStateException expected) {
                            // closed
                        }
                    } catch (Throwable e) {
                        unexpected.add(e);
                    }
                };
                Thread a = new Thread(closer);
                Thread b = new Thread(closer);
                a.start();
                b.start();
                a.join();
                b.join();
                assertTrue(unexpected.isEmpty(), "round " + round + ": " + unexpected);
            }
            assertTrue(keep.generationAcquire() >= 0);
        }
    }

    /** Before, the descriptors (and the module's context) lived until a GC found the notifier unreachable. */
    @ParameterizedTest
    @MethodSource("io.ummu.TestBackends#all")
    void closeReleasesTheDescriptorsAtOnce(Backend backend) throws Exception {
        TestBackends.assumeAvailable(backend);
        Map<String, String> before = descriptors();
        MemoryNotifier n = MemoryNotifier.open(backend);
        Map<String, String> own = descriptors();
        own.keySet().removeAll(before.keySet());
        assertFalse(own.isEmpty(), "the notifier's descriptors");
        n.close();
        Map<String, String> after = descriptors();
        for (Map.Entry<String, String> fd : own.entrySet()) {
            assertNotEquals(fd.getValue(), after.get(fd.getKey()),
                    "fd " + fd.getKey() + " (" + fd.getValue() + ") is still open after close()");
        }
        assertThrows(IllegalStateException.class, n::generationAcquire);
        Reference.reachabilityFence(n);
    }

    /**
     * Readers through the notifier and through a CounterPage got before
     * close, racing close and garbage collections: none crashes (a load
     * from an unmapped page would take the JVM down), each sees the notifier
     * open and then closed, never open again, and the counter's value stays
     * the last generation until it turns into the closed marker. Once the
     * readers are gone and nothing holds the notifier, its page goes.
     */
    @ParameterizedTest
    @MethodSource("io.ummu.TestBackends#all")
    void readersRacingCloseAndGcNeverLoadFromAnUnmappedPage(Backend backend) throws Exception {
        TestBackends.assumeAvailable(backend);
        for (int round = 0; round < 6; round++) {
            long address = raceCloseAndGc(backend, round);
            assertTrue(unmappedAfterGc(address), "nothing holds the closed notifier: its page goes");
        }
    }

    /** One round: returns the page's address once nothing refers to the notifier any more. */
    private static long raceCloseAndGc(Backend backend, int round) throws Exception {
        MemoryNotifier n = MemoryNotifier.open(backend);
        CounterPage counter = n.counterForTests();
        long address = DirectAddress.of(counter.view());
        long before = counter.getAcquire();
        assertTrue(mapped(address), "the counter page is mapped");
        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong reads = new AtomicLong();
        AtomicLong closedSeen = new AtomicLong();
        List<Throwable> unexpected = Collections.synchronizedList(new ArrayList<>());
        CountDownLatch running = new CountDownLatch(4);
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < 4; t++) {
            boolean throughNotifier = t % 2 == 0;
            Thread th = new Thread(() -> {
                running.countDown();
                try {
                    boolean closed = false;
                    long last = before;
                    // The last round follows the stop flag, which is set after close().
                    for (boolean done = false; !done;) {
                        done = stop.get();
                        if (throughNotifier) {
                            try {
                                n.changedSince(n.generationAcquire());
                                if (closed) {
                                    throw new AssertionError("the notifier read as open after it read as closed");
                                }
                            } catch (IllegalStateException e) {
                                if (!"notifier closed".equals(e.getMessage())) {
                                    throw e;
                                }
                                closed = true;
                            }
                        } else {
                            // (The userfaultfd reader may bump an open notifier's
                            // counter for another's event: it moves, forward only.)
                            long v = counter.getAcquire();
                            if (v == Native.COUNTER_CLOSED) {
                                closed = true;
                            } else if (closed || v < last) {
                                throw new AssertionError("counter " + v + " after " + last
                                        + (closed ? " and the closed marker" : ": it went back"));
                            } else {
                                last = v;
                            }
                        }
                        reads.incrementAndGet();
                    }
                    if (closed) {
                        closedSeen.incrementAndGet();
                    }
                } catch (Throwable e) {
                    unexpected.add(e);
                }
            }, "counter-reader-" + t);
            threads.add(th);
            th.start();
        }
        running.await();
        Thread.sleep(round % 3);
        n.close();
        assertThrows(IllegalStateException.class, n::generationAcquire);
        for (int gc = 0; gc < 3; gc++) {
            System.gc();
            Thread.sleep(10);
        }
        assertTrue(mapped(address), "a page still readable is not unmapped by close or GC");
        Thread.sleep(20);
        stop.set(true);
        for (Thread t : threads) {
            t.join(TimeUnit.SECONDS.toMillis(60));
            assertFalse(t.isAlive());
        }
        assertTrue(unexpected.isEmpty(), "unexpected: " + unexpected);
        assertTrue(reads.get() > 0);
        assertEquals(4, closedSeen.get(), "every reader saw the close");
        assertEquals(Native.COUNTER_CLOSED, counter.getAcquire());
        return address;
    }

    /**
     * The page is held by the notifier itself now (its fast path fences the
     * notifier, not a CounterPage): closed but reachable, it stays mapped
     * through GCs and keeps saying closed; unreachable, it goes.
     */
    @ParameterizedTest
    @MethodSource("io.ummu.TestBackends#all")
    void aClosedNotifiersPageGoesOnlyOnceTheNotifierIsUnreachable(Backend backend) throws Exception {
        TestBackends.assumeAvailable(backend);
        MemoryNotifier n = MemoryNotifier.open(backend);
        long address = DirectAddress.of(n.counterForTests().view());
        n.close();
        for (int gc = 0; gc < 5; gc++) {
            System.gc();
            Thread.sleep(10);
        }
        assertTrue(mapped(address), "closed, yet reachable: its fast path may still run, so its page stays");
        assertThrows(IllegalStateException.class, n::generationAcquire);
        WeakReference<MemoryNotifier> ref = new WeakReference<>(n);
        n = null;
        assertTrue(unmappedAfterGc(address), "closed and unreachable: the counter page is unmapped");
        assertNull(ref.get());
    }

    /** Unclosed and unreachable: the cleaner closes the whole handle, page included. */
    @ParameterizedTest
    @MethodSource("io.ummu.TestBackends#all")
    void anUnclosedUnreachableNotifiersPageGoes(Backend backend) throws Exception {
        TestBackends.assumeAvailable(backend);
        MemoryNotifier n = MemoryNotifier.open(backend);
        long address = DirectAddress.of(n.counterForTests().view());
        assertTrue(n.generationAcquire() >= 0);
        n = null;
        assertTrue(unmappedAfterGc(address), "dropped unclosed: the cleaner released the handle and its page");
    }

    /** GCs until address is unmapped (up to ~6 s); another mapping could take the address, none does in practice. */
    private static boolean unmappedAfterGc(long address) throws Exception {
        for (int i = 0; i < 600 && mapped(address); i++) {
            System.gc();
            Thread.sleep(10);
        }
        return !mapped(address);
    }

    /** fd number to link target, of this process. */
    private static Map<String, String> descriptors() throws IOException {
        Map<String, String> out = new HashMap<>();
        try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc/self/fd"))) {
            for (Path fd : fds) {
                try {
                    out.put(fd.getFileName().toString(), Files.readSymbolicLink(fd).toString());
                } catch (IOException gone) {
                    // closed meanwhile (the directory stream's own descriptor, a JDK thread's file)
                }
            }
        }
        return out;
    }

    private static int jdk() {
        return Integer.parseInt(System.getProperty("ummu.test.jdk", String.valueOf(Runtime.version().feature())));
    }

    /** Whether a mapping of /proc/self/maps holds address (the page may have merged with a neighbour). */
    private static boolean mapped(long address) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/maps"))) {
            int dash = line.indexOf('-');
            int space = line.indexOf(' ');
            long start = Long.parseUnsignedLong(line.substring(0, dash), 16);
            long end = Long.parseUnsignedLong(line.substring(dash + 1, space), 16);
            if (Long.compareUnsigned(address, start) >= 0 && Long.compareUnsigned(address, end) < 0) {
                return true;
            }
        }
        return false;
    }
}
