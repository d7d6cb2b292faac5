package io.ummu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.ummu.internal.CounterPage;
import io.ummu.internal.DirectAddress;
import java.io.IOException;
import java.lang.ref.Reference;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * close() against the fast path, which reads the backend's mapped counter
 * page without any count of readers: a thread that got hold of the counter
 * before close keeps reading a mapped page, through garbage collections,
 * and the page (with the native handle) goes once nothing can read it.
 * Observed in /proc/self/maps, the way a crash would come about.
 */
class CounterLifetimeTest {

    @Test
    void theFastPathUsesTheConstantCounter() {
        try (MemoryNotifier n = TestBackends.openAny()) {
            assertEquals(jdk() >= 22 ? "constant-segment" : "constant-unsafe", n.counterKind());
            n.close();
            assertNull(n.counterKind());
        }
    }

    @Test
    void readersRacingCloseAndGcKeepTheirPageMappedUntilTheyLetGo() throws Exception {
        for (int round = 0; round < 10; round++) {
            MemoryNotifier n = TestBackends.openAny();
            CounterPage counter = n.counterForTests();
            long address = DirectAddress.of(counter.view());
            long before = counter.getAcquire();
            assertTrue(mapped(address), "the counter page is mapped");
            AtomicBoolean stop = new AtomicBoolean();
            AtomicLong reads = new AtomicLong();
            List<Throwable> unexpected = java.util.Collections.synchronizedList(new ArrayList<>());
            CountDownLatch running = new CountDownLatch(4);
            List<Thread> threads = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                boolean throughNotifier = t % 2 == 0;
                Thread th = new Thread(() -> {
                    running.countDown();
                    try {
                        // Half through the notifier until it says closed, then
                        // (all) through the counter got before close.
                        if (throughNotifier) {
                            try {
                                for (;;) {
                                    n.changedSince(n.generationAcquire());
                                    reads.incrementAndGet();
                                }
                            } catch (IllegalStateException e) {
                                if (!"notifier closed".equals(e.getMessage())) {
                                    throw e;
                                }
                            }
                        }
                        while (!stop.get()) {
                            if (counter.getAcquire() != before) {
                                throw new AssertionError("a closed notifier's counter moved");
                            }
                            reads.incrementAndGet();
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
            assertTrue(mapped(address), "a counter still held is not released by close or GC");
            stop.set(true);
            for (Thread t : threads) {
                t.join(TimeUnit.SECONDS.toMillis(60));
                assertFalse(t.isAlive());
            }
            assertTrue(unexpected.isEmpty(), "unexpected: " + unexpected);
            assertTrue(reads.get() > 0);
            assertEquals(before, counter.getAcquire());
        }
    }

    /**
     * The notifier itself stays reachable: its class of its own holds the
     * page's address or segment, and must not keep the page (nor the native
     * handle) beyond close.
     */
    @Test
    void aClosedNotifiersPageGoesOnceItsCounterIsUnreachable() throws Exception {
        MemoryNotifier n = TestBackends.openAny();
        long address = DirectAddress.of(n.counterForTests().view());
        assertTrue(mapped(address));
        n.close();
        for (int i = 0; i < 600 && mapped(address); i++) {
            System.gc();
            Thread.sleep(10);
        }
        // (Another mapping could take the address at once; none does in this short window in practice.)
        assertFalse(mapped(address), "closed and unreachable: the backend unmapped its counter page");
        assertEquals(jdk() >= 22 ? "constant-segment" : "constant-unsafe", n.constantKind());
        Reference.reachabilityFence(n);
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
