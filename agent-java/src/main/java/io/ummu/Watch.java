package io.ummu;

/**
 * One watched address range of a {@link MemoryNotifier}, from
 * {@code watch(...)} until {@link #close()}.
 *
 * <p>Contract: once {@link #close()} has returned (in any thread), no
 * {@link Invalidation} for this watch is returned by
 * {@link MemoryNotifier#drain()} or delivered to a listener, even one the
 * kernel reported before the close. The notifier enforces this where events
 * are handed out, so an event already read from the kernel but not yet handed
 * out is dropped.
 *
 * <p>The watch does not keep the watched memory alive: it exists precisely to
 * tell its owner when that memory goes away.
 */
public final class Watch implements AutoCloseable {
    private final AbstractMemoryNotifier notifier;
    private final long address;
    private final long length;
    private final long cookie;
    private volatile boolean closed;

    Watch(AbstractMemoryNotifier notifier, long address, long length, long cookie) {
        this.notifier = notifier;
        this.address = address;
        this.length = length;
        this.cookie = cookie;
    }

    /**
     * Thread-safe (immutable).
     *
     * @return the first watched byte's address
     */
    public long address() {
        return address;
    }

    /**
     * Thread-safe (immutable).
     *
     * @return the number of watched bytes; the range is {@code [address, address + length)}
     */
    public long length() {
        return length;
    }

    /**
     * Thread-safe (immutable).
     *
     * @return the cookie the backend reports for this watch; unique within its notifier, never reused
     */
    public long cookie() {
        return cookie;
    }

    /**
     * Thread-safe (immutable).
     *
     * @return the notifier this watch belongs to
     */
    public MemoryNotifier notifier() {
        return (MemoryNotifier) notifier;
    }

    /**
     * Thread-safe.
     *
     * @return true once {@link #close()} (of this watch or of its notifier) has begun
     */
    public boolean isClosed() {
        return closed;
    }

    /**
     * Stops watching. Idempotent and thread-safe; may be called from a
     * listener, including for the invalidation being delivered. When it
     * returns, no invalidation of this watch is handed out any more (see the
     * class comment); it may wait for a listener call that is delivering an
     * invalidation of this notifier to finish.
     *
     * @throws MemoryNotifierException if the backend refused to unregister
     *     (the watch is closed on the Java side regardless)
     */
    @Override
    public void close() {
        notifier.closeWatch(this);
    }

    /** @return true if this call moved the watch from open to closed */
    boolean markClosed() {
        synchronized (this) {
            if (closed) {
                return false;
            }
            closed = true;
            return true;
        }
    }

    @Override
    public String toString() {
        return String.format("Watch[cookie=%d, 0x%x+%d%s]", cookie, address, length, closed ? ", closed" : "");
    }
}
