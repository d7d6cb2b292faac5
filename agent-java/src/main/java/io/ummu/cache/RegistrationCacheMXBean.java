package io.ummu.cache;

/**
 * The JMX view of one {@link RegistrationCache}, registered under
 * {@code io.ummu:type=RegistrationCache,name=<name>} when the cache was built
 * with {@link RegistrationCache.Builder#jmx(boolean) jmx(true)}. Every getter
 * reads one {@link RegistrationCache#stats()} snapshot.
 */
public interface RegistrationCacheMXBean {
    /** @return the cache's name */
    String getName();

    /** @return the notifier's backend, e.g. {@code USERFAULTFD} */
    String getBackend();

    /** @return see {@link CacheStats#hits()} */
    long getHits();

    /** @return see {@link CacheStats#misses()} */
    long getMisses();

    /** @return see {@link CacheStats#hitRatio()} */
    double getHitRatio();

    /** @return see {@link CacheStats#registrations()} */
    long getRegistrations();

    /** @return see {@link CacheStats#registerFailures()} */
    long getRegisterFailures();

    /** @return see {@link CacheStats#deregistrations()} */
    long getDeregistrations();

    /** @return see {@link CacheStats#deregisterFailures()} */
    long getDeregisterFailures();

    /** @return see {@link CacheStats#invalidations()} */
    long getInvalidations();

    /** @return evictions with cause {@link EvictionCause#INVALIDATED} */
    long getEvictionsInvalidated();

    /** @return evictions with cause {@link EvictionCause#MERGED} */
    long getEvictionsMerged();

    /** @return evictions with cause {@link EvictionCause#CAPACITY} */
    long getEvictionsCapacity();

    /** @return evictions with cause {@link EvictionCause#CLEARED} */
    long getEvictionsCleared();

    /** @return see {@link CacheStats#entries()} */
    int getEntries();

    /** @return see {@link CacheStats#bytes()} */
    long getBytes();

    /** @return see {@link CacheStats#leasedEntries()} */
    int getLeasedEntries();

    /** @return the entry bound */
    int getMaxEntries();

    /** @return the byte bound */
    long getMaxBytes();

    /** Evicts every entry, as {@link RegistrationCache#clear()}. */
    void clear();
}
