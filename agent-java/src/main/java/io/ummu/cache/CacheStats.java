package io.ummu.cache;

import java.util.Collections;
import java.util.EnumMap;
import java.util.Map;
import java.util.Objects;

/**
 * A consistent snapshot of a {@link RegistrationCache}'s counters, taken by
 * {@link RegistrationCache#stats()}. Immutable and thread-safe.
 *
 * @param hits acquires served by a cached registration
 * @param misses acquires that had to register (successfully or not)
 * @param registrations calls of the register function that returned a registration
 * @param registerFailures calls of the register function that threw (or returned null)
 * @param deregistrations calls of the deregister function that returned normally
 * @param deregisterFailures calls of the deregister function that threw (logged, the registration is dropped)
 * @param invalidations kernel invalidations that hit a registration of this cache
 * @param evictions registrations removed from the cache, by cause (every cause present, possibly 0);
 *     a registration invalidated (or the cache closed) while it was being made counts here too,
 *     although it was never cached
 * @param entries registrations in the cache now (leased or not)
 * @param bytes the bytes those entries cover
 * @param leasedEntries registrations with at least one open lease now, including evicted ones
 *     whose deregistration waits for their leases
 */
public record CacheStats(long hits, long misses, long registrations, long registerFailures,
        long deregistrations, long deregisterFailures, long invalidations, Map<EvictionCause, Long> evictions,
        int entries, long bytes, int leasedEntries) {
    /**
     * Freezes the eviction map and fills in the missing causes with 0.
     *
     * @throws NullPointerException if evictions is null
     */
    public CacheStats {
        EnumMap<EvictionCause, Long> m = new EnumMap<>(EvictionCause.class);
        for (EvictionCause c : EvictionCause.values()) {
            m.put(c, 0L);
        }
        m.putAll(Objects.requireNonNull(evictions, "evictions"));
        evictions = Collections.unmodifiableMap(m);
    }

    /**
     * Thread-safe.
     *
     * @param cause the cause
     * @return how many registrations were evicted for it
     */
    public long evictions(EvictionCause cause) {
        return evictions.get(Objects.requireNonNull(cause, "cause"));
    }

    /**
     * Thread-safe.
     *
     * @return hits / (hits + misses), or 0 before the first acquire
     */
    public double hitRatio() {
        long all = hits + misses;
        return all == 0 ? 0 : (double) hits / all;
    }
}
