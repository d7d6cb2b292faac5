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
 * the backend handle, the handle is closed, not leaked.
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
        AbstractMemoryNotifier.Opened opened = withOps(real, new CountingClose(closes));
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
                new CountingClose(closes2));
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
    private static final class CountingClose implements BackendOps {
        private final AtomicInteger closes;

        CountingClose(AtomicInteger closes) {
            this.closes = closes;
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
            return NATIVE.retire(handle);
        }

        @Override
        public int unmapCounterPage(ByteBuffer page) {
            return NATIVE.unmapCounterPage(page);
        }
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
