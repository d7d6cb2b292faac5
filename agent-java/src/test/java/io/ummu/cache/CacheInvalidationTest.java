package io.ummu.cache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.ummu.Backend;
import io.ummu.MemoryNotifier;
import io.ummu.cache.CacheTesting.Reg;
import io.ummu.cache.CacheTesting.Registry;
import io.ummu.internal.DirectAddress;
import java.nio.ByteBuffer;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Real kernel invalidations with the APIs of Java 17: a direct buffer above
 * glibc's largest mmap threshold (32 MiB) is unmapped when the garbage
 * collector frees it. Runs for each available backend (userfaultfd on the
 * host, the module in the VM). The FFM versions, with MAP_FIXED reuse and
 * partial unmaps, are in {@code RegistrationCacheJdk22Test}.
 */
class CacheInvalidationTest {
    /** Above glibc's largest mmap threshold, so free() always unmaps it. */
    static final int BIG = 40 << 20;

    @ParameterizedTest
    @MethodSource("io.ummu.cache.CacheTesting#backends")
    void aFreedBufferIsNeverServedAgainAndIsDeregisteredOnce(Backend backend) {
        Registry registry = new Registry();
        try (MemoryNotifier n = CacheTesting.open(backend);
                RegistrationCache<Reg> c = registry.builder(n).build()) {
            ByteBuffer big = ByteBuffer.allocateDirect(BIG);
            long address = DirectAddress.of(big);
            Reg first;
            try (Lease<Reg> l = c.acquire(big)) {
                assertFalse(l.hit());
                first = l.registration();
            }
            try (Lease<Reg> l = c.acquire(big)) {
                assertTrue(l.hit(), "nothing changed: a hit");
                assertSame(first, l.registration());
            }
            long g0 = n.generationAcquire();
            big = null;
            freeUntilReported(n, g0);

            // New memory; glibc and the kernel often place it at the old address (the case
            // that matters), but wherever it is, it must be registered anew.
            ByteBuffer again = ByteBuffer.allocateDirect(BIG);
            boolean sameAddress = DirectAddress.of(again) == address;
            try (Lease<Reg> l = c.acquire(again)) {
                assertFalse(l.hit(), "new memory must not hit (same address: " + sameAddress + ")");
                assertNotSame(first, l.registration());
            }
            System.out.println(backend + ": the new 40 MiB buffer "
                    + (sameAddress ? "reused the freed address" : "landed elsewhere"));
            assertEquals(1, first.deregistered.get(), "the stale registration was deregistered once");
            CacheStats s = c.stats();
            assertEquals(1, s.evictions(EvictionCause.INVALIDATED));
            assertTrue(s.invalidations() >= 1, s.toString());
            assertEquals(2, s.registrations());
        }
        registry.assertAllDeregisteredOnce();
    }

    @ParameterizedTest
    @MethodSource("io.ummu.cache.CacheTesting#backends")
    void anInvalidatedLeasedRegistrationIsDeregisteredAtRelease(Backend backend) {
        Registry registry = new Registry();
        try (MemoryNotifier n = CacheTesting.open(backend);
                RegistrationCache<Reg> c = registry.builder(n).build()) {
            ByteBuffer big = ByteBuffer.allocateDirect(BIG);
            ByteBuffer other = CacheTesting.mappedPages(1);
            Lease<Reg> held = c.acquire(big);
            Reg r = held.registration();
            long g0 = n.generationAcquire();
            big = null;
            freeUntilReported(n, g0);
            c.acquire(other).close(); // drains: the freed range is evicted, but leased
            assertEquals(1, c.stats().evictions(EvictionCause.INVALIDATED));
            assertEquals(1, c.stats().entries(), "only the other buffer is cached");
            assertEquals(0, r.deregistered.get(), "deregistration waits for the lease");
            held.close();
            assertEquals(1, r.deregistered.get());
        }
        registry.assertAllDeregisteredOnce();
    }

    /**
     * The caller dropped the last reference to a big buffer: collects until
     * the backend's counter moves (the cache itself is the notifier's only
     * consumer, so this only reads the counter). Bounded: fails after 600 rounds.
     */
    static void freeUntilReported(MemoryNotifier n, long g0) {
        for (int i = 0; i < 600; i++) {
            System.gc();
            if (n.changedSince(g0)) {
                return;
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                throw new AssertionError(e);
            }
        }
        fail("the freed 40 MiB buffer was never reported as unmapped");
    }
}
