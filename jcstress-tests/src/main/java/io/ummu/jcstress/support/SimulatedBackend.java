package io.ummu.jcstress.support;

import io.ummu.Backend;
import io.ummu.Cause;
import io.ummu.MemoryNotifier;
import io.ummu.internal.BackendOps;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.lang.reflect.Constructor;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayDeque;
import java.util.HashMap;

/**
 * The producer side of ummu's protocol, simulated in Java on off-heap memory,
 * and a real {@link MemoryNotifier} running over it. Nothing here needs
 * libummu or a kernel module, so the proofs run on any host.
 *
 * <p>It does what {@code kmod/ummunotify.c} does, in the same order:
 * <ul>
 *   <li>a counter page: a direct buffer whose first 8 bytes are the 64-bit
 *       generation counter in native order, read by the notifier's own
 *       {@code generationAcquire()};</li>
 *   <li>{@link #invalidate(long, long)} (the MMU notifier callback): under the
 *       lock, queue the first hit of each registration with the exact overlap
 *       as hint (a further hit before it is read widens it to the whole
 *       range), then, still under the lock, bump the counter with a release
 *       store;</li>
 *   <li>{@link #read} hands out queued events oldest first as 32-byte
 *       {@code struct ummunotify_event} records and appends one LAST record
 *       carrying the counter once the queue was emptied after at least one
 *       INVAL; {@link #unwatch} drops a queued event of its cookie.</li>
 * </ul>
 *
 * <p>Seam: the notifier's per-handle native calls go through
 * {@link BackendOps} (agent-java); ummu has no public way to build a notifier
 * over another {@code BackendOps}, so {@link #open()} reaches its private
 * members by reflection (everything is in the unnamed module here): the
 * notifier is made as {@code MemoryNotifier.open} makes it, of a class of its
 * own whose fast path loads from the page as a constant ({@link #open()}
 * throws if it is not: the proofs must not test the fallback unnoticed).
 * Thread-safe.
 */
public final class SimulatedBackend implements BackendOps {
    private static final VarHandle COUNTER =
            MethodHandles.byteBufferViewVarHandle(long[].class, ByteOrder.nativeOrder());

    private static final int EINVAL = 22;
    private static final int TYPE_INVAL = 0;
    private static final int TYPE_LAST = 1;
    private static final int FLAG_HINT = 1;
    /** Cause n is flag bit 8 + n ({@code UMMUNOTIFY_EVENT_CAUSE_SHIFT}); UNMAP is cause 0. */
    private static final int CAUSE_UNMAP_FLAG = 1 << 8;
    /** {@code UMMU_CAP_KERNEL_INVALIDATIONS | UNMAP | EVENT_CAUSE}. */
    private static final int CAPABILITIES = (1 << 0) | (1 << 1) | (1 << 6);

    private static final Constructor<?> OPENED;
    /** MemoryNotifier.create(Opened): the notifier of a class of its own, as MemoryNotifier.open makes it. */
    private static final Method NOTIFIER;

    static {
        try {
            Class<?> opened = Class.forName("io.ummu.AbstractMemoryNotifier$Opened");
            OPENED = opened.getDeclaredConstructor(Backend.class, long.class, int.class, ByteBuffer.class,
                    BackendOps.class);
            OPENED.setAccessible(true);
            NOTIFIER = MemoryNotifier.class.getDeclaredMethod("create", opened);
            NOTIFIER.setAccessible(true);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(new IllegalStateException(
                    "ummu's notifier no longer has the private members the simulated backend uses"
                            + " (AbstractMemoryNotifier.Opened(Backend, long, int, ByteBuffer, BackendOps),"
                            + " MemoryNotifier.create(Opened)); update SimulatedBackend", e));
        }
    }

    private static final class Reg {
        final long cookie;
        final long start;
        final long end;
        boolean queued;
        boolean hint;
        long hintStart;
        long hintEnd;

        Reg(long cookie, long start, long end) {
            this.cookie = cookie;
            this.start = start;
            this.end = end;
        }
    }

    private final ByteBuffer page = ByteBuffer.allocateDirect(Long.BYTES).order(ByteOrder.nativeOrder());
    /** file->lock: registrations, queue, needLast and the counter's writers. */
    private final Object lock = new Object();
    private final HashMap<Long, Reg> regs = new HashMap<>();
    private final ArrayDeque<Reg> queue = new ArrayDeque<>();
    private boolean needLast;
    private long wakeups;

    /**
     * @return a new real notifier over this backend (handle 1, which this
     *     backend ignores; capabilities: kernel invalidations, unmap, causes)
     * @throws IllegalStateException if the notifier is not of a hidden class
     *     of its own (ummu fell back to the plain notifier)
     */
    public MemoryNotifier open() {
        try {
            MemoryNotifier n = (MemoryNotifier) NOTIFIER.invoke(null,
                    OPENED.newInstance(Backend.UMMUNOTIFY, 1L, CAPABILITIES, page, this));
            // The proofs are of the production fast path, the constant load of the
            // notifier's own hidden class: a plain MemoryNotifier (the fallback when
            // that class cannot be defined) would pass them silently while proving
            // only the instance-field load. So fail the test instead.
            if (!n.getClass().isHidden()) {
                n.close();
                throw new IllegalStateException("the notifier is a " + n.getClass().getName()
                        + ", not of a hidden class of its own (the constant fast path): "
                        + io.ummu.internal.CounterPage.constantClassFailure());
            }
            return n;
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("building a notifier over the simulated backend", e);
        }
    }

    // ------------------------------------------------------------ producer

    /**
     * The MMU notifier callback for an unmap of {@code [start, end)}.
     *
     * @return true if it hit a registration (and so bumped the counter)
     */
    public boolean invalidate(long start, long end) {
        synchronized (lock) {
            boolean hit = false;
            for (Reg r : regs.values()) {
                if (Long.compareUnsigned(r.start, end) < 0 && Long.compareUnsigned(start, r.end) < 0) {
                    if (!r.queued) {
                        r.queued = true;
                        r.hint = true;
                        r.hintStart = Long.compareUnsigned(start, r.start) > 0 ? start : r.start;
                        r.hintEnd = Long.compareUnsigned(end, r.end) < 0 ? end : r.end;
                        queue.addLast(r);
                    } else {
                        r.hint = false;
                    }
                    hit = true;
                }
            }
            if (hit) {
                // After the event is queued, as the module's ummu_bump_counter():
                // pairs with the notifier's acquire load of the counter.
                COUNTER.setRelease(page, 0, (long) COUNTER.get(page, 0) + 1);
                lock.notifyAll();
            }
            return hit;
        }
    }

    /** Test 1's producer: publish a generation with a release store, outside any lock. */
    public void counterSetRelease(long generation) {
        COUNTER.setRelease(page, 0, generation);
    }

    /** The control test's broken producer: a plain store. */
    public void counterSetPlain(long generation) {
        COUNTER.set(page, 0, generation);
    }

    /** The control test's broken reader: a plain load. */
    public long counterGetPlain() {
        return (long) COUNTER.get(page, 0);
    }

    // --------------------------------------------------------- BackendOps

    @Override
    public int watch(long handle, long start, long end, long cookie, String[] why) {
        synchronized (lock) {
            if (regs.putIfAbsent(cookie, new Reg(cookie, start, end)) != null) {
                if (why != null) {
                    why[0] = "cookie " + cookie + " is registered already";
                }
                return -EINVAL;
            }
            return 0;
        }
    }

    @Override
    public int unwatch(long handle, long cookie) {
        synchronized (lock) {
            Reg r = regs.remove(cookie);
            if (r == null) {
                return -EINVAL;
            }
            if (r.queued) {
                queue.remove(r); // no event of an unregistered cookie is ever read
                r.queued = false;
            }
            return 0;
        }
    }

    @Override
    public int read(long handle, ByteBuffer dst, int max) {
        if (max < 1 || dst.capacity() < max * 32) {
            return -EINVAL;
        }
        synchronized (lock) {
            int n = 0;
            while (n < max && !queue.isEmpty()) {
                Reg r = queue.removeFirst();
                r.queued = false;
                int flags = CAUSE_UNMAP_FLAG | (r.hint ? FLAG_HINT : 0);
                put(dst, n++, TYPE_INVAL, flags, r.hint ? r.hintStart : r.start, r.hint ? r.hintEnd : r.end,
                        r.cookie);
                needLast = true;
            }
            if (n < max && needLast && queue.isEmpty()) {
                put(dst, n++, TYPE_LAST, 0, 0, 0, (long) COUNTER.get(page, 0));
                needLast = false;
            }
            return n;
        }
    }

    private static void put(ByteBuffer dst, int i, int type, int flags, long start, long end, long cookie) {
        int off = i * 32;
        dst.putInt(off, type);
        dst.putInt(off + 4, flags);
        dst.putLong(off + 8, start);
        dst.putLong(off + 16, end);
        dst.putLong(off + 24, cookie);
    }

    @Override
    public int await(long handle, long timeoutNanos) {
        long deadline = System.nanoTime() + timeoutNanos;
        synchronized (lock) {
            long woken = wakeups;
            for (;;) {
                if (!queue.isEmpty() || needLast) {
                    return 1;
                }
                if (wakeups != woken) {
                    return 2;
                }
                try {
                    if (timeoutNanos < 0) {
                        lock.wait();
                    } else {
                        long left = deadline - System.nanoTime();
                        if (left <= 0) {
                            return 0;
                        }
                        lock.wait(left / 1_000_000L, (int) (left % 1_000_000L));
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return -4; // EINTR
                }
            }
        }
    }

    @Override
    public void wakeup(long handle) {
        synchronized (lock) {
            wakeups++;
            lock.notifyAll();
        }
    }

    @Override
    public void close(long handle) {
        // Nothing native to release.
    }

    /**
     * As the native backends retire a handle: from now on the page reads the
     * closed marker, which is what the notifier's fast path checks for.
     */
    @Override
    public int retire(long handle) {
        COUNTER.setRelease(page, 0, io.ummu.internal.Native.COUNTER_CLOSED);
        return 0;
    }

    @Override
    public int unmapCounterPage(ByteBuffer page) {
        return 0; // a direct buffer of this object's: the GC frees it
    }

    /**
     * Checks that an invalidation handed out by the notifier is this
     * backend's report of an unmap of exactly {@code [start, end)} of a watch
     * hit once (exact hint, UNMAP cause).
     */
    public static boolean describes(io.ummu.Invalidation inv, io.ummu.Watch watch, long start, long end) {
        return inv.watch() == watch && inv.start() == start && inv.end() == end && inv.exact()
                && inv.causes().size() == 1 && inv.causes().contains(Cause.UNMAP) && inv.mappingGone();
    }
}
