package io.ummu;

import io.ummu.internal.NativeStatus;

/**
 * A native operation of a {@link MemoryNotifier} failed. The message names the
 * operation, its argument and the errno, e.g.
 * {@code watch(0x7f0012340000, 4096): ENOSPC (No space left on device): per-file region limit reached}.
 *
 * <p>Instances are immutable and thread-safe.
 */
public class MemoryNotifierException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final int errno;

    /**
     * Creates the exception. The native library constructs it with exactly
     * this signature; keep it.
     *
     * @param message what failed, with its argument and the errno text
     * @param errno the positive errno, or 0 when the failure has none
     */
    public MemoryNotifierException(String message, int errno) {
        super(message);
        this.errno = errno;
    }

    /**
     * Creates the exception with a cause.
     *
     * @param message what failed, with its argument and the errno text
     * @param errno the positive errno, or 0 when the failure has none
     * @param cause the underlying failure
     */
    public MemoryNotifierException(String message, int errno, Throwable cause) {
        super(message, cause);
        this.errno = errno;
    }

    /**
     * Thread-safe.
     *
     * @return the positive errno, or 0 when the failure has none (for example
     *     when no backend could be opened for different reasons)
     */
    public int errno() {
        return errno;
    }

    /**
     * The symbolic errno name, e.g. {@code "ENOSPC"}. Thread-safe.
     *
     * @return the name, {@code "errno <n>"} when the native library is not
     *     loaded to say it, or null when {@link #errno()} is 0
     */
    public String errnoName() {
        return errno == 0 ? null : NativeStatus.errnoName(errno);
    }
}
