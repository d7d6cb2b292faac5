package io.ummu.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * The fast path's counter on a page of our own (a direct buffer standing in
 * for the backend's page): every kind of load this release has reads what
 * was stored, {@code open} picks the fastest instance-field kind, rejects
 * pages it cannot read, and releases a page exactly when its counter became
 * unreachable. The constant load of a notifier's own class is tested with
 * the notifier ({@code ManyNotifiersTest}).
 */
class CounterPageTest {
    private static final VarHandle LONGS = MethodHandles.byteBufferViewVarHandle(long[].class, ByteOrder.nativeOrder());

    private static int jdk() {
        return Integer.parseInt(System.getProperty("ummu.test.jdk", String.valueOf(Runtime.version().feature())));
    }

    @Test
    void everyKindReadsWhatTheProducerStored() {
        ByteBuffer page = ByteBuffer.allocateDirect(4096);
        CounterPage[] kinds = CounterPage.allKinds(page);
        List<String> names = new ArrayList<>();
        for (CounterPage c : kinds) {
            names.add(c.kind());
        }
        // The fastest instance-field kind first: the one open() must pick here.
        assertEquals(Runtime.version().feature() >= 22 ? "segment" : "unsafe", kinds[0].kind(), "kinds: " + names);
        for (long v : new long[] {0, 1, 42, -1, Long.MIN_VALUE, 0x0123456789abcdefL}) {
            LONGS.setRelease(page, 0, v);
            for (CounterPage c : kinds) {
                assertEquals(v, c.getAcquire(), c.kind());
            }
        }
        // Two pages: a second counter does not read the first one's page.
        ByteBuffer other = ByteBuffer.allocateDirect(4096);
        LONGS.setRelease(other, 0, 7L);
        LONGS.setRelease(page, 0, 8L);
        assertEquals(7L, CounterPage.allKinds(other)[0].getAcquire());
        assertEquals(8L, kinds[0].getAcquire());
    }

    @Test
    void openUsesTheUncheckedKindAndAReadOnlyView() {
        ByteBuffer page = ByteBuffer.allocateDirect(4096);
        CounterPage c = CounterPage.open(page, () -> { });
        assertEquals(jdk() >= 22 ? "segment" : "unsafe", c.kind());
        assertTrue(c.view().isReadOnly());
        assertEquals(DirectAddress.of(page), DirectAddress.of(c.view()));
    }

    @Test
    void pagesItCannotReadAreRefusedNamingThePage() {
        IllegalArgumentException heap = assertThrows(IllegalArgumentException.class,
                () -> CounterPage.open(ByteBuffer.allocate(4096), () -> { }));
        assertTrue(heap.getMessage().startsWith("page: "), heap.getMessage());
        IllegalArgumentException small = assertThrows(IllegalArgumentException.class,
                () -> CounterPage.open(ByteBuffer.allocateDirect(4), () -> { }));
        assertTrue(small.getMessage().startsWith("page: 4 bytes"), small.getMessage());
        ByteBuffer base = ByteBuffer.allocateDirect(64);
        int misalign = (DirectAddress.of(base) + 1) % 8 != 0 ? 1 : 2; // an address that is not a multiple of 8
        ByteBuffer odd = base.position(misalign).slice();
        IllegalArgumentException aligned = assertThrows(IllegalArgumentException.class,
                () -> CounterPage.open(odd, () -> { }));
        assertTrue(aligned.getMessage().contains("not 8-byte aligned"), aligned.getMessage());
        assertThrows(NullPointerException.class, () -> CounterPage.open(null, () -> { }));
        assertThrows(NullPointerException.class, () -> CounterPage.open(ByteBuffer.allocateDirect(8), null));
    }

    /**
     * The page is released only once its counter is unreachable, and then it
     * is, for many counters: a cleaner that pinned the counter would leak a
     * page per notifier.
     */
    @Test
    void manyCountersAreReleasedOnlyOnceUnreachable() throws InterruptedException {
        AtomicInteger released = new AtomicInteger();
        ByteBuffer page = ByteBuffer.allocateDirect(4096);
        CounterPage held = CounterPage.open(page, released::incrementAndGet);
        int n = 300;
        for (int i = 0; i < n; i++) {
            CounterPage c = CounterPage.open(ByteBuffer.allocateDirect(8), released::incrementAndGet);
            assertEquals(0L, c.getAcquire());
        }
        for (int i = 0; i < 600 && released.get() < n; i++) {
            System.gc();
            Thread.sleep(10);
        }
        assertEquals(n, released.get(), "every dropped counter released, the held one not");
        LONGS.setRelease(page, 0, 99L);
        assertEquals(99L, held.getAcquire());
        Reference.reachabilityFence(held);
        held = null;
        for (int i = 0; i < 600 && released.get() < n + 1; i++) {
            System.gc();
            Thread.sleep(10);
        }
        assertEquals(n + 1, released.get(), "the last counter released once dropped");
        assertFalse(released.get() > n + 1, "each release runs once");
    }

    /**
     * A class that was not defined with a counter as class data (here this
     * test class) gets an exception naming it, never an address of 0 that
     * the template would then load from (a JVM crash). The method is
     * addressClassData on 17-21 and segmentClassData on 22+; reflection
     * finds whichever this release has.
     */
    @Test
    void classDataOfAClassWithoutItIsRefused() throws ReflectiveOperationException {
        java.lang.reflect.Method m;
        try {
            m = CounterPage.class.getMethod("addressClassData", MethodHandles.Lookup.class);
        } catch (NoSuchMethodException e) {
            m = CounterPage.class.getMethod("segmentClassData", MethodHandles.Lookup.class);
        }
        java.lang.reflect.Method read = m;
        java.lang.reflect.InvocationTargetException e = assertThrows(
                java.lang.reflect.InvocationTargetException.class, () -> read.invoke(null, MethodHandles.lookup()));
        assertTrue(e.getCause() instanceof IllegalStateException, String.valueOf(e.getCause()));
        assertTrue(e.getCause().getMessage().contains(CounterPageTest.class.getName()), e.getCause().getMessage());
        assertTrue(e.getCause().getMessage().contains("no class data"), e.getCause().getMessage());
    }
}
