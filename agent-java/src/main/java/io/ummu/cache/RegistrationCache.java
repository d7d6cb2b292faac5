package io.ummu.cache;

import io.ummu.MemoryNotifier;
import java.util.function.Consumer;

/**
 * A cache of expensive per-range registrations (RDMA memory regions, io_uring
 * fixed buffers, pinned host memory, DMA mappings) that the kernel keeps
 * honest: a registration whose memory was unmapped, remapped or discarded is
 * never handed out again, even when new memory now sits at the same address.
 * This is the component MPI libraries, libfabric (its MR cache) and UCX (its
 * rcache) build on top of ummunotify, for the JVM.
 *
 * <pre>{@code
 * try (MemoryNotifier n = MemoryNotifier.open();
 *      RegistrationCache<Region> cache = RegistrationCache.builder(n,
 *              (address, length) -> Region.register(address, length),   // on a miss
 *              Region::deregister)                                        // once per registration
 *          .maxBytes(1L << 30).build()) {
 *     try (Lease<Region> lease = cache.acquire(buffer)) {
 *         post(lease.registration(), buffer);
 *     }
 * }
 * }</pre>
 *
 * <h2>Hits, misses and the merge policy</h2>
 * The cached ranges never overlap; they are kept sorted by address, so the
 * one that could cover a request is found in O(log n). {@code acquire} is a
 * <em>hit</em> when a cached registration covers the whole requested range.
 * Otherwise it is a <em>miss</em>: the cache registers one range, the union
 * of the request with every cached range that overlaps it, and that new
 * registration replaces the overlapped ones (evicted with cause
 * {@link EvictionCause#MERGED}; deregistered once unleased). Ranges that only
 * touch are merged too when the builder says
 * {@link Builder#mergeAdjacent(boolean) mergeAdjacent(true)}; by default they
 * are not, because touching ranges are often separate allocations with
 * separate lifetimes, and a merged registration dies with its first part.
 * This is the policy of UCX's rcache and libfabric's MR cache: it keeps the
 * number of registrations low when a program registers growing or shifting
 * windows of one buffer. Every byte of a merged range was part of a range
 * that was asked for, so it is memory the program named. Concurrent misses
 * on overlapping ranges make one registration: later ones wait for the first
 * and then look again.
 *
 * <h2>Leases, eviction and deregistration</h2>
 * A lease pins its registration: it is never deregistered while a lease is
 * open. Entries leave the cache when the kernel reports an invalidation of
 * (any part of) their range, when merged, when {@link #clear()} or
 * {@link #close()} is called, or, least recently released first, when the
 * cache holds more than {@link Builder#maxEntries(int) maxEntries} entries or
 * {@link Builder#maxBytes(long) maxBytes} bytes. Only unleased entries are
 * evicted for the bounds, so the bounds can be exceeded while many entries
 * are leased; the excess is evicted as leases are released. The deregister
 * function is called exactly once per registration: at eviction when the
 * entry has no lease, else by the release of its last lease, always outside
 * the cache's lock, in the thread that evicted or released. A deregister
 * function that throws is logged and counted; the registration is dropped.
 *
 * <h2>Memory-ordering contract</h2>
 * <ul>
 *   <li>Validation is, when nothing changed, one acquire load of the
 *       notifier's generation counter ({@link MemoryNotifier#changedSince}; on
 *       the userfaultfd backend also one acquire load of its reader's batch
 *       sequence). The backend queues an event and then increments the
 *       counter with a release store, so seeing the increment makes the event
 *       visible to the drain that follows. When the counter moved, the
 *       cache drains the notifier and evicts every hit entry before it looks
 *       anything up.</li>
 *   <li>Hence: if a change of a range's mapping happens-before the call to
 *       {@code acquire} (for example, {@code munmap()} of it returned in this
 *       thread, or in a thread that then published something this thread
 *       read), {@code acquire} does not return a registration made before
 *       that change. This holds for every change the backend can see (see
 *       {@link MemoryNotifier#capabilities()}): with the ummunotify module,
 *       every kernel invalidation; with userfaultfd, unmap, mremap and
 *       madvise, but not migration or swap.</li>
 *   <li>A change concurrent with {@code acquire} can be missed by it: the
 *       lease may carry a registration whose range is changing. A range whose
 *       change is reported while it is being registered is handed to that
 *       acquirer but not cached.</li>
 *   <li>Everything the register function did happens-before any use of its
 *       result through a lease in any thread; the release of every lease on a
 *       registration happens-before the deregister function's call for it.</li>
 * </ul>
 *
 * <h2>The notifier</h2>
 * The cache consumes its notifier's events with {@link MemoryNotifier#drain()},
 * so it must be the notifier's only consumer: give it a notifier of its own,
 * with no listeners and no other code draining it (an event taken by someone
 * else is an invalidation the cache never learns about). Closing the cache
 * does not close the notifier; close the notifier after the cache.
 *
 * <p>On Java 22 and later this class also has
 * {@code acquire(java.lang.foreign.MemorySegment)}.
 *
 * @param <R> the registration type
 */
public final class RegistrationCache<R> extends AbstractRegistrationCache<R> {
    RegistrationCache(Builder<R> builder) {
        super(builder);
    }

    /**
     * Starts building a cache. Thread-safe.
     *
     * @param <R> the registration type
     * @param notifier the notifier that watches the cached ranges; the cache must be its only consumer
     * @param registrar makes a registration on a miss
     * @param deregistrar releases a registration, exactly once per registration made
     * @return a builder
     * @throws NullPointerException if an argument is null
     */
    public static <R> Builder<R> builder(MemoryNotifier notifier, Registrar<R> registrar,
            Consumer<? super R> deregistrar) {
        return new Builder<>(notifier, registrar, deregistrar);
    }
}
