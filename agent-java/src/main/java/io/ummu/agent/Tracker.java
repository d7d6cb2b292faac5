package io.ummu.agent;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
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
 * They only append a record to a lock-free multi-producer queue (one
 * {@code getAndSet}) and, if the dispatcher sleeps, unpark it: no lock, no
 * blocking, no direct buffer, no call into native code, nothing that can
 * throw except an OutOfMemoryError, which the bridge swallows. Because a hook
 * never calls anything that could allocate a direct buffer, there is no
 * re-entrancy to guard against except the dispatcher's own allocations (the
 * notifier's buffers), which are ignored by a plain thread identity check.
 * Everything else (the registry, watch/unwatch, drains, listeners) is
 * confined to the one dispatcher thread, "ummu-buffers".
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
 * </ul>
 */
final class Tracker extends UmmuHooks {
    private static final int OP_ALLOC = 0;
    private static final int OP_BEGIN = 1;
    private static final int OP_END = 2;
    private static final int OP_FLUSH = 3;

    private static final BufferKind[] KINDS = BufferKind.values();

    /** A queued hook call; also the queue's node. */
    static final class Rec {
        final int op;
        final int kind;
        final long address;
        final long size;
        final String thread;
        final long time;
        final StackTraceElement[] stack;
        final CountDownLatch latch;
        volatile Rec next;

        Rec(int op, int kind, long address, long size, String thread, long time, StackTraceElement[] stack,
            CountDownLatch latch) {
            this.op = op;
            this.kind = kind;
            this.address = address;
            this.size = size;
            this.thread = thread;
            this.time = time;
            this.stack = stack;
            this.latch = latch;
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

    // The queue: producers swap the tail, the dispatcher follows next links from head.
    private final AtomicReference<Rec> tail;
    private Rec head;
    /** Set by the dispatcher before it parks, read by producers after they enqueue (Dekker: both volatile). */
    private volatile boolean sleeping;

    // Dispatcher-confined state.
    private final Map<Long, Entry> live = new ConcurrentHashMap<>(); // written by the dispatcher only
    private final Map<Long, ArrayDeque<Entry>> releasing = new HashMap<>();
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
        Rec stub = new Rec(OP_FLUSH, 0, 0, 0, null, 0, null, null);
        this.head = stub;
        this.tail = new AtomicReference<>(stub);
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
        StackTraceElement[] stack = null;
        if (stackSampling > 0 && sampleCounter.getAndIncrement() % stackSampling == 0) {
            stack = trim(new Throwable().getStackTrace());
        }
        enqueue(new Rec(OP_ALLOC, kind, address, size, Thread.currentThread().getName(),
                System.currentTimeMillis(), stack, null));
    }

    @Override
    protected void releasing(int kind, long address) {
        if (kind >= 0 && kind < KINDS.length && kindEnabled[kind] && Thread.currentThread() != dispatcher) {
            enqueue(new Rec(OP_BEGIN, kind, address, 0, null, 0, null, null));
        }
    }

    @Override
    protected void released(int kind, long address) {
        if (kind >= 0 && kind < KINDS.length && kindEnabled[kind] && Thread.currentThread() != dispatcher) {
            enqueue(new Rec(OP_END, kind, address, 0, null, 0, null, null));
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

    private void enqueue(Rec r) {
        Rec prev = tail.getAndSet(r);
        prev.next = r;
        if (sleeping) {
            LockSupport.unpark(dispatcher);
        }
    }

    private Rec pollRec() {
        Rec n = head.next;
        if (n != null) {
            head = n;
        }
        return n;
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
        CountDownLatch latch = new CountDownLatch(1);
        enqueue(new Rec(OP_FLUSH, 0, 0, 0, null, 0, null, latch));
        return latch.await(timeoutNanos, java.util.concurrent.TimeUnit.NANOSECONDS);
    }

    void stop() {
        stopping = true;
        LockSupport.unpark(dispatcher);
    }

    // ------------------------------------------------------------- dispatcher

    private void dispatchLoop() {
        List<Invalidation> kernel = new ArrayList<>();
        List<Rec> ends = new ArrayList<>();
        List<Rec> endsPrevious = new ArrayList<>();
        List<Entry> toWatch = new ArrayList<>();
        boolean kernelBroken = false;
        while (!stopping) {
            try {
                kernel.clear();
                if (!kernelBroken) {
                    try {
                        // Forced when this round finishes releases or flushes (5).
                        source.poll(kernel, !endsPrevious.isEmpty()); // (1)
                    } catch (RuntimeException e) {
                        kernelBroken = true;
                        Log.warn("reading kernel events failed (" + Log.brief(e)
                                + "); from now on only RELEASED events are delivered");
                    }
                }
                int records = takeRecords(ends, toWatch); // (2) + (3)
                for (Entry e : toWatch) {
                    if (e.state == Entry.LIVE) {
                        watch(e);
                    }
                }
                toWatch.clear();
                for (Invalidation inv : kernel) { // (4)
                    classify(inv);
                }
                for (Rec r : endsPrevious) { // (5)
                    finish(r);
                }
                endsPrevious.clear();
                List<Rec> t = endsPrevious;
                endsPrevious = ends;
                ends = t;
                source.consumed();
                if (records == 0 && kernel.isEmpty() && endsPrevious.isEmpty()) {
                    sleeping = true;
                    if (head.next == null && !stopping) {
                        LockSupport.parkNanos(this, 1_000_000_000L);
                    }
                    sleeping = false;
                }
            } catch (Throwable t) {
                // Never let the dispatcher die: an application that does not
                // care about ummu must not be affected by it.
                Log.warn("dispatcher: " + Log.brief(t) + " (continuing)");
            }
        }
    }

    /**
     * Step (2): takes at least every record whose enqueue began before this
     * call. A producer swaps the tail first and links its record to the
     * previous one a moment later; until it does, the records queued after
     * it by other threads are out of reach. Stopping at such a gap would
     * leave a RELEASING record behind while the kernel event of the release
     * it announces is already in hand, and the buffer's own unmap would then
     * be classified as DANGLING. So wait for the links up to the tail seen
     * now: each missing one is a single store away (the producer holds no
     * lock and cannot block in between).
     */
    private int takeRecords(List<Rec> ends, List<Entry> toWatch) {
        Rec last = tail.get();
        boolean caughtUp = head == last;
        int records = 0;
        int spins = 0;
        for (;;) {
            Rec r = pollRec();
            if (r == null) {
                if (caughtUp) {
                    return records;
                }
                if (++spins < 1000) {
                    Thread.onSpinWait();
                } else {
                    Thread.yield(); // the producer was descheduled between its two steps
                }
                continue;
            }
            apply(r, ends, toWatch);
            records++;
            if (r == last) {
                caughtUp = true;
            }
        }
    }

    private void apply(Rec r, List<Rec> ends, List<Entry> toWatch) {
        switch (r.op) {
            case OP_ALLOC: {
                Entry e = new Entry(nextId++, KINDS[r.kind], r.address, r.size, r.thread, r.time, r.stack);
                live.put(r.address, e);
                stats.tracked++;
                toWatch.add(e);
                break;
            }
            case OP_BEGIN: {
                Entry e = live.get(r.address);
                if (e != null && e.kind.ordinal() == r.kind) {
                    live.remove(r.address);
                    e.state = Entry.RELEASING;
                    releasing.computeIfAbsent(r.address, a -> new ArrayDeque<>(1)).add(e);
                }
                break;
            }
            case OP_END:
            case OP_FLUSH:
                ends.add(r);
                break;
            default:
                break;
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

    private void finish(Rec r) {
        if (r.op == OP_FLUSH) {
            r.latch.countDown();
            return;
        }
        ArrayDeque<Entry> q = releasing.get(r.address);
        Entry e = q == null ? null : q.poll();
        if (e == null) {
            return; // not tracked: allocated before the agent, too small, or another kind
        }
        if (q.isEmpty()) {
            releasing.remove(r.address);
        }
        Watch w = e.watch;
        if (w != null) {
            byWatch.remove(w);
            try {
                w.close();
            } catch (RuntimeException ex) {
                Log.debug("unwatch of " + e + " failed: " + Log.brief(ex));
            }
        }
        e.state = Entry.RELEASED;
        stats.released++;
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
