package io.ummu;

/**
 * Tells Java code when the virtual memory behind watched address ranges
 * changes: unmapped, remapped, its contents discarded, or (depending on the
 * {@linkplain #capabilities() backend}) migrated, swapped or re-protected.
 *
 * <pre>{@code
 * try (MemoryNotifier n = MemoryNotifier.open()) {
 *     Watch w = n.watch(directBuffer);
 *     long seen = n.generationAcquire();
 *     ...
 *     if (n.changedSince(seen)) {            // one memory load
 *         Drain d = n.drain();
 *         for (Invalidation inv : d.invalidations()) { ... }
 *         seen = d.generation();
 *     }
 * }
 * }</pre>
 *
 * <p>All the behaviour, and the thread-safety of each method, is described in
 * {@link AbstractMemoryNotifier}. On Java 22 and later this class also has
 * {@code watch(java.lang.foreign.MemorySegment)}.
 */
public final class MemoryNotifier extends AbstractMemoryNotifier {
    private MemoryNotifier(Opened opened) {
        super(opened);
    }

    /**
     * Opens the best available backend: {@link Backend#UMMUNOTIFY}, else
     * {@link Backend#USERFAULTFD}. The system property {@code ummu.backend}
     * (or, when it is unset, the environment variable {@code UMMU_BACKEND})
     * set to {@code ummunotify} or {@code userfaultfd} forces one;
     * {@code auto} or empty means the default order. Thread-safe.
     *
     * @return a new notifier; close it
     * @throws MemoryNotifierException if no backend could be opened; the
     *     message lists every backend with the reason it was skipped
     * @throws IllegalArgumentException if the property or variable names no backend
     */
    public static MemoryNotifier open() {
        return new MemoryNotifier(openBest());
    }

    /**
     * Opens this backend or fails. Thread-safe.
     *
     * @param backend the backend
     * @return a new notifier; close it
     * @throws NullPointerException if backend is null
     * @throws MemoryNotifierException with the reason if it cannot be opened
     */
    public static MemoryNotifier open(Backend backend) {
        return new MemoryNotifier(openBackend(backend));
    }
}
