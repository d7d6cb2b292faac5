package io.ummu;

import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * Tells Java code when the virtual memory behind watched address ranges
 * changes: unmapped, remapped, its contents discarded, or (depending on the
 * {@linkplain #capabilities() backend}) migrated, swapped or re-protected.
 *
 * <pre>{@code
 * try (MemoryNotifier n = MemoryNotifier.open()) {
 *     Watch w = n.watch(segment);
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
 * {@link AbstractMemoryNotifier}. This is the Java 22+ version (from
 * {@code META-INF/versions/22} of {@code ummu.jar}); it adds
 * {@link #watch(MemorySegment)}.
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

    /**
     * Watches a native segment's bytes {@code [address(), address() + byteSize())}.
     * The watch does not keep the segment's arena open; closing the arena
     * (which unmaps or frees the memory) is exactly what the watch reports.
     * Thread-safe.
     *
     * @param segment a native, alive segment of at least one byte
     * @return the watch; close it to stop watching
     * @throws NullPointerException if segment is null
     * @throws IllegalArgumentException if segment is a heap segment, is empty, or is {@code MemorySegment.NULL}
     * @throws IllegalStateException if segment's arena is closed, or this notifier is closed
     * @throws MemoryNotifierException if the backend refuses
     */
    public Watch watch(MemorySegment segment) {
        Objects.requireNonNull(segment, "segment");
        if (!segment.isNative()) {
            throw new IllegalArgumentException("segment: a heap segment has no fixed address; watch a native segment");
        }
        if (!segment.scope().isAlive()) {
            throw new IllegalStateException("segment: its arena is already closed");
        }
        if (segment.byteSize() == 0) {
            throw new IllegalArgumentException("segment: byteSize is 0, nothing to watch");
        }
        return watchRange("watch(segment)", segment.address(), segment.byteSize());
    }
}
