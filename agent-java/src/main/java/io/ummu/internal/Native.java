package io.ummu.internal;

import java.nio.ByteBuffer;

/**
 * The JNI surface of {@code libummu.so}. Natives are registered from
 * {@code JNI_OnLoad} (agent-native/src/main/c/ummu_jni.c); the two files
 * change together.
 *
 * <p>Handles are opaque native pointers. Callers (the notifier) guarantee that
 * {@link #close(long)} never races another call on the same handle and that
 * no call is made after it; nothing here checks, because a check in native
 * code could not be made race-free cheaply.
 *
 * <p>Failures of {@code open} throw {@link io.ummu.MemoryNotifierException}
 * from native code with the backend's reason. The other operations return a
 * negative errno, so that the Java caller, which knows the arguments, can name
 * them in its message.
 */
public final class Native {
    /** Bumped whenever a signature here or a record layout changes. */
    public static final int ABI_VERSION = 2;

    /** Size of one event record, in the {@code struct ummunotify_event} layout. */
    public static final int EVENT_SIZE = 32;

    private Native() {
    }

    /** @return {@link #ABI_VERSION} of the loaded library. */
    public static native int abiVersion();

    /** @return null when the backend ({@code io.ummu.Backend} ordinal) can be used here, else why not. */
    public static native String probe(int backend);

    /** Opens a backend; throws {@code MemoryNotifierException} with the reason on failure. */
    public static native long open(int backend);

    /** @return the backend's {@code UMMU_CAP_*} bits. */
    public static native int capabilities(long handle);

    /** @return a direct buffer over the read-only page whose first 8 bytes are the generation counter. */
    public static native ByteBuffer counterPage(long handle);

    /** @return 0, or a negative errno; {@code why} (length >= 1), when non-null, receives extra detail in [0]. */
    public static native int watch(long handle, long start, long end, long cookie, String[] why);

    /** @return 0, or a negative errno. */
    public static native int unwatch(long handle, long cookie);

    /**
     * Copies up to {@code max} records into the direct buffer {@code dst}
     * (native byte order, {@link #EVENT_SIZE} bytes each, from position 0).
     *
     * @return the number of records, 0 when nothing is pending, or a negative errno
     */
    public static native int read(long handle, ByteBuffer dst, int max);

    /**
     * Waits until events are pending, {@link #wakeup(long)} is called, or the
     * timeout passes ({@code timeoutNanos < 0}: forever). A wakeup is sticky:
     * afterwards every call returns at once, 1 if events are pending, else 2.
     *
     * @return 1 readable, 0 timed out, 2 woken up (and nothing readable), or a negative errno
     */
    public static native int await(long handle, long timeoutNanos);

    /** Wakes every thread in {@link #await(long, long)}; safe from any thread before close. */
    public static native void wakeup(long handle);

    /** Releases the handle; no call may follow or race it. */
    public static native void close(long handle);

    /**
     * Releases the handle as {@link #close(long)} does (descriptors, kernel
     * context, memory), except its counter page: that stays mapped, read-only,
     * at the same address, and from now on holds {@link #COUNTER_CLOSED},
     * until {@link #unmapCounterPage(ByteBuffer)}. The switch never leaves
     * the address unmapped, so a thread loading from the page meanwhile is
     * safe. No call on the handle may follow or race it.
     *
     * @return 0, or a negative errno when the page could not be switched: it
     *     then stays mapped with its last counter value
     */
    public static native int retire(long handle);

    /**
     * Unmaps a retired handle's counter page: the buffer {@link #counterPage(long)}
     * returned. No thread may load from the page any more.
     *
     * @return 0, or a negative errno (EINVAL for anything but such a page)
     */
    public static native int unmapCounterPage(ByteBuffer page);

    /**
     * The counter of a retired handle's page ({@code UMMU_COUNTER_CLOSED}):
     * negative, a value no generation takes, as generations count up from 0.
     */
    public static final long COUNTER_CLOSED = Long.MIN_VALUE;

    /** @return the symbolic errno name, e.g. "ENOSPC" (never null). */
    public static native String errnoName(int errno);

    /** @return the C library's text for errno (never null). */
    public static native String strerror(int errno);

    /** Does nothing; for benchmarks of the JNI transition. */
    public static native long noop(long x);
}
