package io.ummu.agent;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

import io.ummu.BufferEvent;
import io.ummu.BufferKind;
import io.ummu.BufferListener;
import io.ummu.Invalidation;
import io.ummu.Watch;
import io.ummu.agent.bootstrap.UmmuHooks;

/**
 * The registry of live off-heap buffers and the dispatcher that turns hook
 * calls and kernel invalidations into {@link BufferEvent}s.
 *
 * <h2>Threads</h2>
 * The hooks ({@link #allocated}, {@link #releasing}, {@link #released}) run
 * on application threads, on the Reference Handler thread and in Cleaners.
 * They only append a record to a multi-producer queue of preallocated
 * primitive slots ({@link RecordQueue}: one atomic add, plain stores, one
 * release store; no object unless the dispatcher is a whole ring behind) and, if
 * the dispatcher sleeps, unpark it: no lock, no
 * blocking, no direct buffer, no call into native code, nothing that can
 * throw except an OutOfMemoryError, which the bridge swallows. Because a hook
 * never calls anything that could allocate a direct buffer, there is no
 * re-entrancy to guard against except the dispatcher's own allocations (the
 * notifier's buffers, and what a listener allocates), which the allocation
 * hook ignores by a plain thread identity check: the dispatcher must not
 * pause for itself to catch up. Releases on the dispatcher thread are queued
 * like any other: a listener that frees a tracked buffer (invokeCleaner,
 * Arena.close) must see it RELEASED, and its unmap must not count as
 * DANGLING. That is safe: an offer never waits, and a drain takes only the
 * records numbered before it began, so the dispatcher never waits for a
 * record it queues itself; the next round takes them.
 * One exception to "only append": an allocating thread that finds the
 * dispatcher far behind ({@link #BACKLOG_LIMIT}) pauses, a bounded number
 * of short timed parks; it never waits for anything to happen.
 * A record whose number was taken but that never came (its producer failed
 * in between) is waited for at most {@link #STUCK_NANOS} of time in which
 * its producer could have run (a GC pause does not count, see
 * {@code RecordQueue.drain}); then tracking is turned off for good
 * ({@link #giveUp}).
 * Everything else (the registry, watch/unwatch, drains, listeners) is
 * confined to the one dispatcher thread, "ummu-buffers".
 *
 * <h2>Waking the dispatcher: once per quiet spell, not once per record</h2>
 * An unpark is a system call, and the dispatcher drains faster than any one
 * thread fills the queue; if it parked after every round, each record would
 * pay for waking it (half the allocating thread's time at 4 KiB). So the
 * dispatcher lingers: after a round it parks for {@link #LINGER_NANOS} with
 * {@link #sleeping} false, and producers, seeing it false, do not unpark it;
 * records arriving meanwhile wait for the end of that short park and are
 * taken as one batch. Only after {@link #IDLE_ROUNDS} rounds in a row that
 * found nothing does it set {@link #sleeping} and park without a timeout;
 * from then on the next record unparks it (Dekker: the dispatcher stores
 * {@code sleeping} then reads the queue's producer index, a producer adds to
 * that index then reads {@code sleeping}, all volatile, so at least one sees the other and no
 * record is left behind). The first records after such a quiet spell, and a
 * flush, are finished without lingering. Kernel events wake the dispatcher
 * directly (the notifier's waiter thread unparks it whatever it is doing).
 *
 * <h2>Ordering: why a release is reported one round late</h2>
 * A release is two records: RELEASING, queued before the JDK calls
 * free/munmap, and RELEASED, queued after it returned. Each dispatcher round
 * does, in this order: (1) drain the kernel; (2) take every queued record;
 * (3) apply ALLOCATED and RELEASING records (a RELEASING marks the buffer as
 * no longer live); (4) classify the kernel invalidations from (1); (5)
 * finish the RELEASED records taken in the <em>previous</em> round: unwatch,
 * then deliver RELEASED.
 * <ul>
 * <li>No false DANGLING for the JDK's own release: its RELEASING record was
 * queued before the munmap, hence before the kernel queued the invalidation,
 * hence before the drain in (1) returned it; (2) takes it, so (4) sees the
 * buffer as releasing and reports UNMAPPED, not DANGLING.</li>
 * <li>The release's own unmap is not lost: the munmap returned before the
 * RELEASED record was queued, so the kernel had queued its invalidation before
 * the round after the one that took the record, whose drain (1) returns it.
 * Only then (5) unwatches. That drain is a forced one (a real read, not the
 * counter check): the userfaultfd backend publishes the counter a moment
 * after the kernel lets munmap return, and only its read waits for that.</li>
 * <li>Addresses are reused by malloc: a buffer's RELEASING and RELEASED records
 * carry only its address, and another buffer can be allocated at that address
 * in between. A buffer at address X can only be allocated after the previous
 * one's free of X returned, so buffers releasing at X finish in the order they
 * began: RELEASED(X) completes the oldest releasing buffer at X.</li>
 * <li>A buffer allocated and released within one batch is never watched: it
 * is not live by the time the round would watch it, so no kernel event can be
 * attributed to it. It never enters the live registry, its RELEASED event is
 * still delivered (one round later, like every release), and a round that
 * finishes only such releases needs no forced drain. This is the common case
 * of a short-lived buffer, and it costs no kernel operation at all.</li>
 * <li>A buffer is watched one round after the round that took its allocation
 * (it is in the registry from that first round on), if it is still live
 * then. Watching at the end of its first round would watch every buffer
 * whose allocation fell just before a round's cut and its release just
 * after: with buffers allocated and freed in a stream, about one per round,
 * each costing a watch, an unwatch and a forced drain (tens of µs with
 * userfaultfd) for a buffer that lived a microsecond. A buffer whose
 * RELEASING arrives by the end of the next round is never watched. The
 * flush still covers it: a flush is finished one round after it was
 * taken, after that round has watched what the flush's round published.</li>
 * </ul>
 */
final class Tracker extends UmmuHooks {
    private static final int OP_ALLOC = RecordQueue.OP_ALLOC;
    private static final int OP_BEGIN = RecordQueue.OP_BEGIN;
    private static final int OP_END = RecordQueue.OP_END;
    private static final int OP_FLUSH = RecordQueue.OP_FLUSH;

    private static final BufferKind[] KINDS = BufferKind.values();

    /**
     * How long the dispatcher parks between rounds while records keep coming
     * (the actual park is longer by the kernel's timer slack, typically 50 µs).
     * Longer batches more records per wake-up; twice it is how late a RELEASED
     * event can be while the dispatcher lingers (the round that takes the
     * release finishes it in the next), about how late a buffer's time
     * stamp can be ({@link #takenMillis}), and about half the time before a
     * new buffer is watched. Kernel events and flushes interrupt it. Each
     * wake-up costs the process more than its system calls (at 4 KiB in a
     * tight loop, 200 µs cost about 10% more CPU per buffer than 500 µs;
     * 1 ms saved nothing more).
     */
    static final long LINGER_NANOS = 500_000L;

    /** Rounds in a row that find nothing before the dispatcher sleeps until a producer wakes it. */
    static final int IDLE_ROUNDS = 20;

    /**
     * A round that took at least this many records does not linger: the
     * dispatcher is behind. Queued records that live through a young
     * collection are copied, and a backlog that is promoted makes every
     * later collection slower still, so catching up comes first.
     */
    static final int BEHIND_RECORDS = 256;

    /**
     * Slots of the record queue (16 bytes each plus a 4-byte reference: 640 KiB).
     * A round of the dispatcher takes a few thousand records while it keeps up
     * (one {@link #LINGER_NANOS} of a thread allocating 4 KiB buffers in a tight
     * loop); 32 Ki records are 3 ms of that loop, about a scheduler time slice
     * on a busy machine. Beyond a full ring records still go in, as objects
     * (see {@link RecordQueue}).
     */
    static final int QUEUE_CAPACITY = 1 << 15;

    /**
     * Records queued but not yet taken beyond which an allocating thread
     * pauses (up to {@link #MAX_PAUSES} parks of {@link #PAUSE_NANOS}, until
     * the backlog is half this) so that a dispatcher starved of CPU can catch
     * up: without it, a thread
     * allocating in a tight loop on a loaded machine can queue records faster
     * than the dispatcher gets to run, and the queue grows without bound.
     * The ring's size: records beyond it spill into objects (garbage, and
     * slower for the dispatcher to take), so a full ring is the point to let
     * the dispatcher catch up. Only the allocation hook pauses: release hooks run on the
     * Reference Handler and in Cleaners, which must never be held up.
     *
     * <p>A timed park, not {@code Thread.yield()}: when the dispatcher is
     * starved the machine is busy, a yield then often returns at once and the
     * thread spent its pause in system calls (a JFR profile on the 2-core test
     * machine, load 12: a fifth of the allocating thread's samples in
     * {@code yield0}) while the backlog did not shrink. A park gives its core
     * away for the whole pause. Bounded: at most {@code MAX_PAUSES} parks
     * (with the kernel's timer slack, about 1 ms) per allocation, however
     * starved the dispatcher; no deadlock is possible, nothing is awaited.
     */
    static final long BACKLOG_LIMIT = QUEUE_CAPACITY;

    /**
     * How long the dispatcher waits for a record whose number was taken but
     * that was never published before it gives up on tracking (see
     * {@link #giveUp}). A descheduled producer publishes within a scheduler
     * delay; one that never does failed between its claim and its
     * publication (a StackOverflowError the hook swallowed), and every record
     * after it would otherwise wait forever behind it.
     */
    static final long STUCK_NANOS = 1_000_000_000L;
    static final int MAX_PAUSES = 16;
    static final long PAUSE_NANOS = 20_000L;

    /** The {@code ref} of an allocation record whose stack was sampled (otherwise the ref is the thread's name). */
    static final class Sampled {
        final String thread;
        final StackTraceElement[] stack;

        Sampled(String thread, StackTraceElement[] stack) {
            this.thread = thread;
            this.stack = stack;
        }
    }

    private final Options options;
    private final KernelSource source;
    private final boolean[] kindEnabled = new boolean[KINDS.length];
    private final long minSize;
    private final int stackSampling;
    private final AtomicLong sampleCounter = new AtomicLong();
    private final Thread dispatcher;
    private volatile boolean stopping;
    /** Set when the dispatcher gave up on a record that never came: tracking is off for good. */
    private volatile boolean failed;

    /** The hooks' records; the dispatcher is its one consumer. */
    final RecordQueue queue = new RecordQueue(QUEUE_CAPACITY);
    /**
     * Set by the dispatcher before it parks without a timeout, read by
     * producers after they enqueue (Dekker: both volatile); the producer that
     * clears it unparks. False while it runs or lingers: then nobody unparks it.
     */
    private volatile boolean sleeping;
    private static final java.lang.invoke.VarHandle SLEEPING;

    static {
        try {
            SLEEPING = java.lang.invoke.MethodHandles.lookup().findVarHandle(Tracker.class, "sleeping", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    // Dispatcher-confined state.
    /** Buffers that outlived the batch that allocated them; read by any thread. */
    private final Map<Long, Entry> live = new ConcurrentHashMap<>(); // written by the dispatcher only
    /**
     * Buffers allocated in the batch being applied, but for the latest
     * (freshLatest below); published to live at its end.
     */
    private final AddressMap<Entry> fresh = new AddressMap<>();
    /** Buffers the previous round published: watched at the end of this round's step (3) if still live. */
    private final List<Entry> young = new ArrayList<>();
    /**
     * The oldest releasing buffer at each address, later ones chained by
     * Entry.nextReleasing; empty while releasingOnly below holds the one.
     */
    private final AddressMap<Entry> releasing = new AddressMap<>();
    /*
     * A short-lived buffer is usually allocated and released within one
     * batch, while no other buffer is releasing. Such a buffer stays in these
     * two fields and never enters the maps above (which would cost a put, a
     * lookup and a removal in each). freshLatest belongs to fresh (the
     * batch's latest allocation; fresh holds nothing at its address);
     * releasingOnly belongs to releasing (the oldest releasing buffer at its
     * address, set only while the map is empty).
     */
    private Entry freshLatest;
    private Entry releasingOnly;
    /**
     * The wall clock (ms since the epoch) when the dispatcher applied the
     * round's first allocation, or 0 before it: every buffer the round
     * takes gets this stamp. The hooks do not read the clock
     * ({@code System.currentTimeMillis()} costs 20-40 ns, more under a
     * hypervisor: as much as the rest of the hook) and the records have no
     * room for a time. So the stamp is never before the allocation (its
     * record was taken before the clock was read) and after it by the time
     * the record waited in the queue: up to a round, about
     * {@link #LINGER_NANOS} plus the park's slack while the dispatcher keeps
     * up; more while it runs behind.
     */
    private long takenMillis;
    /** Set while applying a batch: its ends include a flush, or a watched buffer's release. */
    private boolean flushTaken;
    private boolean endsNeedDrain;
    /** The releases (their Entry) and flushes (their latch) taken in this round, in queue order. */
    private List<Object> ends = new ArrayList<>();
    /** Hands the queue's records to {@link #apply}. */
    private final RecordQueue.Sink applier = this::apply;
    /** Counted here, published to {@link #stats} once per round and before a flush completes. */
    private long trackedCount;
    private long releasedCount;
    private final Map<Watch, Entry> byWatch = new IdentityHashMap<>();
    private final Map<BufferListener, Boolean> warnedListeners = new IdentityHashMap<>();
    private long nextId = 1;

    final Stats stats = new Stats();

    /** Counters: written by the dispatcher only (plain volatile stores), read by anyone. */
    static final class Stats {
        volatile long tracked;
        volatile long released;
        volatile long releasedWithUnmap;
        volatile long unmapped;
        volatile long dangling;
        volatile long watchFailures;
        volatile long listenerErrors;
        volatile long ignoredSmall;
    }

    Tracker(Options options, KernelSource source) {
        this.options = options;
        this.source = source;
        for (BufferKind k : options.kinds) {
            kindEnabled[k.ordinal()] = true;
        }
        this.minSize = options.minSize;
        this.stackSampling = options.stackSampling;
        this.dispatcher = new Thread(this::dispatchLoop, "ummu-buffers");
        this.dispatcher.setDaemon(true);
    }

    void start() {
        dispatcher.start();
        source.startWaiter(dispatcher);
    }

    void disable(BufferKind kind) {
        kindEnabled[kind.ordinal()] = false;
    }

    String trackedKinds() {
        StringBuilder b = new StringBuilder();
        for (BufferKind k : KINDS) {
            if (kindEnabled[k.ordinal()]) {
                b.append(b.length() == 0 ? "" : ", ").append(k);
            }
        }
        return b.length() == 0 ? "nothing" : b.toString();
    }

    String backendName() {
        return source.name();
    }

    boolean hasKernel() {
        return source.isKernel();
    }

    // ------------------------------------------------------------------ hooks

    @Override
    protected void allocated(int kind, long address, long size) {
        if (kind < 0 || kind >= KINDS.length || !kindEnabled[kind] || Thread.currentThread() == dispatcher) {
            return;
        }
        if (size < minSize || size <= 0) {
            return;
        }
        Object ref = Thread.currentThread().getName();
        if (stackSampling > 0 && sampleCounter.getAndIncrement() % stackSampling == 0) {
            ref = new Sampled((String) ref, trim(new Throwable().getStackTrace()));
        }
        long seq = enqueue(OP_ALLOC, kind, address, size, ref);
        if (seq - queue.lvConsumerIndex() >= BACKLOG_LIMIT) {
            pauseForDispatcher(seq);
        }
    }

    private void pauseForDispatcher(long seq) {
        for (int i = 0; i < MAX_PAUSES && seq - queue.lvConsumerIndex() >= BACKLOG_LIMIT / 2 && !stopping; i++) {
            LockSupport.parkNanos(this, PAUSE_NANOS);
        }
    }

    @Override
    protected void releasing(int kind, long address) {
        if (kind >= 0 && kind < KINDS.length && kindEnabled[kind]) {
            enqueue(OP_BEGIN, kind, address, 0, null);
        }
    }

    /**
     * The release sites that know the size (direct and mapped buffers): a
     * buffer the allocation hook dropped (too small, or of a kind not tracked)
     * costs its release nothing either, not even a record.
     */
    @Override
    protected boolean releasing(int kind, long address, long size) {
        if (size < minSize || size <= 0 || kind < 0 || kind >= KINDS.length || !kindEnabled[kind]) {
            return false;
        }
        enqueue(OP_BEGIN, kind, address, 0, null);
        return true;
    }

    @Override
    protected void released(int kind, long address) {
        if (kind >= 0 && kind < KINDS.length && kindEnabled[kind]) {
            enqueue(OP_END, kind, address, 0, null);
        }
    }

    /** Drops the agent's and the bridge's frames from the top of an allocation stack. */
    private static StackTraceElement[] trim(StackTraceElement[] st) {
        int i = 0;
        while (i < st.length && (st[i].getClassName().startsWith("io.ummu.agent."))) {
            i++;
        }
        return java.util.Arrays.copyOfRange(st, i, st.length);
    }

    private long enqueue(int op, int kind, long address, long size, Object ref) {
        long seq = queue.offer(op, kind, address, size, ref);
        // The offer's atomic add is volatile: the load of sleeping below cannot
        // move before it (Dekker with the dispatcher's store of sleeping and
        // load of the producer index). One producer wakes it; the others do
        // not queue up behind it in unpark while the woken dispatcher waits for
        // a core. Safe: before it next parks without a timeout, the dispatcher
        // sets sleeping again and then reads the producer index, which by then
        // counts this record.
        if (sleeping && SLEEPING.compareAndSet(this, true, false)) {
            LockSupport.unpark(dispatcher);
        }
        return seq;
    }

    // ------------------------------------------------------------ public view

    List<Entry> liveBuffers() {
        return new ArrayList<>(live.values());
    }

    int liveCount() {
        return live.size();
    }

    /**
     * Waits until every hook call and kernel invalidation that happened before
     * this call has been delivered to the listeners.
     */
    boolean flush(long timeoutNanos) throws InterruptedException {
        if (Thread.currentThread() == dispatcher) {
            return false; // from a listener: would wait for itself
        }
        if (failed) {
            return false; // tracking is off: nothing will be delivered
        }
        CountDownLatch latch = new CountDownLatch(1);
        enqueue(OP_FLUSH, 0, 0, 0, latch);
        LockSupport.unpark(dispatcher); // a flush does not wait out the linger
        // A dispatcher that gives up counts the latches it drops down: false then, at once.
        return latch.await(timeoutNanos, java.util.concurrent.TimeUnit.NANOSECONDS) && !failed;
    }

    void stop() {
        stopping = true;
        queue.close();
        LockSupport.unpark(dispatcher);
    }

    // ------------------------------------------------------------- dispatcher

    private void dispatchLoop() {
        List<Invalidation> kernel = new ArrayList<>();
        // The releases (their Entry) and flushes (their latch) taken in the previous round.
        List<Object> endsPrevious = new ArrayList<>();
        boolean kernelBroken = false;
        boolean drainNext = false;
        boolean wasBusy = false;
        int idleRounds = 0;
        while (!stopping) {
            try {
                takenMillis = 0;
                kernel.clear();
                if (!kernelBroken) {
                    try {
                        // Forced when this round finishes a flush or the release of a watched buffer (5).
                        source.poll(kernel, drainNext); // (1)
                    } catch (RuntimeException e) {
                        kernelBroken = true;
                        Log.warn("reading kernel events failed (" + Log.brief(e)
                                + "); from now on only RELEASED events are delivered");
                    }
                }
                flushTaken = false;
                endsNeedDrain = false;
                int records = queue.drain(applier, STUCK_NANOS); // (2) + (3)
                if (queue.stuckAt() >= 0) {
                    giveUp(endsPrevious);
                    return;
                }
                watchSurvivors(); // end of (3): the previous round's buffers, if still live
                fresh.drain(publish); // and this round's, into the registry
                if (freshLatest != null) {
                    publish.accept(freshLatest);
                    freshLatest = null;
                }
                for (Invalidation inv : kernel) { // (4)
                    classify(inv);
                }
                for (Entry e : supersededPrevious) { // after (4): see superseded()
                    superseded(e);
                }
                supersededPrevious.clear();
                List<Entry> sp = supersededPrevious;
                supersededPrevious = supersededNow;
                supersededNow = sp;
                for (Object o : endsPrevious) { // (5)
                    finish(o);
                }
                endsPrevious.clear();
                publishCounts();
                List<Object> t = endsPrevious;
                endsPrevious = ends;
                ends = t;
                drainNext = endsNeedDrain;
                source.consumed();

                idleRounds = records > 0 || !kernel.isEmpty() ? 0 : idleRounds + 1;
                if (records > 0 && (!wasBusy || flushTaken || records >= BEHIND_RECORDS)) {
                    // The first records after a quiet spell, a flush someone
                    // waits for, or a backlog: the next round, at once.
                } else if (idleRounds < IDLE_ROUNDS) {
                    LockSupport.parkNanos(this, LINGER_NANOS); // producers do not unpark: a batch gathers
                } else {
                    sleeping = true;
                    if (queue.isEmpty() && !stopping) {
                        LockSupport.park(this);
                    }
                    sleeping = false;
                }
                wasBusy = records > 0;
            } catch (Throwable t) {
                // Never let the dispatcher die: an application that does not
                // care about ummu must not be affected by it.
                Log.warn("dispatcher: " + Log.brief(t) + " (continuing)");
            }
        }
    }

    /**
     * Fail open after a record whose number was taken never came (its
     * producer failed between claim and publication): the records after it
     * cannot be applied without it, and waiting on would stop every event
     * and, once the ring is full, pause every allocation and pile up overflow
     * records without bound. So: one line, hooks off (they return before
     * queuing anything), the backlog dropped (a waiting flush returns false),
     * watches closed, the registry emptied, and the dispatcher ends. The
     * application runs on as without the agent.
     */
    private void giveUp(List<Object> endsPrevious) {
        failed = true;
        if (UmmuHooks.sink == this) {
            UmmuHooks.sink = null;
        }
        for (int k = 0; k < kindEnabled.length; k++) {
            kindEnabled[k] = false;
        }
        stopping = true; // ends any allocation's pause, and the dispatch loop
        Log.error("a hook's record (sequence " + queue.stuckAt() + ") was never completed within "
                + STUCK_NANOS / 1_000_000 + " ms (its thread failed inside the hook); tracking off, "
                + "queued records dropped, the application runs on without the agent");
        for (Entry e : byWatch.values()) {
            try {
                e.watch.close();
            } catch (RuntimeException ex) {
                Log.debug("unwatch of " + e + " failed: " + Log.brief(ex));
            }
        }
        byWatch.clear();
        live.clear();
        fresh.drain(e -> { });
        freshLatest = null;
        releasing.drain(e -> { });
        releasingOnly = null;
        young.clear();
        supersededNow.clear();
        supersededPrevious.clear();
        // Last, so that a flush that returns sees all of the above.
        java.util.function.Consumer<Object> releaseFlush = r -> {
            if (r instanceof CountDownLatch) {
                ((CountDownLatch) r).countDown();
            }
        };
        queue.dropBacklog(releaseFlush);
        endsPrevious.forEach(releaseFlush); // flushes taken but not finished yet
        ends.forEach(releaseFlush);
        endsPrevious.clear();
        ends.clear();
    }

    /**
     * Steps (2) and (3), one record: {@link RecordQueue#drain} hands over at
     * least every record whose enqueue began before the round started, in
     * the order they were queued. Taking all of those matters: stopping short
     * would leave a RELEASING record behind while the kernel event of the
     * release it announces is already in hand (1), and the buffer's own unmap
     * would then be classified as DANGLING.
     */
    private void apply(int op, int kind, long address, long size, Object ref) {
        switch (op) {
            case OP_ALLOC: {
                String thread;
                StackTraceElement[] stack;
                if (ref instanceof Sampled) {
                    thread = ((Sampled) ref).thread;
                    stack = ((Sampled) ref).stack;
                } else {
                    thread = (String) ref;
                    stack = null;
                }
                if (takenMillis == 0) {
                    takenMillis = System.currentTimeMillis();
                }
                Entry e = new Entry(nextId++, KINDS[kind], address, size, thread, takenMillis, stack);
                // A newer allocation at the same address supersedes, as in live.
                Entry latest = freshLatest;
                if (latest != null && latest.address != address) {
                    fresh.put(latest.address, latest);
                }
                if (!fresh.isEmpty()) {
                    fresh.remove(address);
                }
                freshLatest = e;
                trackedCount++;
                break;
            }
            case OP_BEGIN: {
                Entry latest = freshLatest;
                boolean inBatch = true;
                Entry e;
                if (latest != null && latest.address == address) {
                    e = latest;
                } else {
                    e = fresh.isEmpty() ? null : fresh.get(address);
                    if (e == null) {
                        inBatch = false;
                        e = live.get(address);
                    }
                }
                if (e != null && e.kind.ordinal() == kind) {
                    if (e == latest) {
                        freshLatest = null;
                    } else if (inBatch) {
                        fresh.remove(address);
                    } else {
                        live.remove(address);
                    }
                    e.setStateRelease(Entry.RELEASING);
                    Entry only = releasingOnly;
                    Entry first;
                    if (only != null) {
                        if (only.address == address) {
                            first = only;
                        } else {
                            releasing.put(only.address, only);
                            releasingOnly = null;
                            first = releasing.get(address);
                        }
                    } else {
                        first = releasing.isEmpty() ? null : releasing.get(address);
                    }
                    if (first == null) {
                        if (releasing.isEmpty()) {
                            releasingOnly = e;
                        } else {
                            releasing.put(address, e);
                        }
                    } else {
                        while (first.nextReleasing != null) {
                            first = first.nextReleasing;
                        }
                        first.nextReleasing = e;
                    }
                }
                break;
            }
            case OP_END: {
                // Resolved now, not when finished: records are applied in queue
                // order, so the oldest releasing buffer is the same either way.
                Entry only = releasingOnly;
                Entry e;
                if (only != null) {
                    if (only.address != address) {
                        break; // not tracked (releasing holds nothing else)
                    }
                    e = only;
                    releasingOnly = e.nextReleasing;
                    e.nextReleasing = null;
                } else {
                    e = releasing.isEmpty() ? null : releasing.get(address);
                    if (e == null) {
                        break; // not tracked: allocated before the agent, too small, or another kind
                    }
                    if (e.nextReleasing == null) {
                        releasing.remove(address);
                    } else {
                        releasing.put(address, e.nextReleasing);
                        e.nextReleasing = null;
                    }
                }
                // Its watch is final: one set when its allocation's batch was published,
                // or none when it was allocated in this batch or its watch failed.
                if (e.watch != null) {
                    endsNeedDrain = true;
                }
                ends.add(e);
                break;
            }
            case OP_FLUSH:
                flushTaken = true;
                endsNeedDrain = true;
                ends.add(ref);
                break;
            default:
                break;
        }
    }

    /** Buffers superseded this round and the previous one: see {@link #superseded}. */
    private List<Entry> supersededNow = new ArrayList<>();
    private List<Entry> supersededPrevious = new ArrayList<>();

    /**
     * End of step (3): the buffers allocated in this batch and still live
     * (still in {@link #fresh} or {@link #freshLatest}) join the registry, to be watched by the next
     * round if they are still live then; those already releasing never do.
     * A buffer an allocation supersedes here waits a round before it goes
     * ({@link #superseded}).
     */
    private final java.util.function.Consumer<Entry> publish = e -> {
        Entry old = live.put(e.address, e);
        if (old != null) {
            supersededNow.add(old);
            if (old.watch != null) {
                endsNeedDrain = true;
            }
        }
        young.add(e);
    };

    /**
     * A buffer of an earlier round whose release was never seen (native code
     * unmapped it, a hook failed), found at the address of a new allocation
     * published this round: its memory went, or the address could not have
     * been handed out again. It leaves the registry without an event (its
     * release was not seen) and its watch is closed: left on, the kernel
     * would report the new buffer's unmap against it, a buffer still "live",
     * as DANGLING. Not at once, though: the unmap that took its memory may
     * still be on its way, and closing a watch drops what is pending on it.
     * That unmap happened before the new allocation returned, so the forced
     * kernel read at the start of the next round (endsNeedDrain) has it;
     * the buffer stays live and watched until that round has classified it
     * (a DANGLING, as it should be), then goes here. Meanwhile, with a
     * backend that watches addresses rather than mappings (ummunotify), an
     * unmap of the new buffer within that one round would also be reported
     * against the old one.
     */
    private void superseded(Entry e) {
        unwatch(e);
        e.setStateRelease(Entry.RELEASED);
    }

    private void unwatch(Entry e) {
        Watch w = e.watch;
        if (w != null) {
            byWatch.remove(w);
            try {
                w.close();
            } catch (RuntimeException ex) {
                Log.debug("unwatch of " + e + " failed: " + Log.brief(ex));
            }
        }
    }

    /**
     * Watches the buffers the previous round published that are still live:
     * still the registry's buffer at their address (not releasing, not
     * superseded by a later allocation there).
     */
    private void watchSurvivors() {
        if (young.isEmpty()) {
            return;
        }
        try {
            for (int i = 0, n = young.size(); i < n; i++) {
                Entry e = young.get(i);
                if (live.get(e.address) == e) {
                    watch(e);
                }
            }
        } finally {
            young.clear();
        }
    }

    private void watch(Entry e) {
        if (!source.isKernel()) {
            return;
        }
        try {
            Watch w = source.watch(e.address, e.size);
            if (w != null) {
                e.watch = w;
                byWatch.put(w, e);
            }
        } catch (RuntimeException ex) {
            if (stats.watchFailures++ == 0) {
                Log.warn("watch of " + e + " failed: " + Log.brief(ex)
                        + " (such buffers are tracked without kernel events; logged once)");
            }
        }
    }

    private void publishCounts() {
        if (stats.tracked != trackedCount) {
            stats.tracked = trackedCount;
        }
        if (stats.released != releasedCount) {
            stats.released = releasedCount;
        }
    }

    private void finish(Object o) {
        if (o instanceof CountDownLatch) {
            publishCounts();
            ((CountDownLatch) o).countDown();
            return;
        }
        Entry e = (Entry) o;
        unwatch(e);
        e.setStateRelease(Entry.RELEASED);
        releasedCount++;
        if (e.kernelUnmapped) {
            stats.releasedWithUnmap++;
        }
        deliver(new BufferEvent(BufferEvent.Type.RELEASED, e, e.address, e.address + e.size, true, Set.of(),
                e.kernelUnmapped, source.name()));
    }

    private void classify(Invalidation inv) {
        Entry e = byWatch.get(inv.watch());
        if (e == null) {
            return;
        }
        long start = e.address;
        long end = e.address + e.size;
        if (inv.exact()) {
            // Byte-exact overlap: a backend may watch whole pages, and a
            // neighbour's memory sharing a page is none of this buffer's business.
            start = Math.max(start, inv.start());
            end = Math.min(end, inv.end());
            if (start >= end) {
                return;
            }
        }
        boolean gone = inv.mappingGone();
        if (gone) {
            e.kernelUnmapped = true;
        }
        BufferEvent.Type type = gone && e.state == Entry.LIVE ? BufferEvent.Type.DANGLING : BufferEvent.Type.UNMAPPED;
        if (type == BufferEvent.Type.DANGLING) {
            stats.dangling++;
        } else {
            stats.unmapped++;
        }
        BufferEvent ev = new BufferEvent(type, e, start, end, inv.exact(), inv.causes(), false, source.name());
        if (type == BufferEvent.Type.DANGLING && Log.on(Log.WARN)) {
            Log.warn(ev.message());
        }
        deliver(ev);
    }

    private void deliver(BufferEvent ev) {
        Jfr.emit(ev, options.jfr);
        for (BufferListener l : AgentRuntime.LISTENERS) {
            try {
                l.onEvent(ev);
            } catch (Throwable t) {
                stats.listenerErrors++;
                if (warnedListeners.put(l, Boolean.TRUE) == null) {
                    Log.warn("listener " + l + " threw " + Log.brief(t) + " on " + ev.type()
                            + "; ignored (further exceptions from it are only counted)");
                }
            }
        }
    }
}
