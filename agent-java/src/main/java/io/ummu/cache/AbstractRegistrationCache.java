package io.ummu.cache;

import io.ummu.Drain;
import io.ummu.Invalidation;
import io.ummu.MemoryNotifier;
import io.ummu.MemoryNotifierException;
import io.ummu.Watch;
import io.ummu.internal.DirectAddress;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Objects;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import javax.management.JMException;
import javax.management.MBeanServer;
import javax.management.ObjectName;

/**
 * Everything of {@link RegistrationCache} except its factory and, on Java 22
 * and later, {@code acquire(MemorySegment)}. It exists only so that the Java
 * 22 version of {@code RegistrationCache} (in the multi-release part of
 * {@code ummu.jar}) can add that method without repeating the rest, as
 * {@code AbstractMemoryNotifier} does for {@code MemoryNotifier}; use
 * {@link RegistrationCache}. It cannot be subclassed outside this package.
 *
 * <p>The behaviour, the merge policy and the memory-ordering contract are
 * described in {@link RegistrationCache}.
 *
 * @param <R> the registration type
 */
public abstract class AbstractRegistrationCache<R> implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger("io.ummu.cache");
    private static final AtomicInteger UNNAMED = new AtomicInteger();

    /**
     * Makes a registration of a byte range: pins memory, registers an RDMA
     * memory region, an io_uring buffer ... Called by {@code acquire} on a
     * miss, in the acquiring thread, outside the cache's lock. It must not
     * acquire from the same cache a range overlapping the one it registers
     * (that would wait for itself; the cache throws instead).
     *
     * @param <R> the registration type
     */
    @FunctionalInterface
    public interface Registrar<R> {
        /**
         * Registers {@code [address, address + length)}.
         *
         * @param address the first byte
         * @param length the number of bytes, positive
         * @return the registration, not null
         * @throws RuntimeException to refuse; {@code acquire} rethrows it unchanged and the cache stays as it was
         */
        R register(long address, long length);
    }

    /** The lifecycle of an entry; every transition happens under {@link #lock}. */
    enum State {
        /** Watched, being registered by {@link Entry#registrant} outside the lock; in {@link #inFlight}. */
        PENDING,
        /** Registered and in {@link #index}. */
        CACHED,
        /** Out of the index for good; deregistered once its lease count reaches 0. */
        RETIRED
    }

    /** One registration and its watch. Fields other than the final ones are guarded by the cache's lock. */
    static final class Entry<R> {
        final long start;
        final long end;
        final Watch watch;
        final Thread registrant;
        /** Set once, under the lock, before any lease on this entry is handed out. */
        R registration;
        State state = State.PENDING;
        int leases;
        /** An invalidation hit the range while it was being registered. */
        boolean invalidatedWhilePending;

        Entry(long start, long end, Watch watch, Thread registrant) {
            this.start = start;
            this.end = end;
            this.watch = watch;
            this.registrant = registrant;
        }

        long length() {
            return end - start;
        }

        @Override
        public String toString() {
            return String.format("0x%x+%d", start, end - start);
        }
    }

    /**
     * What must happen outside the lock: watches to close and registrations
     * to deregister. Made only when there is something to do, so a hit
     * allocates nothing but its lease.
     */
    private static final class Graveyard<R> {
        final List<Watch> watches = new ArrayList<>();
        final List<Entry<R>> registrations = new ArrayList<>();
    }

    private final MemoryNotifier notifier;
    private final Registrar<R> registrar;
    private final Consumer<? super R> deregistrar;
    private final String name;
    private final int maxEntries;
    private final long maxBytes;
    private final boolean mergeAdjacent;

    /*
     * One lock, as in the C caches this follows (libfabric's MR cache, UCX's
     * rcache): it guards the index, the LRU list, lease counts and the
     * generation the cache has drained up to. Never held across the
     * register or deregister functions, and never across closing a watch,
     * but held across notifier.watch() and notifier.drain(): the cookie of a
     * new watch must be in byCookie before any drain can see an event for
     * it, or that event would be lost. Neither call waits for anything that
     * could need this lock (the backends' reader threads never call Java).
     */
    private final ReentrantLock lock = new ReentrantLock();
    /** Signalled whenever a pending registration finishes (either way). */
    private final Condition registrationDone = lock.newCondition();
    /** Cached entries by start address (unsigned); their ranges never overlap. */
    private final TreeMap<Long, Entry<R>> index = new TreeMap<>(Long::compareUnsigned);
    /** Cached and pending entries by watch cookie. */
    private final HashMap<Long, Entry<R>> byCookie = new HashMap<>();
    /** Pending entries: few (at most one per registering thread), so a list. */
    private final List<Entry<R>> inFlight = new ArrayList<>();
    /** Cached entries without a lease, least recently released first. */
    private final LinkedHashSet<Entry<R>> lru = new LinkedHashSet<>();
    /** The notifier generation whose events have all been applied to the index. */
    private long drainedGeneration;
    private long bytes;
    private int leasedEntries;
    private volatile boolean closed;

    private long hits;
    private long misses;
    private long registrations;
    private long registerFailures;
    private long invalidations;
    private final long[] evictions = new long[EvictionCause.values().length];
    private final AtomicLong deregistrations = new AtomicLong();
    private final AtomicLong deregisterFailures = new AtomicLong();

    private final ObjectName mbeanName;

    AbstractRegistrationCache(Builder<R> b) {
        this.notifier = b.notifier;
        this.registrar = b.registrar;
        this.deregistrar = b.deregistrar;
        this.name = b.name != null ? b.name : "cache-" + UNNAMED.incrementAndGet();
        this.maxEntries = b.maxEntries;
        this.maxBytes = b.maxBytes;
        this.mergeAdjacent = b.mergeAdjacent;
        // Fails here, with the notifier's own message, when it is closed.
        this.drainedGeneration = notifier.generationAcquire();
        this.mbeanName = b.jmx ? registerMBean() : null;
    }

    // --------------------------------------------------------------- building

    /**
     * Configures a {@link RegistrationCache}; obtained from
     * {@link RegistrationCache#builder}. Not thread-safe.
     *
     * @param <R> the registration type
     */
    public static final class Builder<R> {
        final MemoryNotifier notifier;
        final Registrar<R> registrar;
        final Consumer<? super R> deregistrar;
        String name;
        int maxEntries = 4096;
        long maxBytes = Long.MAX_VALUE;
        boolean mergeAdjacent;
        boolean jmx;

        Builder(MemoryNotifier notifier, Registrar<R> registrar, Consumer<? super R> deregistrar) {
            this.notifier = Objects.requireNonNull(notifier, "notifier");
            this.registrar = Objects.requireNonNull(registrar, "registrar");
            this.deregistrar = Objects.requireNonNull(deregistrar, "deregistrar");
        }

        /**
         * @param maxEntries the most registrations kept cached, positive (default 4096)
         * @return this
         * @throws IllegalArgumentException if maxEntries is not positive
         */
        public Builder<R> maxEntries(int maxEntries) {
            if (maxEntries <= 0) {
                throw new IllegalArgumentException("maxEntries: must be positive, got " + maxEntries);
            }
            this.maxEntries = maxEntries;
            return this;
        }

        /**
         * @param maxBytes the most bytes covered by cached registrations, positive (default unbounded)
         * @return this
         * @throws IllegalArgumentException if maxBytes is not positive
         */
        public Builder<R> maxBytes(long maxBytes) {
            if (maxBytes <= 0) {
                throw new IllegalArgumentException("maxBytes: must be positive, got " + maxBytes);
            }
            this.maxBytes = maxBytes;
            return this;
        }

        /**
         * Whether a miss also merges cached ranges that merely touch the
         * requested one (default false: only overlapping ranges are merged).
         *
         * @param mergeAdjacent true to merge touching ranges too
         * @return this
         */
        public Builder<R> mergeAdjacent(boolean mergeAdjacent) {
            this.mergeAdjacent = mergeAdjacent;
            return this;
        }

        /**
         * @param name the cache's name in logs, {@code toString} and its JMX name
         *     (default {@code cache-<n>})
         * @return this
         * @throws IllegalArgumentException if name is empty
         */
        public Builder<R> name(String name) {
            Objects.requireNonNull(name, "name");
            if (name.isEmpty()) {
                throw new IllegalArgumentException("name: must not be empty");
            }
            this.name = name;
            return this;
        }

        /**
         * Whether to register a {@link RegistrationCacheMXBean} with the
         * platform MBean server under
         * {@code io.ummu:type=RegistrationCache,name=<name>} (default false);
         * {@link RegistrationCache#close()} unregisters it.
         *
         * @param jmx true to register the MXBean
         * @return this
         */
        public Builder<R> jmx(boolean jmx) {
            this.jmx = jmx;
            return this;
        }

        /**
         * @return the cache
         * @throws IllegalStateException if the notifier is closed
         * @throws IllegalArgumentException if JMX is on and an MBean of this name exists
         */
        public RegistrationCache<R> build() {
            return new RegistrationCache<>(this);
        }
    }

    // -------------------------------------------------------------- acquiring

    /**
     * Leases a registration covering the whole memory of a direct (or
     * mapped) buffer, {@code [address, address + capacity)} of its element 0,
     * whatever its position and limit (slice it to ask for less).
     * Thread-safe.
     *
     * @param buffer a direct buffer with a capacity of at least one byte
     * @return the lease; close it when the registration is no longer in use
     * @throws NullPointerException if buffer is null
     * @throws IllegalArgumentException if buffer is a heap buffer or has capacity 0
     * @throws IllegalStateException if this cache or its notifier is closed
     * @throws MemoryNotifierException if the range cannot be watched (the userfaultfd backend, for one,
     *     refuses a range with an unmapped part: ENOMEM)
     * @throws RuntimeException whatever the register function threw
     */
    public final Lease<R> acquire(ByteBuffer buffer) {
        Objects.requireNonNull(buffer, "buffer");
        if (!buffer.isDirect()) {
            throw new IllegalArgumentException(
                    "buffer: a heap ByteBuffer has no fixed address; acquire a direct or mapped buffer");
        }
        if (buffer.capacity() == 0) {
            throw new IllegalArgumentException("buffer: capacity is 0, nothing to register");
        }
        return acquireRange("acquire(buffer)", DirectAddress.of(buffer), buffer.capacity());
    }

    /**
     * Leases a registration covering {@code [address, address + length)}:
     * a cached one if one covers the range and no invalidation of it has
     * been reported (a hit), else a new one made by the register function
     * (a miss). See {@link RegistrationCache} for the merge policy and the
     * memory-ordering contract. Thread-safe.
     *
     * @param address the first byte, not 0
     * @param length the number of bytes, positive, such that the range does not wrap
     * @return the lease; close it when the registration is no longer in use
     * @throws IllegalArgumentException for address 0, a length that is not positive, or a range that wraps
     * @throws IllegalStateException if this cache or its notifier is closed, or if called from the
     *     register function for a range overlapping the one being registered
     * @throws MemoryNotifierException if the range cannot be watched (the userfaultfd backend, for one,
     *     refuses a range with an unmapped part: ENOMEM)
     * @throws RuntimeException whatever the register function threw
     */
    public final Lease<R> acquire(long address, long length) {
        return acquireRange("acquire", address, length);
    }

    /**
     * The common part of every {@code acquire} overload.
     *
     * @param op how to name the operation in messages
     */
    final Lease<R> acquireRange(String op, long address, long length) {
        checkRange(op, address, length);
        long end = address + length;
        Graveyard<R> graveyard = null;
        Entry<R> mine;
        lock.lock();
        try {
            for (;;) {
                if (closed) {
                    throw closedException();
                }
                graveyard = validateLocked(graveyard);
                Entry<R> e = coveringLocked(address, end);
                if (e != null) {
                    leaseLocked(e);
                    hits++;
                    return new Lease<>(this, e, true);
                }
                long start = address;
                long stop = end;
                for (Entry<R> o : overlappingLocked(address, end)) {
                    if (Long.compareUnsigned(o.start, start) < 0) {
                        start = o.start;
                    }
                    if (Long.compareUnsigned(o.end, stop) > 0) {
                        stop = o.end;
                    }
                }
                Entry<R> busy = inFlightOverlappingLocked(start, stop);
                if (busy != null) {
                    if (busy.registrant == Thread.currentThread()) {
                        throw new IllegalStateException(String.format(
                                "%s(0x%x, %d): called by the register function of %s, an overlapping range;"
                                        + " it would wait for itself", op, address, length, busy));
                    }
                    // Someone is registering an overlapping range: wait and look again, so that a
                    // burst of misses on one range makes one registration, not one per thread.
                    registrationDone.awaitUninterruptibly();
                    continue;
                }
                Watch w = notifier.watch(start, stop - start);
                mine = new Entry<>(start, stop, w, Thread.currentThread());
                mine.leases = 1;
                byCookie.put(w.cookie(), mine);
                inFlight.add(mine);
                misses++;
                break;
            }
        } finally {
            lock.unlock();
            bury(graveyard);
        }
        return register(op, mine);
    }

    /** Calls the register function for a pending entry and settles the entry either way. */
    private Lease<R> register(String op, Entry<R> p) {
        R r;
        try {
            r = registrar.register(p.start, p.length());
            if (r == null) {
                throw new NullPointerException(String.format("%s: register(0x%x, %d) returned null",
                        op, p.start, p.length()));
            }
        } catch (RuntimeException | Error t) {
            lock.lock();
            try {
                inFlight.remove(p);
                byCookie.remove(p.watch.cookie());
                p.state = State.RETIRED;
                p.leases = 0;
                registerFailures++;
                registrationDone.signalAll();
            } finally {
                lock.unlock();
            }
            closeWatch(p.watch);
            throw t;
        }
        Graveyard<R> graveyard = null;
        boolean closedMeanwhile = false;
        lock.lock();
        try {
            inFlight.remove(p);
            registrationDone.signalAll();
            registrations++;
            p.registration = r;
            leasedEntries++;
            // Events that arrived while registering are applied first, so that an invalidation of
            // this range reported before this point is never cached over.
            try {
                graveyard = validateLocked(graveyard);
            } catch (RuntimeException | Error t) {
                // The notifier failed or was closed: hand nothing out, deregister it.
                graveyard = retireLocked(p, EvictionCause.CLEARED, graveyard);
                graveyard = releaseLocked(p, graveyard);
                throw t;
            }
            if (closed || p.invalidatedWhilePending) {
                closedMeanwhile = closed;
                // Not cached: the range changed while it was being registered (after acquire
                // began, so handing out the registration is within the contract), or the cache
                // closed. Retired now; the lease's release deregisters it.
                graveyard = retireLocked(p, closed ? EvictionCause.CLEARED : EvictionCause.INVALIDATED,
                        graveyard);
                if (closedMeanwhile) {
                    graveyard = releaseLocked(p, graveyard);
                }
            } else {
                for (Entry<R> o : overlappingLocked(p.start, p.end)) {
                    index.remove(o.start);
                    bytes -= o.length();
                    graveyard = retireLocked(o, EvictionCause.MERGED, graveyard);
                }
                p.state = State.CACHED;
                index.put(p.start, p);
                bytes += p.length();
                graveyard = enforceBoundsLocked(graveyard);
            }
        } finally {
            lock.unlock();
            bury(graveyard);
        }
        if (closedMeanwhile) {
            throw closedException();
        }
        return new Lease<>(this, p, false);
    }

    /**
     * Brings the index up to date with the kernel: the fast path is
     * {@link MemoryNotifier#changedSince(long)}, one acquire load of the
     * generation counter, on every backend.
     */
    private Graveyard<R> validateLocked(Graveyard<R> graveyard) {
        // isClosed(): the fast path of a closed notifier whose page the
        // kernel refused to switch keeps saying "unchanged" (see
        // AbstractMemoryNotifier, "Closing"); drain() then says it is closed.
        if (!notifier.changedSince(drainedGeneration) && !notifier.isClosed()) {
            return graveyard;
        }
        Drain d = notifier.drain();
        for (Invalidation inv : d.invalidations()) {
            Entry<R> e = byCookie.get(inv.watch().cookie());
            if (e == null) {
                continue; // retired already, its watch closing
            }
            invalidations++;
            if (e.state == State.PENDING) {
                e.invalidatedWhilePending = true; // settled by its registrant
                continue;
            }
            index.remove(e.start);
            bytes -= e.length();
            graveyard = retireLocked(e, EvictionCause.INVALIDATED, graveyard);
        }
        // Published only after the evictions: a thread that sees this value sees them too
        // (both under the lock).
        drainedGeneration = d.generation();
        return graveyard;
    }

    private Entry<R> coveringLocked(long address, long end) {
        Map.Entry<Long, Entry<R>> f = index.floorEntry(address);
        if (f == null) {
            return null;
        }
        Entry<R> e = f.getValue();
        return Long.compareUnsigned(e.end, end) >= 0 ? e : null;
    }

    /** Cached entries that overlap (or, with mergeAdjacent, touch) {@code [start, end)}, in address order. */
    private List<Entry<R>> overlappingLocked(long start, long end) {
        List<Entry<R>> out = null;
        Map.Entry<Long, Entry<R>> f = index.floorEntry(start);
        if (f != null && joins(f.getValue(), start, end)) {
            out = new ArrayList<>();
            out.add(f.getValue());
        }
        NavigableMap<Long, Entry<R>> rest = index.subMap(start, false, end, mergeAdjacent);
        if (!rest.isEmpty()) {
            if (out == null) {
                out = new ArrayList<>();
            }
            out.addAll(rest.values());
        }
        return out == null ? List.of() : out;
    }

    private Entry<R> inFlightOverlappingLocked(long start, long end) {
        for (Entry<R> p : inFlight) {
            if (joins(p, start, end)) {
                return p;
            }
        }
        return null;
    }

    /** Whether e overlaps {@code [start, end)}, or touches it when adjacent ranges merge. */
    private boolean joins(Entry<R> e, long start, long end) {
        if (mergeAdjacent) {
            return Long.compareUnsigned(e.start, end) <= 0 && Long.compareUnsigned(e.end, start) >= 0;
        }
        return Long.compareUnsigned(e.start, end) < 0 && Long.compareUnsigned(e.end, start) > 0;
    }

    private void leaseLocked(Entry<R> e) {
        if (e.leases++ == 0) {
            lru.remove(e);
            leasedEntries++;
        }
    }

    /**
     * Takes e out of service; the caller has removed a cached e from the
     * index. Its watch is closed at once (nothing needs it any more); its
     * registration is deregistered now if unleased, else by the last release.
     */
    private Graveyard<R> retireLocked(Entry<R> e, EvictionCause cause, Graveyard<R> graveyard) {
        evictions[cause.ordinal()]++;
        e.state = State.RETIRED;
        byCookie.remove(e.watch.cookie());
        Graveyard<R> g = orNew(graveyard);
        g.watches.add(e.watch);
        if (e.leases == 0) {
            lru.remove(e);
            g.registrations.add(e);
        }
        return g;
    }

    private Graveyard<R> enforceBoundsLocked(Graveyard<R> graveyard) {
        while ((index.size() > maxEntries || bytes > maxBytes) && !lru.isEmpty()) {
            Iterator<Entry<R>> it = lru.iterator();
            Entry<R> victim = it.next();
            it.remove();
            index.remove(victim.start);
            bytes -= victim.length();
            graveyard = retireLocked(victim, EvictionCause.CAPACITY, graveyard);
        }
        return graveyard;
    }

    // -------------------------------------------------------------- releasing

    final void release(Lease<R> lease) {
        Graveyard<R> graveyard = null;
        lock.lock();
        try {
            if (lease.released) {
                return;
            }
            lease.released = true;
            graveyard = releaseLocked(lease.entry, graveyard);
        } finally {
            lock.unlock();
            bury(graveyard);
        }
    }

    private Graveyard<R> releaseLocked(Entry<R> e, Graveyard<R> graveyard) {
        if (--e.leases > 0) {
            return graveyard;
        }
        leasedEntries--;
        if (e.state == State.RETIRED) {
            graveyard = orNew(graveyard);
            graveyard.registrations.add(e);
            return graveyard;
        }
        lru.add(e);
        return enforceBoundsLocked(graveyard);
    }

    // ---------------------------------------------------------- outside locks

    private static <R> Graveyard<R> orNew(Graveyard<R> g) {
        return g != null ? g : new Graveyard<>();
    }

    /** Closes watches and deregisters; called without the lock. Never throws for one entry's failure. */
    private void bury(Graveyard<R> graveyard) {
        if (graveyard == null) {
            return;
        }
        for (Watch w : graveyard.watches) {
            closeWatch(w);
        }
        for (Entry<R> e : graveyard.registrations) {
            try {
                deregistrar.accept(e.registration);
                deregistrations.incrementAndGet();
            } catch (RuntimeException t) {
                deregisterFailures.incrementAndGet();
                LOG.log(System.Logger.Level.WARNING, name + ": deregister(" + e.registration + ") of " + e
                        + " threw; the registration is dropped from the cache", t);
            }
        }
    }

    private void closeWatch(Watch w) {
        try {
            w.close();
        } catch (MemoryNotifierException t) {
            LOG.log(System.Logger.Level.WARNING, name + ": closing " + w + " failed", t);
        }
    }

    // ------------------------------------------------------------ maintenance

    /**
     * Evicts every cached registration (cause {@link EvictionCause#CLEARED}):
     * the unleased ones are deregistered before this returns, in this
     * thread; leased ones when their last lease is released. Registrations
     * being made concurrently are cached as usual. Thread-safe.
     *
     * @throws IllegalStateException if this cache is closed
     */
    public final void clear() {
        Graveyard<R> graveyard = null;
        lock.lock();
        try {
            if (closed) {
                throw closedException();
            }
            graveyard = clearLocked(graveyard);
        } finally {
            lock.unlock();
            bury(graveyard);
        }
    }

    private Graveyard<R> clearLocked(Graveyard<R> graveyard) {
        for (Entry<R> e : index.values()) {
            graveyard = retireLocked(e, EvictionCause.CLEARED, graveyard);
        }
        index.clear();
        bytes = 0;
        return graveyard;
    }

    /**
     * Closes the cache: evicts everything as {@link #clear()} does, makes
     * later and waiting {@code acquire}s throw, makes a registration that is
     * finishing concurrently be deregistered instead of cached, and
     * unregisters the MXBean. Open leases stay usable and their
     * registrations are deregistered at their release. Does not close the
     * notifier. Idempotent and thread-safe.
     */
    @Override
    public final void close() {
        Graveyard<R> graveyard = null;
        lock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            graveyard = clearLocked(graveyard);
            registrationDone.signalAll();
        } finally {
            lock.unlock();
            bury(graveyard);
        }
        if (mbeanName != null) {
            try {
                ManagementFactory.getPlatformMBeanServer().unregisterMBean(mbeanName);
            } catch (JMException e) {
                LOG.log(System.Logger.Level.WARNING, name + ": unregistering " + mbeanName + " failed", e);
            }
        }
    }

    // ------------------------------------------------------------- reporting

    /**
     * A consistent snapshot of the counters. Thread-safe; works after close.
     *
     * @return the statistics
     */
    public final CacheStats stats() {
        lock.lock();
        try {
            Map<EvictionCause, Long> ev = new EnumMap<>(EvictionCause.class);
            for (EvictionCause c : EvictionCause.values()) {
                ev.put(c, evictions[c.ordinal()]);
            }
            return new CacheStats(hits, misses, registrations, registerFailures, deregistrations.get(),
                    deregisterFailures.get(), invalidations, ev, index.size(), bytes, leasedEntries);
        } finally {
            lock.unlock();
        }
    }

    /**
     * Thread-safe (immutable).
     *
     * @return the name given to the builder, or {@code cache-<n>}
     */
    public final String name() {
        return name;
    }

    /**
     * Thread-safe (immutable).
     *
     * @return the notifier this cache watches its ranges with
     */
    public final MemoryNotifier notifier() {
        return notifier;
    }

    /**
     * Thread-safe.
     *
     * @return true once {@link #close()} has begun
     */
    public final boolean isClosed() {
        return closed;
    }

    /**
     * Thread-safe (immutable).
     *
     * @return the JMX name of this cache's MXBean, or null when it has none
     */
    public final ObjectName objectName() {
        return mbeanName;
    }

    @Override
    public String toString() {
        CacheStats s = stats();
        return String.format("RegistrationCache[%s, %d entries, %d bytes, %d leased, %d hits, %d misses%s]", name,
                s.entries(), s.bytes(), s.leasedEntries(), s.hits(), s.misses(), closed ? ", closed" : "");
    }

    // -------------------------------------------------------------- helpers

    /**
     * Checks a range as {@code MemoryNotifier.watch(address, length)} does.
     *
     * @throws IllegalArgumentException naming the argument at fault
     */
    static void checkRange(String op, long address, long length) {
        if (address == 0) {
            throw new IllegalArgumentException(op + ": address: 0 is not a registrable address");
        }
        if (length <= 0) {
            throw new IllegalArgumentException(op + ": length: must be positive, got " + length);
        }
        if (Long.compareUnsigned(address + length, address) <= 0) {
            throw new IllegalArgumentException(String.format(
                    "%s: length: 0x%x + %d wraps around the end of the address space", op, address, length));
        }
    }

    private IllegalStateException closedException() {
        return new IllegalStateException("cache closed: " + name);
    }

    private ObjectName registerMBean() {
        ObjectName on;
        try {
            on = new ObjectName("io.ummu:type=RegistrationCache,name=" + ObjectName.quote(name));
            MBeanServer server = ManagementFactory.getPlatformMBeanServer();
            server.registerMBean(new Mx(), on);
        } catch (JMException e) {
            throw new IllegalArgumentException("name: cannot register the MXBean of cache '" + name + "': " + e, e);
        }
        return on;
    }

    /** The MXBean: reads one snapshot per attribute. */
    private final class Mx implements RegistrationCacheMXBean {
        @Override
        public String getName() {
            return name;
        }

        @Override
        public String getBackend() {
            return notifier.backend().name();
        }

        @Override
        public long getHits() {
            return stats().hits();
        }

        @Override
        public long getMisses() {
            return stats().misses();
        }

        @Override
        public double getHitRatio() {
            return stats().hitRatio();
        }

        @Override
        public long getRegistrations() {
            return stats().registrations();
        }

        @Override
        public long getRegisterFailures() {
            return stats().registerFailures();
        }

        @Override
        public long getDeregistrations() {
            return stats().deregistrations();
        }

        @Override
        public long getDeregisterFailures() {
            return stats().deregisterFailures();
        }

        @Override
        public long getInvalidations() {
            return stats().invalidations();
        }

        @Override
        public long getEvictionsInvalidated() {
            return stats().evictions(EvictionCause.INVALIDATED);
        }

        @Override
        public long getEvictionsMerged() {
            return stats().evictions(EvictionCause.MERGED);
        }

        @Override
        public long getEvictionsCapacity() {
            return stats().evictions(EvictionCause.CAPACITY);
        }

        @Override
        public long getEvictionsCleared() {
            return stats().evictions(EvictionCause.CLEARED);
        }

        @Override
        public int getEntries() {
            return stats().entries();
        }

        @Override
        public long getBytes() {
            return stats().bytes();
        }

        @Override
        public int getLeasedEntries() {
            return stats().leasedEntries();
        }

        @Override
        public int getMaxEntries() {
            return maxEntries;
        }

        @Override
        public long getMaxBytes() {
            return maxBytes;
        }

        @Override
        public void clear() {
            if (!closed) {
                AbstractRegistrationCache.this.clear();
            }
        }
    }
}
