package io.ummu.internal;

/**
 * Whether {@code libummu.so} can be used, and errno text that works even
 * when it cannot. Every public entry point asks here before its first
 * native call, so a missing or mismatched library becomes a reason string
 * instead of an {@link UnsatisfiedLinkError}.
 */
public final class NativeStatus {
    private static volatile String cause;
    private static volatile boolean checked;

    private NativeStatus() {
    }

    /**
     * Thread-safe; the answer is computed once (loading is attempted once).
     *
     * @return null when the library is loaded and speaks this jar's ABI, else why not
     */
    public static String unavailabilityCause() {
        if (!checked) {
            synchronized (NativeStatus.class) {
                if (!checked) {
                    cause = check();
                    checked = true;
                }
            }
        }
        return cause;
    }

    private static String check() {
        try {
            if (!NativeLibrary.isLoaded()) {
                return "native library libummu.so not loaded: " + describe(NativeLibrary.loadFailure());
            }
            int abi = Native.abiVersion();
            if (abi != Native.ABI_VERSION) {
                return "native library libummu.so speaks ABI version " + abi
                        + ", this ummu.jar needs " + Native.ABI_VERSION
                        + " (a stale -Dummu.library.path?)";
            }
            return null;
        } catch (LinkageError e) {
            return "native library libummu.so not usable: " + e;
        }
    }

    private static String describe(Object failure) {
        if (failure == null) {
            return "no reason given";
        }
        if (failure instanceof Throwable) {
            Throwable t = (Throwable) failure;
            return t.getMessage() != null ? t.getMessage() : t.toString();
        }
        return failure.toString();
    }

    /**
     * Asks a backend's probe; only call when {@link #unavailabilityCause()} is null.
     *
     * @param backend the backend id
     * @return null when usable, else why not
     */
    public static String probe(int backend) {
        String why = Native.probe(backend);
        return why;
    }

    /**
     * Thread-safe.
     *
     * @param errno a positive errno
     * @return e.g. "ENOSPC", or "errno 28" without the native library
     */
    public static String errnoName(int errno) {
        if (unavailabilityCause() == null) {
            return Native.errnoName(errno);
        }
        return "errno " + errno;
    }

    /**
     * Thread-safe.
     *
     * @param errno a positive errno
     * @return e.g. "ENOSPC (No space left on device)"
     */
    public static String errnoText(int errno) {
        if (unavailabilityCause() == null) {
            return Native.errnoName(errno) + " (" + Native.strerror(errno) + ")";
        }
        return "errno " + errno;
    }
}
