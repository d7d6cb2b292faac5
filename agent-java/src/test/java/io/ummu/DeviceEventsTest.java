package io.ummu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Real kernel events with the APIs of Java 17 (no FFM): freeing a large direct
 * buffer (glibc unmaps chunks above its 32 MiB maximum mmap threshold) and
 * truncating a mapped file. Runs for each backend that is available: on the
 * host usually userfaultfd, in the VM (kmod/vm/vmrun) the ummunotify module,
 * where run-device-tests.sh makes a missing module a failure.
 * {@code DeviceEventsJdk22Test} does unmap/remap/madvise/mprotect through FFM.
 */
class DeviceEventsTest {
    /** Above glibc's largest mmap threshold, so free() always unmaps it. */
    static final int BIG = 40 << 20;
    static final int PAGE = 4096;

    @ParameterizedTest
    @MethodSource("io.ummu.TestBackends#all")
    void freeingADirectBufferIsReportedAsUnmap(Backend backend) {
        TestBackends.assumeAvailable(backend);
        try (MemoryNotifier n = MemoryNotifier.open(backend)) {
            ByteBuffer big = ByteBuffer.allocateDirect(BIG);
            Watch w = n.watch(big);
            Watch untouched = n.watch(ByteBuffer.allocateDirect(PAGE));
            long g0 = n.drain().generation();
            assertFalse(n.changedSince(g0));
            long address = w.address();
            big = null; // only the cleaner, after a GC, frees it
            List<Invalidation> got = Events.until(n, w, () -> System.gc());
            assertTrue(n.changedSince(g0), "the fast path must flip");
            Invalidation inv = Events.only(got, w);
            assertTrue(Long.compareUnsigned(inv.start(), address) >= 0
                    && Long.compareUnsigned(inv.end(), address + BIG) <= 0, "inside the watch: " + inv);
            if (n.capabilities().contains(Capability.EVENT_CAUSE)) {
                assertTrue(inv.mappingGone(), "free() of a mmapped chunk unmaps it: " + inv);
            }
            assertTrue(got.stream().noneMatch(i -> i.watch() == untouched), "unrelated watch reported: " + got);
            assertFalse(w.isClosed(), "an invalidation does not close the watch");
        }
    }

    @ParameterizedTest(allowZeroInvocations = true)
    @MethodSource("io.ummu.TestBackends#ummunotify")
    void truncatingAMappedFileInvalidatesTheCutPages(Backend backend) throws IOException {
        TestBackends.assumeAvailable(backend);
        Path file = Files.createTempFile("ummu-truncate", ".bin");
        try (MemoryNotifier n = MemoryNotifier.open(backend);
                FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            MappedByteBuffer m = ch.map(FileChannel.MapMode.READ_WRITE, 0, 4 * PAGE);
            for (int i = 0; i < 4; i++) {
                m.put(i * PAGE, (byte) 1); // populate every page
            }
            Watch w = n.watch(m);
            long g0 = n.drain().generation();
            ch.truncate(PAGE); // never touch m beyond the first page again: SIGBUS
            assertTrue(n.changedSince(g0));
            Invalidation inv = Events.only(Events.until(n, w, null), w);
            // truncate_pagecache() zaps the cut range twice (before and after
            // dropping the page cache), so the module usually sees two hits
            // and reports the whole watch; a single hit is exactly the cut pages.
            if (inv.exact()) {
                assertEquals(w.address() + PAGE, inv.start(), inv.toString());
                assertEquals(w.address() + 4 * PAGE, inv.end(), inv.toString());
            } else {
                assertEquals(w.address(), inv.start(), inv.toString());
                assertEquals(w.address() + 4 * PAGE, inv.end(), inv.toString());
            }
            if (n.capabilities().contains(Capability.EVENT_CAUSE)) {
                assertEquals(java.util.Set.of(Cause.CLEAR), inv.causes(), inv.toString());
                assertFalse(inv.mappingGone(), "truncation clears PTEs, the mapping stays: " + inv);
            }
            assertEquals(1, m.get(0), "the first page is still mapped and readable");
        } finally {
            Files.deleteIfExists(file);
        }
    }

    @ParameterizedTest
    @MethodSource("io.ummu.TestBackends#all")
    void aClosedWatchStaysSilent(Backend backend) {
        TestBackends.assumeAvailable(backend);
        try (MemoryNotifier n = MemoryNotifier.open(backend)) {
            ByteBuffer a = ByteBuffer.allocateDirect(BIG);
            ByteBuffer b = ByteBuffer.allocateDirect(BIG);
            Watch wa = n.watch(a);
            Watch wb = n.watch(b);
            n.drain();
            wa.close();
            a = null;
            b = null;
            List<Invalidation> got = Events.until(n, wb, () -> System.gc());
            // Give a's unmap every chance to show up: it may come after b's.
            for (int i = 0; i < 5; i++) {
                System.gc();
                n.await(Duration.ofMillis(50));
                got.addAll(n.drain().invalidations());
            }
            assertTrue(got.stream().noneMatch(i -> i.watch() == wa), "closed watch reported: " + got);
            assertTrue(got.stream().anyMatch(i -> i.watch() == wb));
        }
    }

    @ParameterizedTest(allowZeroInvocations = true)
    @MethodSource("io.ummu.TestBackends#ummunotify")
    void theRegionLimitIsReportedWithOperationArgumentAndErrno(Backend backend) {
        TestBackends.assumeAvailable(backend);
        try (MemoryNotifier n = MemoryNotifier.open(backend)) {
            ByteBuffer b = ByteBuffer.allocateDirect(PAGE);
            MemoryNotifierException e = null;
            int watched = 0;
            // The limit is the module parameter max_regions_per_file: 65536 by
            // default, 1024 in run-device-tests.sh (to keep the VM run short).
            for (int i = 0; i < 1 << 20 && e == null; i++) {
                try {
                    n.watch(b);
                    watched++;
                } catch (MemoryNotifierException x) {
                    e = x;
                }
            }
            assertNotNull(e, "no limit after " + watched + " watches");
            assertEquals(28, e.errno(), e.getMessage());
            assertEquals("ENOSPC", e.errnoName());
            assertTrue(e.getMessage().matches("watch\\(buffer\\)\\(0x[0-9a-f]+, 4096\\): ENOSPC \\(.+\\).*"),
                    e.getMessage());
            assertTrue(e.getMessage().contains("limit of " + watched + " reached"),
                    "the message says which limit to raise: " + e.getMessage());
            assertEquals(watched, n.watchCount(), "the refused watch is not kept");
        }
    }

    @ParameterizedTest
    @MethodSource("io.ummu.TestBackends#all")
    void closeFromAListenerStopsDelivery(Backend backend) throws Exception {
        TestBackends.assumeAvailable(backend);
        MemoryNotifier n = MemoryNotifier.open(backend);
        try {
            java.util.concurrent.CountDownLatch closed = new java.util.concurrent.CountDownLatch(1);
            List<Invalidation> seen = java.util.Collections.synchronizedList(new ArrayList<>());
            n.addListener(inv -> {
                seen.add(inv);
                n.close();
                closed.countDown();
            });
            ByteBuffer a = ByteBuffer.allocateDirect(BIG);
            n.watch(a);
            a = null;
            for (int i = 0; i < 400 && closed.getCount() > 0; i++) {
                System.gc();
                closed.await(50, java.util.concurrent.TimeUnit.MILLISECONDS);
            }
            assertEquals(0, closed.getCount(), "no event reached the listener");
            assertEquals(1, seen.size());
            assertThrows(IllegalStateException.class, n::drain);
        } finally {
            n.close();
        }
    }
}
