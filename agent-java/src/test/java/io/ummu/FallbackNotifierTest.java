package io.ummu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.ummu.internal.BackendOps;
import io.ummu.internal.CounterPage;
import java.lang.invoke.MethodHandles;
import java.lang.reflect.Constructor;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Paths;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The notifier when it cannot have a class of its own (here: a template that
 * is not in the jar): the plain MemoryNotifier, whose fast path loads the
 * counter through its instance field, with the reason kept in
 * {@code CounterPage.constantClassFailure()} (and logged once, INFO, logger
 * io.ummu). And when making the notifier fails before a CounterPage owns
 * the backend handle, the handle is closed, not leaked. And close() where
 * it can go wrong: racing the plain fast path, and a page switch the kernel
 * refused.
 */
class FallbackNotifierTest {
    private static final String MISSING = "io/ummu/MemoryNotifier$NoSuchTemplate.class";

    private static MethodHandles.Lookup notifierLookup() throws IllegalAccessException {
        return MethodHandles.privateLookupIn(MemoryNotifier.class, MethodHandles.lookup());
    }

    private static Function<AbstractMemoryNotifier.Opened, MemoryNotifier> plain() throws NoSuchMethodException {
        Constructor<MemoryNotifier> c = MemoryNotifier.class.getDeclaredConstructor(AbstractMemoryNotifier.Opened.class);
        c.setAccessible(true);
        return o -> {
            try {
                return c.newInstance(o);
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException(e);
            }
        };
    }

    @ParameterizedTest
    @MethodSource("io.ummu.TestBackends#all")
    void withoutAClassOfItsOwnTheNotifierIsThePlainOneAndWorks(Backend backend) throws Exception {
        TestBackends.assumeAvailable(backend);
        AbstractMemoryNotifier.Opened opened = AbstractMemoryNotifier.openBackend(backend);
        try (MemoryNotifier n = AbstractMemoryNotifier.newNotifier(notifierLookup(), MISSING, opened, plain())) {
            assertSame(MemoryNotifier.class, n.getClass());
            assertNull(n.constantKind(), "no constant load");
            assertEquals(n.counterForTests().kind(), n.counterKind());
            String why = CounterPage.constantClassFailure();
            assertNotNull(why);
            assertTrue(why.contains(MISSING), why);
            long g = n.generationAcquire();
            assertEquals(n.counterForTests().getAcquire(), g);
            assertFalse(n.changedSince(g));
            ByteBuffer big = ByteBuffer.allocateDirect(ManyNotifiersTest.BIG);
            Watch w = n.watch(big);
            big = null; // only the cleaner, after a GC, frees it
            List<Invalidation> seen = Events.until(n, w, System::gc);
            assertFalse(seen.isEmpty());
            assertTrue(n.changedSince(g), "the counter moved, and the plain fast path sees it");
            CounterPage counter = n.counterForTests();
            n.close();
            assertThrows(IllegalStateException.class, n::generationAcquire);
            assertThrows(IllegalStateException.class, () -> n.changedSince(g));
            // The plain class checks its field, yet close retires the page for it too.
            assertEquals(io.ummu.internal.Native.COUNTER_CLOSED, counter.getAcquire());
        }
    }

    /** An Error before the page is registered (say a Metaspace OutOfMemoryError) closes the handle once. */
    @ParameterizedTest
    @MethodSource("io.ummu.TestBackends#all")
    void anErrorBeforeThePageIsRegisteredClosesTheHandle(Backend backend) throws Exception {
        TestBackends.assumeAvailable(backend);
        AbstractMemoryNotifier.Opened real = AbstractMemoryNotifier.openBackend(backend);
        AtomicInteger closes = new AtomicInteger();
        AbstractMemoryNotifier.Opened opened = withOps(real, new WrappedOps(closes, null));
        Error boom = new OutOfMemoryError("boom (test)");
        Error thrown = assertThrows(Error.class, () -> AbstractMemoryNotifier.newNotifier(notifierLookup(), MISSING,
                opened, o -> {
                    throw boom;
                }));
        assertSame(boom, thrown);
        assertEquals(1, closes.get(), "the handle closed once by newNotifier");

        // And not by newNotifier once the page is registered: then the cleaner owns it.
        AtomicInteger closes2 = new AtomicInteger();
        AbstractMemoryNotifier.Opened opened2 = withOps(AbstractMemoryNotifier.openBackend(backend),
                new WrappedOps(closes2, null));
        Function<AbstractMemoryNotifier.Opened, MemoryNotifier> plain = plain();
        Error late = new StackOverflowError("after the page (test)");
        assertSame(late, assertThrows(Error.class, () -> AbstractMemoryNotifier.newNotifier(notifierLookup(),
                MISSING, opened2, o -> {
                    plain.apply(o); // registers the page; the cleaner will close the handle
                    throw late;
                })));
        assertEquals(0, closes2.get(), "not closed by newNotifier: the cleaner does it, once");
    }

    private static AbstractMemoryNotifier.Opened withOps(AbstractMemoryNotifier.Opened o, BackendOps ops)
            throws ReflectiveOperationException {
        Constructor<AbstractMemoryNotifier.Opened> c = AbstractMemoryNotifier.Opened.class.getDeclaredConstructor(
                Backend.class, long.class, int.class, ByteBuffer.class, BackendOps.class);
        c.setAccessible(true);
        return c.newInstance(o.backend, o.handle, o.capabilities, o.page, ops);
    }

    /** The native backend, counting closes. */
    /**
     * The native ops, counting closes and retires; with {@code freeze}, a
     * retire that releases the handle but leaves the page reading its last
     * generation and fails, as when the kernel refuses to switch the page
     * (on userfaultfd, whose page the backend can write, so the test can too).
     */
    private static final class WrappedOps implements BackendOps {
        private final AtomicInteger closes;
        private final ByteBuffer freeze;

        WrappedOps(AtomicInteger closes, ByteBuffer freeze) {
            this.closes = closes;
            this.freeze = freeze;
        }

        @Override
        public int watch(long handle, long start, long end, long cookie, String[] why) {
            return NATIVE.watch(handle, start, end, cookie, why);
        }

        @Override
        public int unwatch(long handle, long cookie) {
            return NATIVE.unwatch(handle, cookie);
        }

        @Override
        public int read(long handle, ByteBuffer dst, int max) {
            return NATIVE.read(handle, dst, max);
        }

        @Override
        public int await(long handle, long timeoutNanos) {
            return NATIVE.await(handle, timeoutNanos);
        }

        @Override
        public void wakeup(long handle) {
            NATIVE.wakeup(handle);
        }

        @Override
        public void close(long handle) {
            closes.incrementAndGet();
            NATIVE.close(handle);
        }

        @Override
        public int retire(long handle) {
            closes.incrementAndGet();
            if (freeze == null) {
                return NATIVE.retire(handle);
            }
            long last = freeze.getLong(0);
            NATIVE.retire(handle);
            freeze.putLong(0, last);
            return -12; // ENOMEM
        }

        @Override
        public int unmapCounterPage(ByteBuffer page) {
            return NATIVE.unmapCounterPage(page);
        }
    }

    /**
     * The plain class's fast path against close: a reader that took the
     * counter field before close() nulled it may load after close() retired
     * the page; it must throw, never return the marker as a generation nor
     * say "unchanged" to a caller that passes the marker.
     */
    @ParameterizedTest
    @MethodSource("io.ummu.TestBackends#all")
    void thePlainFastPathRacingCloseSaysOpenOrClosedNothingElse(Backend backend) throws Exception {
        TestBackends.assumeAvailable(backend);
        AtomicInteger bad = new AtomicInteger();
        AtomicInteger closedSeen = new AtomicInteger();
        for (int round = 0; round < 300; round++) {
            MemoryNotifier n = AbstractMemoryNotifier.newNotifier(notifierLookup(), MISSING,
                    AbstractMemoryNotifier.openBackend(backend), plain());
            java.util.concurrent.CountDownLatch started = new java.util.concurrent.CountDownLatch(2);
            Thread[] readers = new Thread[2];
            for (int i = 0; i < readers.length; i++) {
                boolean acquire = i == 0;
                readers[i] = new Thread(() -> {
                    started.countDown();
                    try {
                        for (;;) {
                            if (acquire) {
                                if (n.generationAcquire() < 0) {
                                    bad.incrementAndGet();
                                }
                            } else if (!n.changedSince(Long.MIN_VALUE)) {
                                bad.incrementAndGet();
                            }
                        }
                    } catch (IllegalStateException closed) {
                        closedSeen.incrementAndGet();
                    }
                });
                readers[i].start();
            }
            started.await();
            n.close();
            for (Thread t : readers) {
                t.join(TimeUnit.SECONDS.toMillis(60));
                assertFalse(t.isAlive(), "a reader never saw the notifier closed");
            }
        }
        assertEquals(0, bad.get(), "the marker returned as a generation, or 'unchanged since the marker'");
        assertEquals(600, closedSeen.get());
    }

    /**
     * Should the kernel refuse to switch a closed notifier's page, its fast
     * path keeps returning the last generation (documented), but the
     * notifier still says it is closed, and a RegistrationCache over it does
     * not go on handing out registrations on the strength of "unchanged".
     */
    @Test
    void aPageTheKernelDidNotSwitchLeavesTheNotifierClosedWhereItCounts() throws Exception {
        TestBackends.assumeAvailable(Backend.USERFAULTFD);
        AbstractMemoryNotifier.Opened real = AbstractMemoryNotifier.openBackend(Backend.USERFAULTFD);
        AbstractMemoryNotifier.Opened opened = withOps(real, new WrappedOps(new AtomicInteger(), real.page));
        MemoryNotifier n = AbstractMemoryNotifier.newNotifier(notifierLookup(),
                "io/ummu/MemoryNotifier$Constant.class", opened, plain());
        ByteBuffer memory = ByteBuffer.allocateDirect(2 * 4096);
        long address = io.ummu.internal.DirectAddress.of(memory);
        io.ummu.cache.RegistrationCache<long[]> cache = io.ummu.cache.RegistrationCache
                .<long[]>builder(n, (a, l) -> new long[] {a, l}, r -> { }).build();
        cache.acquire(address, 4096).close();
        assertTrue(cache.acquire(address, 4096).hit(), "cached");
        long g = n.generationAcquire();
        n.close();
        assertTrue(n.isClosed());
        assertFalse(n.changedSince(g), "the frozen page: the documented failure mode");
        assertThrows(IllegalStateException.class, n::drain);
        assertThrows(IllegalStateException.class, () -> cache.acquire(address, 4096),
                "a cache over a closed notifier must not hand out a registration");
        java.lang.ref.Reference.reachabilityFence(memory);
    }

    /**
     * A runtime without jdk.unsupported (here {@code --limit-modules}; a
     * jlink'ed one alike) still opens notifiers: on 17-21, with no
     * sun.misc.Unsafe, the plain notifier with the checked buffer-view load
     * (before, DirectAddress's initializer failed with NoClassDefFoundError
     * and open() with it); on 22+ the constant load, which needs no Unsafe.
     * watch(ByteBuffer) needs a buffer's address, which 17-21 then cannot
     * have: it throws UnsupportedOperationException (watch(long, long) works).
     * One child JVM of the JDK running the tests.
     */
    @Test
    void opensWithoutJdkUnsupported() throws Exception {
        TestBackends.assumeAvailable(Backend.USERFAULTFD);
        String javaBin = Paths.get(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder(javaBin, "--limit-modules", "java.base,java.management",
                "-cp", System.getProperty("java.class.path"), "-Dummu.backend=userfaultfd",
                Child.class.getName());
        pb.redirectErrorStream(true);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), out);
        assertEquals(0, p.exitValue(), out);
        String expected = Runtime.version().feature() >= 22
                ? "hidden=true kind=" + "constant-segment"
                : "hidden=false kind=buffer-view";
        assertTrue(out.contains("child: " + expected + " "), out);
        if (Runtime.version().feature() < 22) {
            assertTrue(out.contains("sun.misc.Unsafe is not available"), "the fallback is logged: " + out);
            // No way to a direct buffer's address there: an exception naming the
            // argument, not a NoClassDefFoundError from DirectAddress's initializer.
            assertTrue(out.contains("child watch(buffer): UnsupportedOperationException: buffer: "), out);
        } else {
            assertTrue(out.contains("child watch(buffer): watched"), out);
        }
    }

    /** The child JVM of {@link #opensWithoutJdkUnsupported}: no JUnit, only ummu. */
    static final class Child {
        public static void main(String[] args) {
            try (MemoryNotifier n = MemoryNotifier.open()) {
                long g = n.generationAcquire();
                String watch;
                try (Watch w = n.watch(ByteBuffer.allocateDirect(4096))) {
                    watch = "watched";
                } catch (RuntimeException | Error e) {
                    watch = e.getClass().getSimpleName() + ": " + e.getMessage();
                }
                System.out.println("child: hidden=" + n.getClass().isHidden() + " kind=" + n.counterKind()
                        + " changed=" + n.changedSince(g) + " failure=" + CounterPage.constantClassFailure());
                System.out.println("child watch(buffer): " + watch);
            }
        }
    }
}
