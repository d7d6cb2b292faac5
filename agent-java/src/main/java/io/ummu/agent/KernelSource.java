package io.ummu.agent;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.locks.LockSupport;

import io.ummu.Drain;
import io.ummu.Invalidation;
import io.ummu.MemoryNotifier;
import io.ummu.Watch;

/**
 * Where kernel invalidations come from, as the tracker's dispatcher needs it.
 * Confined to the dispatcher thread except {@link #startWaiter}.
 */
abstract class KernelSource {
    abstract String name();

    abstract boolean isKernel();

    /** Why this backend, for the agent's first line; null when it is simply the best one (or there is none). */
    String choice() {
        return null;
    }

    /** @return the watch, or null when there is no kernel backend */
    abstract Watch watch(long address, long size);

    /**
     * Appends what the kernel reported since the last call. Without force it
     * is one load when nothing changed; with force it always reads (the slow
     * path), which is what a release needs: a forced drain after munmap
     * returned is sure to report the unmap (both backends have queued it, or
     * the userfaultfd backend's read waits for the batch that carries it).
     */
    abstract void poll(List<Invalidation> out, boolean force);

    /** Starts whatever wakes {@code dispatcher} when the kernel has events. */
    abstract void startWaiter(Thread dispatcher);

    /** The dispatcher consumed the kernel's events; the waiter may wait again. */
    abstract void consumed();

    abstract void close();

    /** No kernel backend: only the JDK's own releases are seen. */
    static final class JvmOnly extends KernelSource {
        @Override
        String name() {
            return "jvm";
        }

        @Override
        boolean isKernel() {
            return false;
        }

        @Override
        Watch watch(long address, long size) {
            return null;
        }

        @Override
        void poll(List<Invalidation> out, boolean force) {
        }

        @Override
        void startWaiter(Thread dispatcher) {
        }

        @Override
        void consumed() {
        }

        @Override
        void close() {
        }
    }

    /**
     * A {@link MemoryNotifier}. The dispatcher parks (so that the hooks can
     * wake it with a plain unpark, which never blocks); a second daemon thread,
     * "ummu-kernel-waiter", blocks in {@link MemoryNotifier#await} and unparks
     * the dispatcher when the kernel has something. It then waits for the
     * dispatcher to drain, because await() keeps returning true until then.
     * Once the VM exits the notifier no longer blocks in native code (see
     * AbstractMemoryNotifier.VmExit), so the VM's exit does not wait for it.
     */
    static final class Notifier extends KernelSource {
        private final MemoryNotifier notifier;
        /** Named in every event the dispatcher makes: computed once. */
        private final String name;
        private final String choice;
        private long lastGeneration;
        private volatile boolean signalled;
        private volatile boolean stopped;
        private volatile Thread waiter;

        Notifier(MemoryNotifier notifier, String choice) {
            this.notifier = notifier;
            this.choice = choice;
            this.name = notifier.backend().name().toLowerCase(java.util.Locale.ROOT);
            this.lastGeneration = notifier.generationAcquire();
        }

        MemoryNotifier notifier() {
            return notifier;
        }

        @Override
        String name() {
            return name;
        }

        @Override
        boolean isKernel() {
            return true;
        }

        @Override
        String choice() {
            return choice;
        }

        @Override
        Watch watch(long address, long size) {
            return notifier.watch(address, size);
        }

        @Override
        void poll(List<Invalidation> out, boolean force) {
            // The fast path: one acquire load. The backend queues an event
            // before it publishes the incremented counter (release), so a
            // changed value guarantees drain() finds the event.
            // signalled: the waiter saw the file readable; drain even if the
            // counter did not move, or await() would keep returning at once.
            if (force || signalled || notifier.changedSince(lastGeneration)) {
                Drain d = notifier.drain();
                lastGeneration = d.generation();
                out.addAll(d.invalidations());
            }
        }

        @Override
        void startWaiter(Thread dispatcher) {
            Thread t = new Thread(() -> waitLoop(dispatcher), "ummu-kernel-waiter");
            t.setDaemon(true);
            waiter = t;
            t.start();
        }

        private void waitLoop(Thread dispatcher) {
            try {
                while (!stopped) {
                    if (notifier.await(Duration.ofSeconds(1))) {
                        signalled = true;
                        LockSupport.unpark(dispatcher);
                        while (signalled && !stopped) {
                            LockSupport.park(this);
                        }
                    }
                }
            } catch (IllegalStateException closed) {
                // notifier closed: nothing more to wait for
            } catch (RuntimeException | Error e) {
                Log.warn("kernel waiter stopped (" + Log.brief(e) + "); kernel events are now seen only when"
                        + " buffers are allocated or released");
            }
        }

        @Override
        void consumed() {
            if (signalled) {
                signalled = false;
                Thread t = waiter;
                if (t != null) {
                    LockSupport.unpark(t);
                }
            }
        }

        @Override
        void close() {
            stopped = true;
            Thread t = waiter;
            if (t != null) {
                LockSupport.unpark(t);
            }
            notifier.close();
        }
    }
}
