package io.ummu.jcstress.support;

import io.ummu.Invalidation;
import io.ummu.MemoryNotifier;
import io.ummu.Watch;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * One real notifier per JVM over a {@link SimulatedBackend}, with one
 * listener, shared by every state of a listener test (jcstress forks a JVM
 * per test). Shared because a listener costs a dispatcher thread, and a state
 * is made for every sample. Each state watches its own {@link Region}, so
 * what the listener is given is attributed to the state's {@link Probe} by
 * cookie.
 */
public final class Listening {
    private static final SimulatedBackend BACKEND = new SimulatedBackend();
    private static final MemoryNotifier NOTIFIER = BACKEND.open();
    private static final ConcurrentHashMap<Long, Probe> PROBES = new ConcurrentHashMap<>();
    /**
     * After one wait for a delivery timed out, the others wait briefly: a
     * broken dispatcher must fail the samples, not stall the run for hours.
     */
    private static volatile boolean timedOutOnce;

    static {
        NOTIFIER.addListener(Listening::onInvalidation);
    }

    private Listening() {
    }

    /** The listener, on ummu's dispatcher thread. */
    private static void onInvalidation(Invalidation inv) {
        Probe p = PROBES.get(inv.watch().cookie());
        if (p == null) {
            return; // a retired probe: no longer judged
        }
        if (p.closeReturned) {
            p.deliveredAfterClose.incrementAndGet();
        }
        if (!SimulatedBackend.describes(inv, p.watch, p.start, p.start + Region.PAGE)) {
            p.malformed.incrementAndGet();
        }
        // A plain store: the hand-off to another thread through a data race.
        p.handedPlain = inv;
        p.delivered.incrementAndGet();
    }

    /** What happened to one watch of the shared notifier. */
    public static final class Probe {
        public final long start = Region.fresh(1);
        public final Watch watch = NOTIFIER.watch(start, Region.PAGE);
        /** Times the listener was called for it. */
        public final AtomicInteger delivered = new AtomicInteger();
        /** Times the listener was called for it although its close() had returned. */
        public final AtomicInteger deliveredAfterClose = new AtomicInteger();
        /** Times the listener was given an invalidation that does not describe the unmap. */
        public final AtomicInteger malformed = new AtomicInteger();
        /** The listener's last invalidation, published with a plain store (read racily). */
        public Invalidation handedPlain;
        private volatile boolean closeReturned;

        public Probe() {
            PROBES.put(watch.cookie(), this);
        }

        /** The backend reports an unmap of this probe's page. */
        public void invalidate() {
            BACKEND.invalidate(start, start + Region.PAGE);
        }

        /** Closes the watch and records that close() has returned. */
        public void close() {
            watch.close();
            closeReturned = true;
        }

        /**
         * Waits until the listener was called for this probe, at most 10 s
         * (10 ms once any wait timed out).
         *
         * @return true if it was
         */
        public boolean awaitDelivered() {
            long limit = timedOutOnce ? TimeUnit.MILLISECONDS.toNanos(10) : TimeUnit.SECONDS.toNanos(10);
            long deadline = System.nanoTime() + limit;
            while (delivered.get() == 0) {
                if (System.nanoTime() - deadline > 0) {
                    timedOutOnce = true;
                    return false;
                }
                LockSupport.parkNanos(20_000);
            }
            return true;
        }

        /** The state is done: close the watch (idempotent) and stop judging it. */
        public void retire() {
            watch.close();
            PROBES.remove(watch.cookie(), this);
        }

        /** @return 0 for null, 1 if inv describes this probe's unmap, -1 if not */
        public int check(Invalidation inv) {
            if (inv == null) {
                return 0;
            }
            return SimulatedBackend.describes(inv, watch, start, start + Region.PAGE) ? 1 : -1;
        }
    }
}
