package io.ummu.cache;

import static io.ummu.cache.CacheTesting.PAGE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.ummu.MemoryNotifier;
import io.ummu.cache.CacheTesting.Reg;
import io.ummu.cache.CacheTesting.Registry;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import javax.management.MBeanServer;
import javax.management.ObjectName;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The cache's own logic against a real notifier (any backend): hits and
 * misses, the merge policy, bounds and LRU, deferred deregistration, bad
 * input, a failing register function, JMX. Real kernel invalidations are in
 * {@link CacheInvalidationTest} and, through FFM, {@code RegistrationCacheJdk22Test}.
 */
class RegistrationCacheTest {
    private MemoryNotifier notifier;
    private final Registry registry = new Registry();
    /** 16 mapped pages whose addresses the tests register (the fake registration never touches them). */
    private static final ByteBuffer MEMORY = CacheTesting.mappedPages(16);
    private static final long BASE = address(MEMORY);

    @BeforeEach
    void open() {
        notifier = CacheTesting.openBest();
    }

    @AfterEach
    void close() {
        notifier.close();
    }

    private static long address(ByteBuffer b) {
        return io.ummu.internal.DirectAddress.of(b);
    }

    private long page(int i) {
        return BASE + i * PAGE;
    }

    @Test
    void missRegistersThenHitReusesAndSubRangesHit() {
        try (RegistrationCache<Reg> c = registry.builder(notifier).build()) {
            Lease<Reg> a = c.acquire(page(0), 4 * PAGE);
            assertFalse(a.hit());
            Reg r = a.registration();
            assertEquals(page(0), r.address);
            assertEquals(4 * PAGE, r.length);
            assertEquals(page(0), a.address());
            assertEquals(4 * PAGE, a.length());
            a.close();
            a.close(); // idempotent
            assertThrows(IllegalStateException.class, a::registration, "a released lease hands nothing out");

            try (Lease<Reg> b = c.acquire(page(0), 4 * PAGE); Lease<Reg> d = c.acquire(page(1) + 100, 100)) {
                assertTrue(b.hit());
                assertTrue(d.hit(), "a sub-range of a cached range hits");
                assertSame(r, b.registration());
                assertSame(r, d.registration());
                assertEquals(1, c.stats().leasedEntries());
            }
            CacheStats s = c.stats();
            assertEquals(2, s.hits());
            assertEquals(1, s.misses());
            assertEquals(1, s.registrations());
            assertEquals(1, s.entries());
            assertEquals(4 * PAGE, s.bytes());
            assertEquals(0, s.leasedEntries());
            assertEquals(0, r.deregistered.get(), "a released lease keeps the registration cached");
        }
        assertEquals(1, registry.made.size());
        registry.assertAllDeregisteredOnce();
    }

    @Test
    void overlappingLeasesMergeAndTheOldRegistrationWaitsForItsLease() {
        try (RegistrationCache<Reg> c = registry.builder(notifier).build()) {
            Lease<Reg> first = c.acquire(page(0), 2 * PAGE);
            Lease<Reg> second = c.acquire(page(1), 2 * PAGE); // overlaps page 1
            assertFalse(second.hit());
            Reg old = first.registration();
            Reg merged = second.registration();
            assertNotSame(old, merged);
            assertEquals(page(0), merged.address, "the union of both ranges is registered");
            assertEquals(3 * PAGE, merged.length);
            assertEquals(1, c.stats().evictions(EvictionCause.MERGED));
            assertEquals(0, old.deregistered.get(), "replaced but still leased: not deregistered");
            assertSame(old, first.registration(), "the first lease still holds its registration");

            try (Lease<Reg> inside = c.acquire(page(0), PAGE)) {
                assertTrue(inside.hit());
                assertSame(merged, inside.registration(), "the merged range serves what the old one covered");
            }
            first.close();
            assertEquals(1, old.deregistered.get(), "the last lease's release deregisters it");
            second.close();
            assertEquals(0, merged.deregistered.get());
            CacheStats s = c.stats();
            assertEquals(1, s.entries());
            assertEquals(3 * PAGE, s.bytes());
        }
        registry.assertAllDeregisteredOnce();
    }

    @Test
    void oneMissMergesEveryOverlappedRange() {
        try (RegistrationCache<Reg> c = registry.builder(notifier).build()) {
            c.acquire(page(0), PAGE).close();
            c.acquire(page(2), PAGE).close();
            c.acquire(page(4), 2 * PAGE).close();
            try (Lease<Reg> l = c.acquire(page(0) + 10, 5 * PAGE)) { // pages 0..5, part of 5
                assertEquals(page(0), l.address());
                assertEquals(6 * PAGE, l.length());
            }
            CacheStats s = c.stats();
            assertEquals(3, s.evictions(EvictionCause.MERGED));
            assertEquals(1, s.entries());
            assertEquals(3, registry.made.stream().filter(r -> r.deregistered.get() == 1).count());
        }
        registry.assertAllDeregisteredOnce();
    }

    @Test
    void adjacentRangesMergeOnlyWhenAsked() {
        try (RegistrationCache<Reg> c = registry.builder(notifier).build()) {
            c.acquire(page(0), PAGE).close();
            try (Lease<Reg> l = c.acquire(page(1), PAGE)) {
                assertEquals(PAGE, l.length(), "touching ranges are separate by default");
            }
            assertEquals(2, c.stats().entries());
        }
        try (RegistrationCache<Reg> c = registry.builder(notifier).mergeAdjacent(true).build()) {
            c.acquire(page(0), PAGE).close();
            try (Lease<Reg> l = c.acquire(page(1), PAGE)) {
                assertEquals(page(0), l.address());
                assertEquals(2 * PAGE, l.length(), "mergeAdjacent(true) joins touching ranges");
            }
            assertEquals(1, c.stats().entries());
            assertEquals(1, c.stats().evictions(EvictionCause.MERGED));
        }
        registry.assertAllDeregisteredOnce();
    }

    @Test
    void theByteBoundEvictsTheLeastRecentlyReleased() {
        try (RegistrationCache<Reg> c = registry.builder(notifier).maxBytes(3 * PAGE).build()) {
            Reg r0 = take(c, page(0));
            Reg r2 = take(c, page(2));
            Reg r4 = take(c, page(4));
            take(c, page(0)); // r0 is now the most recently used
            assertEquals(3 * PAGE, c.stats().bytes());
            Reg r6 = take(c, page(6));
            assertEquals(1, r2.deregistered.get(), "the least recently released goes first");
            assertEquals(0, r0.deregistered.get());
            assertEquals(0, r4.deregistered.get());
            assertEquals(0, r6.deregistered.get());
            CacheStats s = c.stats();
            assertEquals(1, s.evictions(EvictionCause.CAPACITY));
            assertEquals(3 * PAGE, s.bytes());
            assertEquals(3, s.entries());

            // A range larger than the bound is handed out, and evicted at its release.
            try (Lease<Reg> big = c.acquire(page(8), 4 * PAGE)) {
                assertFalse(big.hit());
                assertEquals(0, big.registration().deregistered.get(), "leased: never evicted");
                assertEquals(4 * PAGE, c.stats().bytes(), "everything unleased went to make room");
            }
            assertEquals(0, c.stats().entries());
            assertEquals(5, c.stats().evictions(EvictionCause.CAPACITY));
        }
        registry.assertAllDeregisteredOnce();
    }

    @Test
    void theEntryBoundSparesLeasedEntries() {
        try (RegistrationCache<Reg> c = registry.builder(notifier).maxEntries(1).build()) {
            Lease<Reg> a = c.acquire(page(0), PAGE);
            Lease<Reg> b = c.acquire(page(2), PAGE);
            assertEquals(2, c.stats().entries(), "both leased: the bound waits");
            assertEquals(0, c.stats().evictions(EvictionCause.CAPACITY));
            a.close();
            assertEquals(1, a.entry.registration.deregistered.get(), "released while over the bound: evicted");
            b.close();
            assertEquals(1, c.stats().entries());
            assertEquals(0, b.entry.registration.deregistered.get());
        }
        registry.assertAllDeregisteredOnce();
    }

    @Test
    void clearDefersDeregistrationUntilTheLastLease() {
        try (RegistrationCache<Reg> c = registry.builder(notifier).build()) {
            Lease<Reg> a = c.acquire(page(0), PAGE);
            Lease<Reg> a2 = c.acquire(page(0), PAGE);
            Reg r = a.registration();
            Reg unleased = take(c, page(3));
            c.clear();
            assertEquals(1, unleased.deregistered.get(), "unleased: deregistered by clear() itself");
            assertEquals(0, r.deregistered.get(), "leased: deregistration deferred");
            assertEquals(0, c.stats().entries());
            try (Lease<Reg> again = c.acquire(page(0), PAGE)) {
                assertFalse(again.hit(), "a cleared entry is not served");
            }
            a.close();
            assertEquals(0, r.deregistered.get(), "one lease is still open");
            a2.close();
            assertEquals(1, r.deregistered.get());
            assertEquals(2, c.stats().evictions(EvictionCause.CLEARED));
        }
        registry.assertAllDeregisteredOnce();
    }

    @Test
    void closeDeregistersEverythingAndLeasesOutliveIt() {
        RegistrationCache<Reg> c = registry.builder(notifier).build();
        Lease<Reg> held = c.acquire(page(0), PAGE);
        Reg cachedOnly = take(c, page(2));
        c.close();
        c.close(); // idempotent
        assertTrue(c.isClosed());
        assertEquals(1, cachedOnly.deregistered.get());
        assertEquals(0, held.registration().deregistered.get(), "a lease stays usable after close");
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> c.acquire(page(0), PAGE));
        assertTrue(e.getMessage().contains("cache closed"), e.getMessage());
        assertThrows(IllegalStateException.class, c::clear);
        held.close();
        assertEquals(1, held.entry.registration.deregistered.get());
        assertEquals(2, c.stats().evictions(EvictionCause.CLEARED));
        registry.assertAllDeregisteredOnce();
    }

    @Test
    void badInputIsRefusedNamingTheArgument() {
        try (RegistrationCache<Reg> c = registry.builder(notifier).build()) {
            assertArg("length", () -> c.acquire(page(0), 0));
            assertArg("length", () -> c.acquire(page(0), -PAGE));
            assertArg("address", () -> c.acquire(0, PAGE));
            assertArg("length", () -> c.acquire(-PAGE, 2 * PAGE));
            assertArg("buffer", () -> c.acquire(ByteBuffer.allocate(64)));
            assertArg("buffer", () -> c.acquire(ByteBuffer.allocateDirect(0)));
            NullPointerException npe = assertThrows(NullPointerException.class, () -> c.acquire((ByteBuffer) null));
            assertEquals("buffer", npe.getMessage());
            assertEquals(0, c.stats().misses(), "nothing was looked up");
            assertEquals(0, registry.made.size());
        }
        assertThrows(NullPointerException.class, () -> RegistrationCache.builder(null, registry::register,
                registry::deregister));
        assertArg("maxEntries", () -> registry.builder(notifier).maxEntries(0));
        assertArg("maxBytes", () -> registry.builder(notifier).maxBytes(-1));
        assertArg("name", () -> registry.builder(notifier).name(""));
    }

    private static void assertArg(String name, Runnable r) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, r::run);
        assertTrue(e.getMessage().contains(name + ":"), "message names " + name + ": " + e.getMessage());
    }

    @Test
    void aDirectBufferIsRegisteredWhole() {
        try (RegistrationCache<Reg> c = registry.builder(notifier).build()) {
            ByteBuffer b = CacheTesting.mappedPages(3);
            b.position(100).limit(200);
            try (Lease<Reg> l = c.acquire(b)) {
                assertEquals(3 * PAGE, l.length(), "capacity, not position..limit");
            }
            try (Lease<Reg> l = c.acquire(b.slice())) {
                assertTrue(l.hit(), "a slice lies inside the buffer's registration");
            }
        }
        registry.assertAllDeregisteredOnce();
    }

    @Test
    void aFailingRegisterFunctionLeavesTheCacheAsItWas() {
        RuntimeException boom = new IllegalStateException("pinning refused");
        boolean[] fail = {false};
        RegistrationCache.Registrar<Reg> flaky = (a, l) -> {
            if (fail[0]) {
                fail[0] = false;
                throw boom;
            }
            return registry.register(a, l);
        };
        try (RegistrationCache<Reg> c = RegistrationCache.builder(notifier, flaky, registry::deregister).build()) {
            c.acquire(page(4), PAGE).close();
            fail[0] = true;
            RuntimeException e = assertThrows(RuntimeException.class, () -> c.acquire(page(0), PAGE));
            assertSame(boom, e, "the register function's exception, unchanged");
            CacheStats s = c.stats();
            assertEquals(1, s.registerFailures());
            assertEquals(1, s.entries(), "the other entry is untouched");
            assertEquals(0, s.leasedEntries());
            try (Lease<Reg> l = c.acquire(page(0), PAGE)) {
                assertFalse(l.hit(), "nothing was cached for the failed range");
                assertEquals(page(0), l.registration().address);
            }
            assertEquals(2, c.stats().entries());
        }
        RegistrationCache.Registrar<Reg> nothing = (a, l) -> null;
        try (RegistrationCache<Reg> c = RegistrationCache.builder(notifier, nothing, registry::deregister).build()) {
            NullPointerException e = assertThrows(NullPointerException.class, () -> c.acquire(page(0), PAGE));
            assertTrue(e.getMessage().contains("returned null"), e.getMessage());
            assertEquals(0, c.stats().entries());
            assertEquals(1, c.stats().registerFailures());
        }
        registry.assertAllDeregisteredOnce();
    }

    @Test
    void aThrowingDeregisterFunctionIsCountedAndTheCacheGoesOn() {
        RegistrationCache.Builder<Reg> b = RegistrationCache.builder(notifier, registry::register, r -> {
            registry.deregister(r);
            throw new IllegalStateException("device gone");
        });
        try (RegistrationCache<Reg> c = b.maxEntries(1).build()) {
            take(c, page(0));
            take(c, page(2)); // evicts page 0, whose deregistration throws
            assertEquals(1, c.stats().deregisterFailures());
            assertEquals(1, c.stats().entries());
        }
        registry.assertAllDeregisteredOnce();
    }

    @Test
    void theRegisterFunctionCannotWaitForItself() {
        AtomicReference<RegistrationCache<Reg>> self = new AtomicReference<>();
        RegistrationCache.Registrar<Reg> reentrant = (a, l) -> {
            self.get().acquire(a, l).close();
            return registry.register(a, l);
        };
        try (RegistrationCache<Reg> c = RegistrationCache.builder(notifier, reentrant, registry::deregister)
                .build()) {
            self.set(c);
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> c.acquire(page(0), PAGE));
            assertTrue(e.getMessage().contains("wait for itself"), e.getMessage());
            assertEquals(0, c.stats().entries());
        }
        registry.assertAllDeregisteredOnce();
    }

    @Test
    void concurrentMissesOnOneRangeMakeOneRegistration() throws Exception {
        int threads = 4;
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch go = new CountDownLatch(1);
        RegistrationCache.Registrar<Reg> slow = (a, l) -> {
            entered.countDown();
            try {
                go.await();
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
            return registry.register(a, l);
        };
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try (RegistrationCache<Reg> c = RegistrationCache.builder(notifier, slow, registry::deregister).build()) {
            List<Future<Reg>> got = new ArrayList<>();
            for (int i = 0; i < threads; i++) {
                got.add(pool.submit(() -> {
                    try (Lease<Reg> l = c.acquire(page(0), 2 * PAGE)) {
                        return l.registration();
                    }
                }));
            }
            assertTrue(entered.await(60, TimeUnit.SECONDS), "no thread reached the register function");
            go.countDown();
            Reg first = got.get(0).get(60, TimeUnit.SECONDS);
            for (Future<Reg> f : got) {
                assertSame(first, f.get(60, TimeUnit.SECONDS));
            }
            assertEquals(1, c.stats().registrations(), "whoever came during the registration waited for it");
            assertEquals(threads - 1, c.stats().hits());
        } finally {
            pool.shutdownNow();
        }
        registry.assertAllDeregisteredOnce();
    }

    @Test
    void closeDuringARegistrationDeregistersItAndTheAcquireFails() throws Exception {
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch go = new CountDownLatch(1);
        RegistrationCache.Registrar<Reg> slow = (a, l) -> {
            entered.countDown();
            try {
                go.await();
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
            return registry.register(a, l);
        };
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try {
            RegistrationCache<Reg> c = RegistrationCache.builder(notifier, slow, registry::deregister).build();
            Future<?> acquirer = pool.submit(() -> c.acquire(page(0), PAGE));
            assertTrue(entered.await(60, TimeUnit.SECONDS), "the register function was never called");
            c.close();
            go.countDown();
            java.util.concurrent.ExecutionException e = assertThrows(java.util.concurrent.ExecutionException.class,
                    () -> acquirer.get(60, TimeUnit.SECONDS));
            assertTrue(e.getCause() instanceof IllegalStateException
                    && e.getCause().getMessage().contains("cache closed"), e.getCause().toString());
            assertEquals(1, registry.made.size());
            assertEquals(1, registry.made.get(0).deregistered.get(), "made, then dropped because of the close");
            assertEquals(0, c.stats().entries());
            assertEquals(0, c.stats().leasedEntries());
        } finally {
            pool.shutdownNow();
        }
        registry.assertAllDeregisteredOnce();
    }

    @Test
    void theMXBeanShowsTheStatistics() throws Exception {
        MBeanServer server = ManagementFactory.getPlatformMBeanServer();
        ObjectName name;
        try (RegistrationCache<Reg> c = registry.builder(notifier).name("mx-test").jmx(true).build()) {
            name = c.objectName();
            assertNotNull(name);
            assertEquals(new ObjectName("io.ummu:type=RegistrationCache,name=\"mx-test\""), name);
            take(c, page(0));
            take(c, page(0));
            assertEquals(1L, server.getAttribute(name, "Hits"));
            assertEquals(1L, server.getAttribute(name, "Misses"));
            assertEquals(1, server.getAttribute(name, "Entries"));
            assertEquals(PAGE, server.getAttribute(name, "Bytes"));
            assertEquals(notifier.backend().name(), server.getAttribute(name, "Backend"));
            IllegalArgumentException dup = assertThrows(IllegalArgumentException.class,
                    () -> registry.builder(notifier).name("mx-test").jmx(true).build());
            assertTrue(dup.getMessage().startsWith("name:"), dup.getMessage());
            server.invoke(name, "clear", null, null);
            assertEquals(0, server.getAttribute(name, "Entries"));
            assertEquals(1L, server.getAttribute(name, "EvictionsCleared"));
        }
        assertFalse(server.isRegistered(name), "close() unregisters the MXBean");
        try (RegistrationCache<Reg> c = registry.builder(notifier).build()) {
            assertNull(c.objectName(), "no JMX unless asked");
        }
        registry.assertAllDeregisteredOnce();
    }

    @Test
    void aClosedNotifierIsReported() {
        RegistrationCache<Reg> c = registry.builder(notifier).build();
        take(c, page(0));
        notifier.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> c.acquire(page(2), PAGE));
        assertTrue(e.getMessage().contains("notifier closed"), e.getMessage());
        c.close();
        registry.assertAllDeregisteredOnce();
        assertThrows(IllegalStateException.class, () -> registry.builder(notifier).build());
    }

    /** Acquires and releases one page, returning its registration. */
    private static Reg take(RegistrationCache<Reg> c, long address) {
        try (Lease<Reg> l = c.acquire(address, PAGE)) {
            return l.registration();
        }
    }
}
