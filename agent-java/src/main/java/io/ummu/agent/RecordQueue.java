package io.ummu.agent;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

/**
 * The tracker's hook records: a multi-producer, single-consumer queue of
 * preallocated primitive slots, so that a hook call allocates nothing and a
 * backlog of records is not something the garbage collector has to copy.
 *
 * <h2>Protocol</h2>
 * Every record gets a sequence number from one {@code getAndAdd} of the
 * producer index (wait-free: a producer never retries, never waits). Record
 * {@code s} belongs in slot {@code s & mask}. The slot is the producer's to
 * write once the consumer has taken record {@code s - capacity}, which the
 * producer learns from the consumer index (a volatile load; the consumer
 * stores it with release order after reading the records below it, every
 * {@link #PUBLISH_EVERY} records and at the end of a drain). The producer
 * writes the record's address word with a plain store and publishes the
 * record with a release store of its size word, which carries the lap of
 * {@code s} (its tag); the consumer reads the size word with an acquire
 * load, and only if the tag is that of record {@code s}, the address word.
 * The consumer does not write a slot (but for the tag of a record that went
 * through the overflow, below): a line that only the producers write and the
 * consumer only reads moves between cores once per lap instead of twice, and
 * the hook that writes it waits for that less often.
 *
 * <p>A slot is 16 bytes, so the three records of a short-lived buffer
 * (allocation, release begun, release done) fill three quarters of one cache
 * line. When the dispatcher runs on another core, every line of slots the
 * allocating thread writes has to come back from that core, and on the
 * machines measured that transfer costs more than all of the hook's
 * instructions: the earlier 32-byte slots (a sequence word, a word of op,
 * kind and time, the address and the size) cost one and a half lines per
 * buffer. A record
 * whose fields do not fit the packed form (an address of 2^56 or more, as
 * with arm64 pointer tags or x86 linear address masking; a size of 2^47 or
 * more, or negative) goes through the overflow below, as an object, whole:
 * kept, only slower.
 *
 * <p>A producer whose slot is still occupied (the consumer is a whole lap,
 * {@code capacity} records, behind, or has not said yet that it is not) must not wait: the release hooks run on
 * the Reference Handler and in Cleaners. It pushes the record as an object
 * onto an overflow stack instead, with its sequence number. The consumer takes
 * records strictly in sequence order, from the slot or, when the slot does
 * not hold it, from the overflow; so records come out in the order their
 * sequence numbers were taken, whichever way each one went. That order is
 * all the tracker needs: a record whose offer returned before another's began
 * has the smaller number.
 *
 * <p>Between taking its number and publishing, a producer holds no lock but
 * can be descheduled; the consumer then waits for that one record (it has to:
 * the records after it may depend on it), spinning briefly, then parking
 * between looks. Nothing between the claim and the publication calls out or
 * allocates (but for the rare overflow past {@link #SPARE_MARGIN}), yet a
 * StackOverflowError can still strike there, and the hooks swallow it; so the
 * consumer's wait is bounded: past its limit, the drain returns and says
 * which record never came ({@link #stuckAt}), and the tracker gives up
 * ({@link #dropBacklog}).
 *
 * <p>Ordering in names, as JCTools does: {@code lv} volatile (or acquire)
 * load, {@code so} ordered (release) store, {@code lp}/{@code sp} plain,
 * {@code xadd} atomic add.
 *
 * <p>Public only for the jcstress proof of its hand-off
 * ({@code io.ummu.jcstress.RecordQueueHandOffTest}, {@code RecordQueueOverflowTest}); not an API.
 */
public final class RecordQueue {
    static final int OP_ALLOC = 0;
    static final int OP_BEGIN = 1;
    static final int OP_END = 2;
    static final int OP_FLUSH = 3;

    /** Receives the records in sequence order; called on the consumer thread only. */
    public interface Sink {
        void accept(int op, int kind, long address, long size, Object ref);
    }

    private static final VarHandle LONGS = MethodHandles.arrayElementVarHandle(long[].class);

    /** Records the consumer takes between two stores of its index, within a drain. */
    static final int PUBLISH_EVERY = 256;

    /*
     * A slot is two longs, 16 bytes, four slots to a cache line:
     *
     *   slots[2i]      size << 16 | tag: published last, with a release store
     *   slots[2i + 1]  address << 8 | hasRef << 7 | kind << 2 | op
     *
     * The tag of record s is its lap plus one, modulo 2^16: ((s >>> log2(capacity)) + 1)
     * & 0xffff. When the consumer comes to record s, its slot holds record s,
     * or the record a lap before it (whose tag differs by one), or nothing yet
     * (0, in the first lap, whose tag is 1): producers never run a lap ahead
     * of the consumer, so no record of a later lap can be there, and when a
     * record goes through the overflow instead of its slot, the consumer
     * writes that record's tag into the slot as it takes it, so no slot keeps
     * a record older than the lap before (whose tag would come round again
     * after 2^16 laps).
     *
     * The reference (a thread's name, a flush latch) is the one field that
     * cannot live in a long; it has an array of its own, written only by the
     * records that carry one, and only when it differs from what the slot
     * already holds (a thread's name, left there by the consumer: see drain).
     */
    private static final int SLOT_SHIFT = 1;
    private static final long HAS_REF = 1L << 7;
    private static final int TAG_MASK = 0xffff;
    /** Largest kind: the packed form has five bits for it. */
    static final int MAX_KIND = 31;
    /** Largest op: two bits. */
    static final int MAX_OP = 3;

    /**
     * A producer allocates its overflow object before claiming a number once
     * fewer than this many slots look free, so that only this many producers
     * racing into the last slots can still allocate after the claim.
     */
    static final int SPARE_MARGIN = 64;

    /** Consumer spins this many times on an unpublished record before it parks between looks. */
    static final int WAIT_SPINS = 1000;
    /** How long the consumer parks between looks at an unpublished record. */
    static final long WAIT_PARK_NANOS = 50_000L;
    /**
     * The most one look counts toward the wait limit. A GC pause, or the
     * dispatcher itself descheduled, stops the producer too and must not be
     * counted as the producer's failure: only time in which both could run is.
     */
    static final long WAIT_LOOK_CREDIT_NANOS = 4 * WAIT_PARK_NANOS;

    /*
     * The two indexes live in one array, 128 bytes apart and away from the
     * array header, so that producers (which add to the producer index) and
     * the consumer (which stores the consumer index every few hundred
     * records) do not invalidate each other's cache line on every record.
     */
    private static final int PRODUCER = 16;
    private static final int CONSUMER = 32;
    private final long[] indexes = new long[48];

    private final int capacity;
    private final int mask;
    private final int lapShift;
    private final long[] slots;
    private final Object[] ref;

    /** Records whose slot was occupied: a Treiber stack, pushed by producers, emptied by the consumer. */
    private final AtomicReference<Overflow> overflowTop = new AtomicReference<>();
    /**
     * Consumer-confined: overflowed records taken off the stack, in ascending
     * sequence order. A producer pushes right after taking its number, so the
     * stack, reversed, is nearly always in order already: appending is O(1),
     * and a backlog that spills into objects costs the consumer little more
     * per record than the ring does (a hash map here made the consumer slower
     * than the producer once behind, and it never caught up).
     */
    private final java.util.ArrayDeque<Overflow> pending = new java.util.ArrayDeque<>();
    /** Consumer-confined: the rare overflowed record that came off the stack out of order, by sequence number + 1. */
    private final AddressMap<Overflow> stragglers = new AddressMap<>();
    /** Consumer-confined: the next sequence number to take. */
    private long next;
    /** Consumer-confined: the record a drain gave up waiting for, or -1. */
    private long stuck = -1;
    /** Set by {@link #close}: a waiting drain returns. */
    private volatile boolean closed;
    /** Records that went through the overflow; written by the consumer, read by anyone (tests, diagnostics). */
    private volatile long overflowCount;

    private static final class Overflow {
        /** Set after the claim, before the push that publishes the object. */
        long seq;
        final int op;
        final int kind;
        final long address;
        final long size;
        final Object ref;
        Overflow below;

        Overflow(int op, int kind, long address, long size, Object ref) {
            this.op = op;
            this.kind = kind;
            this.address = address;
            this.size = size;
            this.ref = ref;
        }
    }

    /** @param capacity slots, a power of two, at least 2 */
    public RecordQueue(int capacity) {
        if (capacity < 2 || Integer.bitCount(capacity) != 1) {
            throw new IllegalArgumentException("capacity: " + capacity + " is not a power of two >= 2");
        }
        this.capacity = capacity;
        this.mask = capacity - 1;
        this.lapShift = Integer.numberOfTrailingZeros(capacity);
        this.slots = new long[capacity << SLOT_SHIFT];
        this.ref = new Object[capacity];
    }

    int capacity() {
        return capacity;
    }

    // ----------------------------------------------------------- producers

    /**
     * Appends a record; any thread, never waits, never fails (but for an
     * OutOfMemoryError on the overflow path). {@code op} is 0..{@value #MAX_OP},
     * {@code kind} 0..{@value #MAX_KIND} (higher bits are dropped), {@code r}
     * null unless the record needs it. Any address and size are kept; those
     * of a Linux process (address below 2^56, size 0 to below 2^47) take the
     * fast way, through a slot.
     *
     * @return the record's sequence number
     */
    public long offer(int op, int kind, long addr, long sz, Object r) {
        // Between taking its number and publishing the record a producer must
        // not fail: a number taken and never published stops the consumer (it
        // waits for that record, then gives up; see drain). So everything that
        // can call out, allocate or throw comes before the claim: the consumer
        // index is read first (it only grows, so an older value only sends a
        // record to the overflow more often, never into an occupied slot), and
        // the overflow object is allocated first when the ring looks nearly
        // full or the record does not fit a slot.
        op &= MAX_OP;
        kind &= MAX_KIND;
        boolean fits = (addr >>> 56) == 0 && (sz >>> 47) == 0;
        long c = (long) LONGS.getVolatile(indexes, CONSUMER);
        Overflow spare = null;
        if (!fits || (long) LONGS.getVolatile(indexes, PRODUCER) - c >= capacity - SPARE_MARGIN) {
            spare = new Overflow(op, kind, addr, sz, r);
        }
        long s = (long) LONGS.getAndAdd(indexes, PRODUCER, 1L);
        int i = (int) s & mask;
        if (fits && s - capacity < c) {
            int at = i << SLOT_SHIFT;
            slots[at + 1] = addr << 8 | (r != null ? HAS_REF : 0) | kind << 2 | op;
            if (r != null && ref[i] != r) {
                ref[i] = r;
            }
            LONGS.setRelease(slots, at, sz << 16 | tag(s));
        } else {
            // The consumer had not taken record s - capacity yet (a full lap
            // behind), or the record does not fit a slot. Allocating here is
            // the one remaining window (more than SPARE_MARGIN producers
            // filled the ring between the look above and the claim).
            Overflow o = spare != null ? spare : new Overflow(op, kind, addr, sz, r);
            o.seq = s;
            Overflow top;
            do {
                top = overflowTop.get();
                o.below = top;
            } while (!overflowTop.compareAndSet(top, o));
        }
        return s;
    }

    /** The tag of record {@code s} in its slot's size word: its lap plus one, 16 bits. */
    private long tag(long s) {
        return ((s >>> lapShift) + 1) & TAG_MASK;
    }

    /**
     * Test only: takes a sequence number and never publishes a record for it,
     * as a producer that failed (a StackOverflowError, an OutOfMemoryError)
     * between its claim and its publication would.
     */
    long claimWithoutPublishing() {
        return (long) LONGS.getAndAdd(indexes, PRODUCER, 1L);
    }

    /** Sequence numbers taken so far (the next record's number). */
    long lvProducerIndex() {
        return (long) LONGS.getVolatile(indexes, PRODUCER);
    }

    /** Sequence numbers the consumer has finished taking (the next one it will take). */
    long lvConsumerIndex() {
        return (long) LONGS.getVolatile(indexes, CONSUMER);
    }

    long overflowCount() {
        return overflowCount;
    }

    private void soConsumerIndex(long s) {
        LONGS.setRelease(indexes, CONSUMER, s);
    }

    private long lvSizeWord(int at) {
        return (long) LONGS.getAcquire(slots, at);
    }

    // ------------------------------------------------------------ consumer

    /** Consumer only: true if no record has been offered that it has not taken. */
    boolean isEmpty() {
        return lvProducerIndex() == next;
    }

    /** As {@link #drain(Sink, long)} with no time limit (the jcstress proofs). */
    public int drain(Sink sink) {
        return drain(sink, Long.MAX_VALUE);
    }

    /**
     * Consumer only: takes, in sequence order, every record whose number was
     * taken before this call (so at least every offer that returned before
     * it), handing each to {@code sink}. A record is taken before it is handed
     * over: if {@code sink} throws, that record is not handed over again.
     *
     * <p>Returns early, with the records before it taken, if the next record
     * is not published within {@code maxWaitNanos} of the consumer waiting for
     * it ({@link #stuckAt()} then says which; each look counts at most
     * {@link #WAIT_LOOK_CREDIT_NANOS}, so a GC pause does not use up the
     * limit), or once {@link #close} was called while it waits.
     *
     * @return the number of records taken
     */
    public int drain(Sink sink, long maxWaitNanos) {
        long limit = lvProducerIndex();
        long start = next;
        long s = start;
        int spins = 0;
        long lastLook = 0;
        long waited = 0;
        try {
            while (s < limit) {
                int i = (int) s & mask;
                int at = i << SLOT_SHIFT;
                long sizeWord = lvSizeWord(at);
                if ((sizeWord & TAG_MASK) == tag(s)) {
                    long word = slots[at + 1];
                    Object r = null;
                    if ((word & HAS_REF) != 0) {
                        r = ref[i];
                        if (!(r instanceof String)) {
                            // A flush latch or a sampled stack is not kept alive by the
                            // ring; a thread's name, in most records, is left for the
                            // producer to find there (no write to a shared line then).
                            ref[i] = null;
                        }
                    }
                    s++;
                    spins = 0;
                    if ((s & (PUBLISH_EVERY - 1)) == 0) {
                        soConsumerIndex(s);
                    }
                    sink.accept((int) word & MAX_OP, (int) (word >>> 2) & MAX_KIND, word >>> 8, sizeWord >>> 16, r);
                    continue;
                }
                Overflow o = takeOverflow(s);
                if (o == null) {
                    // Its producer has taken the number but not yet published the
                    // record (the slot still holds the previous lap's tag):
                    // descheduled, or failed in between and never will.
                    // Spin briefly, then park between looks; give up after the limit.
                    if (++spins < WAIT_SPINS) {
                        Thread.onSpinWait();
                        continue;
                    }
                    long now = System.nanoTime();
                    if (spins == WAIT_SPINS) {
                        waited = 0;
                    } else {
                        waited += Math.min(now - lastLook, WAIT_LOOK_CREDIT_NANOS);
                        if (waited >= maxWaitNanos) {
                            stuck = s;
                            break;
                        }
                    }
                    lastLook = now;
                    if (closed) {
                        break;
                    }
                    LockSupport.parkNanos(this, WAIT_PARK_NANOS);
                    continue;
                }
                // The producer of s found the slot occupied, or its record did not
                // fit, and never wrote it. The slot still holds an older record;
                // left so for 2^16 laps, its tag would come round to a later
                // record's. So the consumer marks it as holding record s: no
                // producer writes it before the consumer index, stored with
                // release order after this, has passed s.
                slots[i << SLOT_SHIFT] = tag(s);
                s++;
                spins = 0;
                overflowCount++;
                if ((s & (PUBLISH_EVERY - 1)) == 0) {
                    soConsumerIndex(s);
                }
                sink.accept(o.op, o.kind, o.address, o.size, o.ref);
            }
        } finally {
            next = s;
            soConsumerIndex(s);
        }
        return (int) (s - start);
    }

    /**
     * Consumer only: the sequence number of the record a drain gave up
     * waiting for, or -1.
     */
    long stuckAt() {
        return stuck;
    }

    /** Any thread: a drain waiting for an unpublished record returns at its next look. */
    void close() {
        closed = true;
    }

    /**
     * Consumer only: forgets every record not taken yet, handing each
     * reference still held (a flush latch among them) to {@code refs}, and
     * tells producers the ring is empty: nothing queued is ever taken, and
     * what is still referenced is let go. For giving up after a record that
     * never came: the records after it cannot be applied without it. The
     * queue is finished after this: a producer descheduled inside an offer
     * may still write a slot later, so it must not be drained again.
     */
    void dropBacklog(java.util.function.Consumer<Object> refs) {
        long limit = lvProducerIndex();
        for (int i = 0; i < ref.length; i++) {
            Object r = ref[i];
            if (r != null) {
                ref[i] = null;
                refs.accept(r);
            }
        }
        for (Overflow o = overflowTop.getAndSet(null); o != null; o = o.below) {
            if (o.ref != null) {
                refs.accept(o.ref);
            }
        }
        for (Overflow o; (o = pending.pollFirst()) != null; ) {
            if (o.ref != null) {
                refs.accept(o.ref);
            }
        }
        stragglers.drain(o -> {
            if (o.ref != null) {
                refs.accept(o.ref);
            }
        });
        next = limit;
        soConsumerIndex(limit);
    }

    private Overflow takeOverflow(long s) {
        Overflow o = takeTaken(s);
        if (o != null) {
            return o;
        }
        Overflow top = overflowTop.getAndSet(null);
        if (top == null) {
            return null;
        }
        // Reverse the stack into push order, then file each record.
        Overflow first = null;
        while (top != null) {
            Overflow below = top.below;
            top.below = first;
            first = top;
            top = below;
        }
        for (Overflow p = first; p != null; ) {
            Overflow next = p.below;
            p.below = null;
            Overflow last = pending.peekLast();
            if (last == null || p.seq > last.seq) {
                pending.addLast(p);
            } else {
                stragglers.put(p.seq + 1, p);
            }
            p = next;
        }
        return takeTaken(s);
    }

    private Overflow takeTaken(long s) {
        Overflow head = pending.peekFirst();
        if (head != null && head.seq == s) {
            return pending.pollFirst();
        }
        return stragglers.isEmpty() ? null : stragglers.remove(s + 1);
    }
}
