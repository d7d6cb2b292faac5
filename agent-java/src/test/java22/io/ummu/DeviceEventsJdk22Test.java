package io.ummu;

import static io.ummu.Libc.PAGE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Real kernel events from mappings the test makes and changes itself through
 * FFM (mmap, munmap, mremap, madvise, mprotect, a file mapped into a shared
 * arena), for each available backend. See {@link DeviceEventsTest} for where
 * this runs.
 */
class DeviceEventsJdk22Test {
    private static boolean causes(MemoryNotifier n) {
        return n.capabilities().contains(Capability.EVENT_CAUSE);
    }

    @ParameterizedTest
    @MethodSource("io.ummu.TestBackends#all")
    void unmappingPartOfAWatchReportsExactlyThatPart(Backend backend) {
        TestBackends.assumeAvailable(backend);
        try (MemoryNotifier n = MemoryNotifier.open(backend)) {
            MemorySegment m = Libc.mapAnonymous(4);
            long base = m.address();
            Watch w = Libc.watch(n, m);
            assertEquals(base, w.address());
            assertEquals(4 * PAGE, w.length());
            long g0 = n.drain().generation();
            assertFalse(n.changedSince(g0));

            Libc.munmap(base + PAGE, 2 * PAGE);

            if (backend == Backend.UMMUNOTIFY) {
                // The module queues and counts inside munmap; userfaultfd's reader thread does so
                // just after the kernel lets munmap return, so it is checked after the wait below.
                assertTrue(n.changedSince(g0), "the fast path must flip when munmap returns");
            }
            assertTrue(n.await(java.time.Duration.ofMinutes(1)), "await() returns true for a pending event");
            assertTrue(n.await(java.time.Duration.ZERO), "still pending until drained");
            List<Invalidation> got = Events.until(n, w, null);
            assertTrue(n.changedSince(g0), "the fast path must flip");
            assertFalse(n.await(java.time.Duration.ZERO), "drained: nothing pending");
            Invalidation inv = Events.only(got, w);
            assertEquals(w.cookie(), inv.watch().cookie());
            assertTrue(inv.exact(), inv.toString());
            assertEquals(base + PAGE, inv.start(), inv.toString());
            assertEquals(base + 3 * PAGE, inv.end(), inv.toString());
            if (causes(n)) {
                assertTrue(inv.causes().contains(Cause.UNMAP), inv.toString());
                assertTrue(inv.mappingGone());
            } else {
                assertTrue(inv.causes().isEmpty());
            }
            long g1 = n.drain().generation();
            assertFalse(n.changedSince(g1), "drain's generation catches up with the counter");
            assertTrue(g1 != g0);
            Libc.munmap(base, PAGE);
            Libc.munmap(base + 3 * PAGE, PAGE);
        }
    }

    @ParameterizedTest
    @MethodSource("io.ummu.TestBackends#all")
    void twoHitsBeforeADrainReportTheWholeWatch(Backend backend) {
        TestBackends.assumeAvailable(backend);
        try (MemoryNotifier n = MemoryNotifier.open(backend)) {
            MemorySegment m = Libc.mapAnonymous(4);
            long base = m.address();
            Watch w = Libc.watch(n, m);
            n.drain();
            Libc.munmap(base, PAGE);
            Libc.munmap(base + 3 * PAGE, PAGE);
            Invalidation inv = Events.only(Events.until(n, w, null), w);
            assertFalse(inv.exact(), inv.toString());
            assertEquals(base, inv.start());
            assertEquals(base + 4 * PAGE, inv.end());
            if (causes(n)) {
                assertEquals(Set.of(Cause.UNMAP), inv.causes());
            }
            Libc.munmap(base + PAGE, 2 * PAGE);
        }
    }

    @ParameterizedTest
    @MethodSource("io.ummu.TestBackends#all")
    void mremapAwayIsReportedAndMeansTheMappingIsGone(Backend backend) {
        TestBackends.assumeAvailable(backend);
        try (MemoryNotifier n = MemoryNotifier.open(backend)) {
            MemorySegment src = Libc.mapAnonymous(2);
            MemorySegment dst = Libc.mapAnonymous(2);
            Watch w = Libc.watch(n, src);
            n.drain();
            Libc.mremapTo(src.address(), 2 * PAGE, dst.address());
            Invalidation inv = Events.only(Events.until(n, w, null), w);
            assertEquals(src.address(), inv.start(), inv.toString());
            assertEquals(src.address() + 2 * PAGE, inv.end(), inv.toString());
            if (causes(n)) {
                assertTrue(inv.mappingGone(), inv.toString());
            }
            Libc.munmap(dst.address(), 2 * PAGE);
        }
    }

    @ParameterizedTest
    @MethodSource("io.ummu.TestBackends#all")
    void madviseDontneedIsReportedWithItsCause(Backend backend) {
        TestBackends.assumeAvailable(backend);
        try (MemoryNotifier n = MemoryNotifier.open(backend)) {
            MemorySegment m = Libc.mapAnonymous(3);
            long base = m.address();
            Watch w = Libc.watch(n, m);
            n.drain();
            Libc.madvise(base + PAGE, PAGE, Libc.MADV_DONTNEED);
            Invalidation inv = Events.only(Events.until(n, w, null), w);
            assertTrue(inv.exact(), inv.toString());
            assertEquals(base + PAGE, inv.start(), inv.toString());
            assertEquals(base + 2 * PAGE, inv.end(), inv.toString());
            if (causes(n)) {
                if (backend == Backend.UMMUNOTIFY) {
                    // The module sees MMU_NOTIFY_CLEAR, which reclaim and migration share: not "gone".
                    assertEquals(Set.of(Cause.CLEAR), inv.causes(), inv.toString());
                    assertFalse(inv.mappingGone());
                } else {
                    assertTrue(inv.causes().contains(Cause.REMOVE), inv.toString());
                    assertTrue(inv.mappingGone());
                }
            }
            assertEquals(0, m.get(ValueLayout.JAVA_INT, PAGE), "DONTNEED really dropped the page");
            Libc.munmap(base, 3 * PAGE);
        }
    }

    @ParameterizedTest
    @MethodSource("io.ummu.TestBackends#all")
    void mprotectIsReportedExactlyWhenTheBackendSaysItSeesIt(Backend backend) {
        TestBackends.assumeAvailable(backend);
        try (MemoryNotifier n = MemoryNotifier.open(backend)) {
            boolean sees = n.capabilities().contains(Capability.PROTECTION);
            MemorySegment m = Libc.mapAnonymous(2);
            MemorySegment marker = Libc.mapAnonymous(1);
            Watch w = Libc.watch(n, m);
            Watch mw = Libc.watch(n, marker);
            n.drain();
            Libc.mprotect(m.address(), PAGE, Libc.PROT_READ);
            // Events come in order: once the marker's unmap is in, an event
            // for the mprotect would have been read already.
            Libc.munmap(marker.address(), PAGE);
            List<Invalidation> got = Events.until(n, mw, null);
            if (sees && got.stream().noneMatch(i -> i.watch() == w)) {
                got.addAll(Events.until(n, w, null));
            }
            if (!sees) {
                assertTrue(got.stream().noneMatch(i -> i.watch() == w),
                        backend + " claims not to see mprotect but reported it: " + got);
            } else {
                Invalidation inv = Events.only(got, w);
                assertTrue(inv.exact(), inv.toString());
                assertEquals(m.address(), inv.start());
                assertEquals(m.address() + PAGE, inv.end());
                if (causes(n)) {
                    assertEquals(Set.of(Cause.PROTECTION_VMA), inv.causes(), inv.toString());
                    assertFalse(inv.mappingGone());
                }
            }
            Libc.munmap(m.address(), 2 * PAGE);
        }
    }

    @ParameterizedTest
    @MethodSource("io.ummu.TestBackends#all")
    void closingTheArenaOfAMappedFileIsAnUnmap(Backend backend) throws IOException {
        TestBackends.assumeAvailable(backend);
        Path file = Files.createTempFile("ummu-mapped", ".bin");
        try (MemoryNotifier n = MemoryNotifier.open(backend);
                FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            Arena arena = Arena.ofShared();
            MemorySegment m = ch.map(FileChannel.MapMode.READ_WRITE, 0, 4 * PAGE, arena);
            for (long p = 0; p < 4; p++) {
                m.set(ValueLayout.JAVA_BYTE, p * PAGE, (byte) 1);
            }
            Watch w = Libc.watch(n, m);
            long g0 = n.drain().generation();
            arena.close();
            if (backend == Backend.UMMUNOTIFY) {
                // As in unmappingPartOfAWatchReportsExactlyThatPart: only the
                // module counts before munmap returns.
                assertTrue(n.changedSince(g0), "the fast path must flip when munmap returns");
            }
            List<Invalidation> got = Events.until(n, w, null);
            assertTrue(n.changedSince(g0), "the fast path must flip");
            Invalidation inv = Events.only(got, w);
            assertEquals(w.address(), inv.start(), inv.toString());
            assertEquals(w.address() + 4 * PAGE, inv.end(), inv.toString());
            if (causes(n)) {
                assertTrue(inv.mappingGone(), inv.toString());
            }
        } finally {
            Files.deleteIfExists(file);
        }
    }

    @ParameterizedTest
    @MethodSource("io.ummu.TestBackends#all")
    void closedWatchesStaySilentEvenWithEventsAlreadyQueued(Backend backend) {
        TestBackends.assumeAvailable(backend);
        try (MemoryNotifier n = MemoryNotifier.open(backend)) {
            MemorySegment a = Libc.mapAnonymous(1);
            MemorySegment b = Libc.mapAnonymous(1);
            Watch wa = Libc.watch(n, a);
            Watch wb = Libc.watch(n, b);
            Watch wa2 = n.watch(a.address(), PAGE); // same range, its own cookie
            n.drain();
            Libc.munmap(a.address(), PAGE); // queued for wa and wa2 ...
            wa.close(); // ... and wa closes before anyone reads it
            Libc.munmap(b.address(), PAGE);
            List<Invalidation> got = Events.until(n, wb, null);
            if (got.stream().noneMatch(i -> i.watch() == wa2)) {
                got.addAll(Events.until(n, wa2, null));
            }
            assertTrue(got.stream().noneMatch(i -> i.watch() == wa), "closed watch reported: " + got);
            assertEquals(1, got.stream().filter(i -> i.watch() == wa2).count(), got.toString());
        }
    }

    @ParameterizedTest
    @MethodSource("io.ummu.TestBackends#all")
    void listenersSeeEveryEventExactlyOnceOnTheDispatcher(Backend backend) throws Exception {
        TestBackends.assumeAvailable(backend);
        int count = 32;
        try (MemoryNotifier n = MemoryNotifier.open(backend)) {
            Map<Long, Integer> seen = Collections.synchronizedMap(new HashMap<>());
            List<String> threads = Collections.synchronizedList(new ArrayList<>());
            CountDownLatch all = new CountDownLatch(count + 1);
            java.util.concurrent.atomic.AtomicBoolean thrown = new java.util.concurrent.atomic.AtomicBoolean();
            n.addListener(inv -> {
                // Once is enough to prove that the others get this event and
                // the dispatcher goes on (and keeps the log short).
                if (thrown.compareAndSet(false, true)) {
                    throw new IllegalStateException("a broken listener must not stop the others (expected in the log)");
                }
            });
            n.addListener(inv -> {
                threads.add(Thread.currentThread().getName());
                seen.merge(inv.watch().cookie(), 1, Integer::sum);
                all.countDown();
            });
            List<Watch> watches = new ArrayList<>();
            List<MemorySegment> maps = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                MemorySegment m = Libc.mapAnonymous(1);
                maps.add(m);
                watches.add(Libc.watch(n, m));
            }
            // Mapped before any unmap, so that it cannot reuse a watched address.
            MemorySegment last = Libc.mapAnonymous(1);
            Watch lastWatch = Libc.watch(n, last);
            for (MemorySegment m : maps) {
                Libc.munmap(m.address(), PAGE);
                assertTrue(n.drain().invalidations().isEmpty(), "listeners own the events");
            }
            // A last event after all others: FIFO delivery means any duplicate
            // of an earlier one would have shown up before it.
            Libc.munmap(last.address(), PAGE);
            assertTrue(all.await(120, TimeUnit.SECONDS), "events missing; seen " + seen);
            for (Watch w : watches) {
                assertEquals(1, seen.getOrDefault(w.cookie(), 0), "cookie " + w.cookie() + ": " + seen);
            }
            assertEquals(1, seen.getOrDefault(lastWatch.cookie(), 0));
            assertEquals(count + 1, seen.size());
            assertTrue(threads.stream().allMatch("ummu-dispatcher"::equals), threads.toString());
            assertTrue(thrown.get(), "the broken listener was called");
        }
    }
}
