package io.ummu.cache;

import static io.ummu.cache.Mm.PAGE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.ummu.Backend;
import io.ummu.MemoryNotifier;
import io.ummu.cache.CacheTesting.Reg;
import io.ummu.cache.CacheTesting.Registry;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The cache against real mapping changes made through FFM, for each available
 * backend (userfaultfd on the host, the ummunotify module in the VM).
 */
class RegistrationCacheJdk22Test {

    /**
     * The case that motivates ummunotify: the same address, new memory. A
     * registration of the old memory must never be handed out for it.
     */
    @ParameterizedTest
    @MethodSource("io.ummu.cache.CacheTesting#backends")
    void unmapThenMapFixedAtTheSameAddressMustMiss(Backend backend) {
        Registry registry = new Registry();
        try (MemoryNotifier n = CacheTesting.open(backend);
                RegistrationCache<Reg> c = registry.builder(n).build()) {
            long a = Mm.map(1);
            Reg old;
            try (Lease<Reg> l = c.acquire(a, PAGE)) {
                assertFalse(l.hit(), "first acquire registers");
                old = l.registration();
            }
            try (Lease<Reg> l = c.acquire(a, PAGE)) {
                assertTrue(l.hit(), "nothing changed: hit");
                assertSame(old, l.registration());
            }
            Mm.munmap(a, PAGE);
            Mm.mapFixed(a, 1); // forced to the same address: a = mmap(); munmap(a); b = mmap(); b == a
            try (Lease<Reg> l = c.acquire(a, PAGE)) {
                assertFalse(l.hit(), "new memory at the old address must be registered anew");
                assertNotSame(old, l.registration());
            }
            assertEquals(1, old.deregistered.get(), "the old registration was deregistered exactly once");
            try (Lease<Reg> l = c.acquire(a, PAGE)) {
                assertTrue(l.hit(), "and the new one is cached");
            }
            CacheStats s = c.stats();
            assertEquals(2, s.hits());
            assertEquals(2, s.misses());
            assertEquals(1, s.evictions(EvictionCause.INVALIDATED));
            Mm.munmap(a, PAGE);
        }
        registry.assertAllDeregisteredOnce();
    }

    /** mmap(MAP_FIXED) straight over a live mapping replaces it without a munmap call. */
    @ParameterizedTest
    @MethodSource("io.ummu.cache.CacheTesting#backends")
    void mapFixedOverALiveMappingMustMiss(Backend backend) {
        Registry registry = new Registry();
        try (MemoryNotifier n = CacheTesting.open(backend);
                RegistrationCache<Reg> c = registry.builder(n).build()) {
            long a = Mm.map(2);
            Reg old;
            try (Lease<Reg> l = c.acquire(a, 2 * PAGE)) {
                old = l.registration();
            }
            Mm.mapFixed(a + PAGE, 1);
            try (Lease<Reg> l = c.acquire(a, 2 * PAGE)) {
                assertFalse(l.hit(), "half of the range is new memory");
            }
            assertEquals(1, old.deregistered.get());
            Mm.munmap(a, 2 * PAGE);
        }
        registry.assertAllDeregisteredOnce();
    }

    @ParameterizedTest
    @MethodSource("io.ummu.cache.CacheTesting#backends")
    void aPartialUnmapEvictsTheWholeRegistration(Backend backend) {
        Registry registry = new Registry();
        try (MemoryNotifier n = CacheTesting.open(backend);
                RegistrationCache<Reg> c = registry.builder(n).build()) {
            long a = Mm.map(4);
            Reg whole;
            Reg unrelated;
            long b = Mm.map(1);
            try (Lease<Reg> l = c.acquire(a, 4 * PAGE); Lease<Reg> u = c.acquire(b, PAGE)) {
                whole = l.registration();
                unrelated = u.registration();
            }
            Mm.munmap(a + PAGE, PAGE); // one page in the middle
            try (Lease<Reg> l = c.acquire(a, PAGE)) {
                assertFalse(l.hit(), "the first page is still mapped, but its registration spanned the hole");
                assertEquals(a, l.address());
                assertEquals(PAGE, l.length(), "registered anew for what was asked");
            }
            assertEquals(1, whole.deregistered.get());
            try (Lease<Reg> u = c.acquire(b, PAGE)) {
                assertTrue(u.hit(), "an unrelated range stays cached");
                assertSame(unrelated, u.registration());
            }
            try (Lease<Reg> l = c.acquire(a + 2 * PAGE, 2 * PAGE)) {
                assertFalse(l.hit());
            }
            assertEquals(1, c.stats().evictions(EvictionCause.INVALIDATED));
            Mm.munmap(a, PAGE);
            Mm.munmap(a + 2 * PAGE, 2 * PAGE);
            Mm.munmap(b, PAGE);
        }
        registry.assertAllDeregisteredOnce();
    }

    /** The range changes while it is being registered: handed out (the change came after acquire began), not cached. */
    @ParameterizedTest
    @MethodSource("io.ummu.cache.CacheTesting#backends")
    void aRangeReplacedWhileBeingRegisteredIsNotCached(Backend backend) {
        Registry registry = new Registry();
        boolean[] replace = {true};
        RegistrationCache.Registrar<Reg> racing = (a, l) -> {
            if (replace[0]) {
                replace[0] = false;
                Mm.mapFixed(a, l / PAGE); // after the cache watched the range, before the registration returns
            }
            return registry.register(a, l);
        };
        try (MemoryNotifier n = CacheTesting.open(backend);
                RegistrationCache<Reg> c = RegistrationCache.builder(n, racing, registry::deregister).build()) {
            long a = Mm.map(1);
            Reg raced;
            try (Lease<Reg> l = c.acquire(a, PAGE)) {
                assertFalse(l.hit());
                raced = l.registration();
                assertEquals(0, c.stats().entries(), "invalidated while registering: not cached");
                assertEquals(0, raced.deregistered.get(), "but leased: not deregistered yet");
            }
            assertEquals(1, raced.deregistered.get(), "its release deregistered it");
            try (Lease<Reg> l = c.acquire(a, PAGE)) {
                assertFalse(l.hit(), "registered anew");
                assertNotSame(raced, l.registration());
            }
            try (Lease<Reg> l = c.acquire(a, PAGE)) {
                assertTrue(l.hit(), "and this one is cached");
            }
            assertEquals(1, c.stats().evictions(EvictionCause.INVALIDATED));
            Mm.munmap(a, PAGE);
        }
        registry.assertAllDeregisteredOnce();
    }

    @ParameterizedTest
    @MethodSource("io.ummu.cache.CacheTesting#backends")
    void segmentsAreAcquiredAndAClosedArenaMisses(Backend backend) {
        Registry registry = new Registry();
        try (MemoryNotifier n = CacheTesting.open(backend);
                RegistrationCache<Reg> c = registry.builder(n).build()) {
            long a = Mm.map(2);
            MemorySegment s = Mm.segment(a, 2 * PAGE);
            try (Lease<Reg> l = Mm.acquire(c, s)) {
                assertFalse(l.hit());
                assertEquals(a, l.address());
                assertEquals(2 * PAGE, l.length());
            }
            try (Lease<Reg> l = Mm.acquire(c, s.asSlice(PAGE, 100))) {
                assertTrue(l.hit(), "a slice hits its segment's registration");
            }
            Mm.munmap(a, 2 * PAGE);

            IllegalArgumentException heap = assertThrows(IllegalArgumentException.class,
                    () -> Mm.acquire(c, MemorySegment.ofArray(new byte[64])));
            assertTrue(heap.getMessage().startsWith("segment:"), heap.getMessage());
            IllegalArgumentException empty = assertThrows(IllegalArgumentException.class,
                    () -> Mm.acquire(c, Mm.segment(a, 0)));
            assertTrue(empty.getMessage().startsWith("segment:"), empty.getMessage());
            Arena arena = Arena.ofConfined();
            MemorySegment gone = arena.allocate(64);
            arena.close();
            IllegalStateException closed = assertThrows(IllegalStateException.class, () -> Mm.acquire(c, gone));
            assertTrue(closed.getMessage().contains("arena"), closed.getMessage());
            assertThrows(NullPointerException.class, () -> Mm.acquire(c, null));
        }
        registry.assertAllDeregisteredOnce();
    }

    /**
     * Many threads acquire and release overlapping ranges while another
     * replaces pages under them with mmap(MAP_FIXED). Checks the contract
     * (a replacement finished before acquire began is never served by a
     * registration made before it began), that nothing is deregistered while
     * leased or twice, that every registration is deregistered by the end,
     * and that it all finishes (a deadlock fails by the join limit).
     */
    @ParameterizedTest
    @MethodSource("io.ummu.cache.CacheTesting#backends")
    void concurrentAcquireReleaseWithInvalidationsInFlight(Backend backend) throws Exception {
        final int pages = 16;
        final int threads = 4;
        final int iterations = 1500;
        final int replacements = 200;
        Registry registry = new Registry();
        AtomicLongArray begun = new AtomicLongArray(pages);
        AtomicLongArray done = new AtomicLongArray(pages);
        long base = Mm.map(pages);
        List<String> problems = java.util.Collections.synchronizedList(new ArrayList<>());
        try (MemoryNotifier n = CacheTesting.open(backend)) {
            RegistrationCache.Registrar<Reg> registrar = (a, l) -> {
                Reg r = registry.register(a, l);
                long[] seen = new long[pages];
                for (int p = 0; p < pages; p++) {
                    seen[p] = begun.get(p);
                }
                r.tag = seen;
                return r;
            };
            RegistrationCache<Reg> c = RegistrationCache.builder(n, registrar, registry::deregister)
                    .maxEntries(6).build();
            AtomicInteger running = new AtomicInteger(threads);
            AtomicInteger replaced = new AtomicInteger();
            List<Thread> all = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                all.add(new Thread(() -> {
                    ThreadLocalRandom rnd = ThreadLocalRandom.current();
                    long[] before = new long[pages];
                    for (int i = 0; i < iterations && problems.isEmpty(); i++) {
                        int first = rnd.nextInt(pages);
                        int count = Math.min(1 + rnd.nextInt(3), pages - first);
                        for (int p = first; p < first + count; p++) {
                            before[p] = done.get(p);
                        }
                        try (Lease<Reg> l = c.acquire(base + first * PAGE, count * PAGE)) {
                            Reg r = l.registration();
                            r.leases.incrementAndGet();
                            if (!r.covers(base + first * PAGE, count * PAGE)) {
                                problems.add(r + " does not cover pages " + first + "+" + count);
                            }
                            long[] seen = (long[]) r.tag;
                            for (int p = first; p < first + count; p++) {
                                if (seen[p] < before[p]) {
                                    problems.add(String.format("%s registered before replacement %d of page %d,"
                                            + " which finished before acquire began", r, before[p], p));
                                }
                            }
                            r.leases.decrementAndGet();
                        }
                    }
                    running.decrementAndGet();
                }, "acquirer-" + t));
            }
            Thread replacer = new Thread(() -> {
                ThreadLocalRandom rnd = ThreadLocalRandom.current();
                // At least `replacements`, and on while the acquirers run (bounded all the same).
                for (int i = 0; i < 50 * replacements && problems.isEmpty()
                        && (i < replacements || running.get() > 0); i++) {
                    replaced.incrementAndGet();
                    int p = rnd.nextInt(pages);
                    begun.incrementAndGet(p);
                    Mm.mapFixed(base + p * PAGE, 1);
                    done.incrementAndGet(p);
                    Thread.yield();
                }
            }, "replacer");
            all.add(replacer);
            List<Throwable> died = java.util.Collections.synchronizedList(new ArrayList<>());
            for (Thread t : all) {
                t.setUncaughtExceptionHandler((th, e) -> died.add(e));
                t.start();
            }
            for (Thread t : all) {
                t.join(TimeUnit.MINUTES.toMillis(5));
                if (t.isAlive()) {
                    StringBuilder dump = new StringBuilder("not finished after 5 minutes (deadlock?):\n");
                    for (Map.Entry<Thread, StackTraceElement[]> e : Thread.getAllStackTraces().entrySet()) {
                        dump.append(e.getKey()).append('\n');
                        for (StackTraceElement f : e.getValue()) {
                            dump.append("    at ").append(f).append('\n');
                        }
                    }
                    fail(dump.toString());
                }
            }
            if (!died.isEmpty()) {
                AssertionError e = new AssertionError("a test thread died: " + died.get(0), died.get(0));
                throw e;
            }
            assertTrue(problems.isEmpty(), String.join("\n", problems));

            // One deterministic replacement at the end, so an invalidation surely hit a cached entry.
            Reg last;
            try (Lease<Reg> l = c.acquire(base, PAGE)) {
                last = l.registration();
            }
            Mm.mapFixed(base, 1);
            try (Lease<Reg> l = c.acquire(base, PAGE)) {
                assertFalse(l.hit());
                assertNotSame(last, l.registration());
            }
            CacheStats s = c.stats();
            c.close();
            System.out.println(backend + ": " + replaced.get() + " pages replaced under " + threads + " x "
                    + iterations + " acquires: " + s);
            assertEquals(s.registrations(), registry.made.size());
            assertTrue(s.invalidations() >= 1 && s.evictions(EvictionCause.INVALIDATED) >= 1, s.toString());
            assertEquals((long) threads * iterations + 2, s.hits() + s.misses() - s.registerFailures(),
                    "every acquire was a hit or a miss");
            assertEquals(0, c.stats().leasedEntries());
        } finally {
            Mm.munmap(base, pages * PAGE);
        }
        registry.assertAllDeregisteredOnce();
    }
}
