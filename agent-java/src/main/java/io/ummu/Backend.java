package io.ummu;

import io.ummu.internal.NativeStatus;

/**
 * The kernel mechanisms a {@link MemoryNotifier} can sit on, in order of
 * preference. The ordinal is the native backend id
 * ({@code enum ummu_backend_id} in {@code ummu_backend.h}); do not reorder.
 *
 * <p>Both backends present the same protocol to Java (generation counter,
 * coalesced per-watch events); they differ in what they can see, which
 * {@link MemoryNotifier#capabilities()} reports.
 */
public enum Backend {
    /**
     * The {@code ummunotify} kernel module ({@code /dev/ummunotify}): sees every
     * MMU-notifier invalidation of the address space.
     */
    UMMUNOTIFY,
    /**
     * Stock-kernel {@code userfaultfd} (Linux 6.7 or later, asynchronous
     * write-protect mode): sees unmap, mremap and madvise, not migration,
     * swap, truncation, {@code mprotect} or {@code shmdt}. One userfaultfd
     * serves every notifier of the process; a child made by {@code fork()}
     * is not watched (its copy of a notifier refuses to watch).
     */
    USERFAULTFD;

    /**
     * Whether this backend can be opened in this process right now: the
     * native library is loaded and the backend's probe succeeds (device
     * present, kernel feature available, permission granted).
     *
     * <p>Thread-safe; asks the native library each time, so the answer can
     * change, e.g. after the kernel module is loaded.
     *
     * @return true when {@link MemoryNotifier#open(Backend)} is expected to succeed
     */
    public boolean isAvailable() {
        return unavailabilityCause() == null;
    }

    /**
     * Why this backend cannot be used here, or null when it can.
     *
     * <p>Thread-safe. When the native library itself failed to load, the
     * text says so and includes the loader's reason.
     *
     * @return a human-readable reason, or null when {@link #isAvailable()}
     */
    public String unavailabilityCause() {
        String library = NativeStatus.unavailabilityCause();
        if (library != null) {
            return library;
        }
        return NativeStatus.probe(ordinal());
    }

    /** @return the lower-case name used by {@code -Dummu.backend} and {@code UMMU_BACKEND} */
    String configName() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
