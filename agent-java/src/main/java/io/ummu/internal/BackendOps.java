package io.ummu.internal;

import java.nio.ByteBuffer;

/**
 * The per-handle calls a notifier makes into its backend, as an object.
 * Production code only ever uses {@link #NATIVE} (libummu through
 * {@link Native}); the seam exists so that jcstress-tests can drive the real
 * notifier (its drain, dispatcher and watch-close paths) over a backend
 * simulated in Java on off-heap memory, on any host. The contracts are those
 * of the same-named methods of {@link Native}.
 */
public interface BackendOps {
    /** libummu. */
    BackendOps NATIVE = new BackendOps() {
        @Override
        public int watch(long handle, long start, long end, long cookie, String[] why) {
            return Native.watch(handle, start, end, cookie, why);
        }

        @Override
        public int unwatch(long handle, long cookie) {
            return Native.unwatch(handle, cookie);
        }

        @Override
        public int read(long handle, ByteBuffer dst, int max) {
            return Native.read(handle, dst, max);
        }

        @Override
        public int await(long handle, long timeoutNanos) {
            return Native.await(handle, timeoutNanos);
        }

        @Override
        public void wakeup(long handle) {
            Native.wakeup(handle);
        }

        @Override
        public void close(long handle) {
            Native.close(handle);
        }

        @Override
        public int retire(long handle) {
            return Native.retire(handle);
        }

        @Override
        public int unmapCounterPage(ByteBuffer page) {
            return Native.unmapCounterPage(page);
        }
    };

    /** See {@link Native#watch(long, long, long, long, String[])}. */
    int watch(long handle, long start, long end, long cookie, String[] why);

    /** See {@link Native#unwatch(long, long)}. */
    int unwatch(long handle, long cookie);

    /** See {@link Native#read(long, ByteBuffer, int)}. */
    int read(long handle, ByteBuffer dst, int max);

    /** See {@link Native#await(long, long)}. */
    int await(long handle, long timeoutNanos);

    /** See {@link Native#wakeup(long)}. */
    void wakeup(long handle);

    /** See {@link Native#close(long)}. */
    void close(long handle);

    /** See {@link Native#retire(long)}: afterwards the page reads {@link Native#COUNTER_CLOSED}. */
    int retire(long handle);

    /** See {@link Native#unmapCounterPage(ByteBuffer)}. */
    int unmapCounterPage(ByteBuffer page);
}
