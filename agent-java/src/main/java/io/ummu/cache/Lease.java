package io.ummu.cache;

/**
 * The right to use one registration of a {@link RegistrationCache} until
 * {@link #close()}. While any lease on a registration is open, the cache never
 * deregisters it, even when the kernel invalidated its range or the cache
 * evicted it; the last {@code close()} then deregisters it.
 *
 * <p>The registration covers {@code [address(), address() + length())}, which
 * contains the range that was asked for and may be larger (see the merge
 * policy in {@link RegistrationCache}). A lease may be passed to and closed by
 * another thread (publish it safely, as any object). {@link #close()} is
 * idempotent.
 *
 * @param <R> the registration type
 */
public final class Lease<R> implements AutoCloseable {
    private final AbstractRegistrationCache<R> cache;
    final AbstractRegistrationCache.Entry<R> entry;
    private final boolean hit;
    /** Written under the cache's lock; volatile for the checks in the accessors. */
    volatile boolean released;

    Lease(AbstractRegistrationCache<R> cache, AbstractRegistrationCache.Entry<R> entry, boolean hit) {
        this.cache = cache;
        this.entry = entry;
        this.hit = hit;
    }

    /**
     * Thread-safe.
     *
     * @return the registration the register function returned for this range
     * @throws IllegalStateException if this lease was closed
     */
    public R registration() {
        if (released) {
            throw new IllegalStateException("lease released: " + this);
        }
        return entry.registration;
    }

    /**
     * Thread-safe (immutable).
     *
     * @return the first registered byte's address
     */
    public long address() {
        return entry.start;
    }

    /**
     * Thread-safe (immutable).
     *
     * @return the number of registered bytes
     */
    public long length() {
        return entry.end - entry.start;
    }

    /**
     * Thread-safe (immutable).
     *
     * @return true if the acquire was served by a cached registration, false if it registered
     */
    public boolean hit() {
        return hit;
    }

    /**
     * Releases the lease. The registration stays cached unless it was
     * evicted meanwhile, in which case this call deregisters it (in this
     * thread, outside the cache's lock) when it was the last lease.
     * Idempotent and thread-safe; works after the cache was closed.
     */
    @Override
    public void close() {
        cache.release(this);
    }

    @Override
    public String toString() {
        return String.format("Lease[0x%x+%d, %s%s]", entry.start, entry.end - entry.start,
                hit ? "hit" : "miss", released ? ", released" : "");
    }
}
