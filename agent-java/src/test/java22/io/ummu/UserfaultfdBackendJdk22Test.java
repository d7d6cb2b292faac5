package io.ummu;

import static io.ummu.Libc.PAGE;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The userfaultfd backend with mappings the test changes itself through FFM:
 * the generation moves before munmap returns (no read, no wait), MAP_FIXED
 * over a watch, mremap shrink and move, and unrelated unmaps. Runs where the
 * backend is available (see {@link UserfaultfdBackendTest}).
 */
// A stuck reader thread blocks the unmapping thread in the kernel, where no
// interrupt reaches it: the test runs in a thread of its own, so that it fails
// after the limit instead of hanging the build.
@Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class UserfaultfdBackendJdk22Test {
    private static final int MAP_FIXED = 0x10;
    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle MMAP = LINKER.downcallHandle(
            LINKER.defaultLookup().find("mmap").orElseThrow(),
            FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG));
    private static final MethodHandle MREMAP = LINKER.downcallHandle(
            LINKER.defaultLookup().find("mremap").orElseThrow(),
            FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG, JAVA_INT),
            Linker.Option.firstVariadicArg(4));

    @BeforeEach
    void available() {
        TestBackends.assumeAvailable(Backend.USERFAULTFD);
    }

    @Test
    void theGenerationHasMovedWhenMunmapReturns() {
        try (MemoryNotifier n = MemoryNotifier.open(Backend.USERFAULTFD)) {
            int late = 0;
            for (int i = 0; i < 100; i++) {
                MemorySegment m = Libc.mapAnonymous(2);
                Watch w = Libc.watch(n, m);
                long g0 = n.drain().generation();
                Libc.munmap(m.address(), 2 * PAGE);
                if (!n.changedSince(g0)) {
                    late++;
                }
                Invalidation inv = Events.only(n.drain().invalidations(), w);
                assertEquals(EnumSet.of(Cause.UNMAP), inv.causes(), inv.toString());
                w.close();
            }
            assertEquals(0, late, "munmap returned before the generation moved");
        }
    }

    @Test
    void mapFixedOverAWatchIsAnUnmapOfThatPart() throws Throwable {
        try (MemoryNotifier n = MemoryNotifier.open(Backend.USERFAULTFD)) {
            MemorySegment m = Libc.mapAnonymous(4);
            long base = m.address();
            Watch w = Libc.watch(n, m);
            long g0 = n.drain().generation();
            MemorySegment r = (MemorySegment) MMAP.invokeExact(MemorySegment.ofAddress(base + PAGE), PAGE,
                    Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | MAP_FIXED, -1, 0L);
            assertEquals(base + PAGE, r.address());
            assertTrue(n.changedSince(g0));
            Invalidation inv = Events.only(n.drain().invalidations(), w);
            assertTrue(inv.exact(), inv.toString());
            assertEquals(base + PAGE, inv.start());
            assertEquals(base + 2 * PAGE, inv.end());
            assertEquals(EnumSet.of(Cause.UNMAP), inv.causes());
            assertTrue(inv.mappingGone());
            Libc.munmap(base, 4 * PAGE);
        }
    }

    @Test
    void mremapShrinkReportsTheCutTail() throws Throwable {
        try (MemoryNotifier n = MemoryNotifier.open(Backend.USERFAULTFD)) {
            MemorySegment m = Libc.mapAnonymous(4);
            long base = m.address();
            Watch w = Libc.watch(n, m);
            long g0 = n.drain().generation();
            MemorySegment r = (MemorySegment) MREMAP.invokeExact(MemorySegment.ofAddress(base), 4 * PAGE,
                    PAGE, 0);
            assertEquals(base, r.address());
            assertTrue(n.changedSince(g0));
            Invalidation inv = Events.only(n.drain().invalidations(), w);
            assertEquals(base + PAGE, inv.start(), inv.toString());
            assertEquals(base + 4 * PAGE, inv.end(), inv.toString());
            assertEquals(EnumSet.of(Cause.UNMAP), inv.causes());
            Libc.munmap(base, PAGE);
        }
    }

    @Test
    void mremapMoveReportsTheOldRangeAsRemapped() {
        try (MemoryNotifier n = MemoryNotifier.open(Backend.USERFAULTFD)) {
            MemorySegment src = Libc.mapAnonymous(2);
            MemorySegment dst = Libc.mapAnonymous(2);
            Watch w = Libc.watch(n, src);
            long g0 = n.drain().generation();
            Libc.mremapTo(src.address(), 2 * PAGE, dst.address());
            assertTrue(n.changedSince(g0));
            Invalidation inv = Events.only(n.drain().invalidations(), w);
            assertTrue(inv.exact(), inv.toString());
            assertEquals(src.address(), inv.start());
            assertEquals(src.address() + 2 * PAGE, inv.end());
            // REMAP, and the UNMAP of the old range that the kernel sends after it, in one record.
            assertEquals(EnumSet.of(Cause.REMAP, Cause.UNMAP), inv.causes());
            assertTrue(inv.mappingGone());
            // The moved pages are not watched: unmapping them reports nothing.
            Libc.munmap(dst.address(), 2 * PAGE);
            assertTrue(n.drain().invalidations().isEmpty());
        }
    }

    @Test
    void unmapsOfUnwatchedMemoryReportNothingAndLeaveTheGenerationAlone() {
        try (MemoryNotifier n = MemoryNotifier.open(Backend.USERFAULTFD)) {
            // Guard pages keep the watched page a VMA of its own: the backend
            // registers whole VMAs, and one merged with a neighbour (the JVM's,
            // say) would also report the neighbour's unmaps to the reader.
            MemorySegment guarded = Libc.mapAnonymous(3);
            Libc.mprotect(guarded.address(), PAGE, 0);
            Libc.mprotect(guarded.address() + 2 * PAGE, PAGE, 0);
            MemorySegment watched = guarded.asSlice(PAGE, PAGE);
            Watch w = Libc.watch(n, watched);
            long g0 = n.drain().generation();
            List<MemorySegment> others = new ArrayList<>();
            for (int i = 0; i < 100; i++) {
                others.add(Libc.mapAnonymous(1));
            }
            for (MemorySegment o : others) {
                Libc.munmap(o.address(), PAGE);
            }
            // Never registered, so the kernel sends no event for them at all.
            assertFalse(n.changedSince(g0));
            assertTrue(n.drain().invalidations().isEmpty());
            assertFalse(w.isClosed());
            Libc.munmap(guarded.address(), 3 * PAGE);
        }
    }
}
