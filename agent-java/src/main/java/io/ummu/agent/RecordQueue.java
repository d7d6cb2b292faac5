package io.ummu.agent;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.atomic.AtomicReference;

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
 * writes the fields with plain stores and publishes them with a release
 * store of the slot's sequence word, {@code s + 1}; the consumer reads that
 * word with an acquire load, then the fields. The consumer never writes a
 * slot: a line that only the producers write and the consumer only reads
 * moves between cores once per lap instead of twice, and the hook that
 * writes it waits for that less often.
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
 * the records after it may depend on it), spinning briefly, then yielding.
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
        void accept(int op, int kind, long address, long size, long time, Object ref);
    }

    private static final VarHandle LONGS = MethodHandles.arrayElementVarHandle(long[].class);

    /** Records the consumer takes between two stores of its index, within a drain. */
    static final int PUBLISH_EVERY = 256;

    private static final long HAS_REF = 1L << 15;

    /*
     * The two indexes live in one array, 128 bytes apart and away from the
     * array header, so that producers (which add to the producer index) and
     * the consumer (which stores the consumer index every few hundred
     * records) do not invalidate each other's cache line on every record.
     */
    private static final int PRODUCER = 16;
    private static final int CONSUMER = 32;
    private final long[] indexes = new long[48];

    /*
     * A slot is four longs in one array, 32 bytes, two slots to a cache line:
     *
     *   slots[4i]      sequence word: s + 1 once it holds record s (0: never written)
     *   slots[4i + 1]  time << 16 | hasRef << 15 | kind << 8 | op
     *                  (time: ms since the epoch, or anything below 2^47 in size)
     *   slots[4i + 2]  address
     *   slots[4i + 3]  size
     *
     * One array of slots, not one array per field: a record written by a
     * producer is read by the consumer on another core, and the next lap's
     * producer must take the line back, so each line a record touches is a
     * transfer between cores. The reference (a thread's name, a flush latch) is the one field
     * that cannot live in a long; it has an array of its own, written only
     * by the records that carry one.
     */
    private static final int SLOT_SHIFT = 2;
    private final int capacity;
    private final int mask;
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
    /** Records that went through the overflow; written by the consumer, read by anyone (tests, diagnostics). */
    private volatile long overflowCount;

    private static final class Overflow {
        final long seq;
        final long word;
        final long address;
        final long size;
        final Object ref;
        Overflow below;

        Overflow(long seq, long word, long address, long size, Object ref) {
            this.seq = seq;
            this.word = word;
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
        this.slots = new long[capacity << SLOT_SHIFT];
        this.ref = new Object[capacity];
    }

    int capacity() {
        return capacity;
    }

    // ----------------------------------------------------------- producers

    /**
     * Appends a record; any thread, never waits, never fails (but for an
     * OutOfMemoryError on the overflow path). {@code op} is 0..255,
     * {@code kind} 0..127, {@code t} below 2^47 in magnitude (a time in ms),
     * {@code r} null unless the record needs it.
     *
     * @return the record's sequence number
     */
    public long offer(int op, int kind, long addr, long sz, long t, Object r) {
        long s = xaddProducerIndex();
        int i = (int) s & mask;
        int at = i << SLOT_SHIFT;
        long word = (t << 16) | (r != null ? HAS_REF : 0) | ((kind & 0x7f) << 8) | (op & 0xff);
        if (s - capacity < lvConsumerIndex()) {
            slots[at + 1] = word;
            slots[at + 2] = addr;
            slots[at + 3] = sz;
            if (r != null) {
                ref[i] = r;
            }
            soSequence(at, s + 1);
        } else {
            // The consumer has not taken record s - capacity yet: a full lap behind.
            Overflow o = new Overflow(s, word, addr, sz, r);
            Overflow top;
            do {
                top = overflowTop.get();
                o.below = top;
            } while (!overflowTop.compareAndSet(top, o));
        }
        return s;
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

    private long xaddProducerIndex() {
        return (long) LONGS.getAndAdd(indexes, PRODUCER, 1L);
    }

    private long lvSequence(int at) {
        return (long) LONGS.getAcquire(slots, at);
    }

    private void soSequence(int at, long v) {
        LONGS.setRelease(slots, at, v);
    }

    // ------------------------------------------------------------ consumer

    /** Consumer only: true if no record has been offered that it has not taken. */
    boolean isEmpty() {
        return lvProducerIndex() == next;
    }

    /**
     * Consumer only: takes, in sequence order, every record whose number was
     * taken before this call (so at least every offer that returned before
     * it), handing each to {@code sink}. A record is taken before it is handed
     * over: if {@code sink} throws, that record is not handed over again.
     *
     * @return the number of records taken
     */
    public int drain(Sink sink) {
        long limit = lvProducerIndex();
        long start = next;
        long s = start;
        int spins = 0;
        try {
            while (s < limit) {
                int i = (int) s & mask;
                int at = i << SLOT_SHIFT;
                if (lvSequence(at) == s + 1) {
                    long word = slots[at + 1];
                    long a = slots[at + 2];
                    long sz = slots[at + 3];
                    Object r = null;
                    if ((word & HAS_REF) != 0) {
                        r = ref[i];
                        if (!(r instanceof String)) {
                            // A flush latch or a sampled stack is not kept alive by the
                            // ring; a thread's name, in most records, is left for the
                            // next lap to overwrite (one write fewer to a shared line).
                            ref[i] = null;
                        }
                    }
                    s++;
                    spins = 0;
                    if ((s & (PUBLISH_EVERY - 1)) == 0) {
                        soConsumerIndex(s);
                    }
                    sink.accept((int) word & 0xff, ((int) word >>> 8) & 0x7f, a, sz, word >> 16, r);
                    continue;
                }
                Overflow o = takeOverflow(s);
                if (o == null) {
                    // Its producer has taken the number but not yet published the record.
                    if (++spins < 1000) {
                        Thread.onSpinWait();
                    } else {
                        Thread.yield();
                    }
                    continue;
                }
                // The producer of s found the slot occupied and never wrote it.
                s++;
                spins = 0;
                overflowCount++;
                if ((s & (PUBLISH_EVERY - 1)) == 0) {
                    soConsumerIndex(s);
                }
                sink.accept((int) o.word & 0xff, ((int) o.word >>> 8) & 0x7f, o.address, o.size, o.word >> 16, o.ref);
            }
        } finally {
            next = s;
            soConsumerIndex(s);
        }
        return (int) (s - start);
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
