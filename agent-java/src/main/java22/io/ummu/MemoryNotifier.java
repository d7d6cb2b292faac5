package io.ummu;

import io.ummu.internal.CounterPage;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.lang.ref.Reference;
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
 * {@link AbstractMemoryNotifier}. A notifier from {@code open} is normally an
 * instance of a hidden subclass of this class of its own, whose fast path
 * loads the counter from a constant address (a plain {@code MemoryNotifier}
 * where that class cannot be defined): do not depend on
 * {@code getClass()}; stack traces omit the hidden class's frames. This is the Java 22+ version (from
 * {@code META-INF/versions/22} of {@code ummu.jar}); it adds
 * {@link #watch(MemorySegment)}.
 */
public class MemoryNotifier extends AbstractMemoryNotifier {
    /** The template of each notifier's own class (this release's, from ummu.jar). */
    private static final String TEMPLATE = "io/ummu/MemoryNotifier$Constant.class";

    // Not final, yet no subclass outside this nest in source: the only constructor
    // is private. (Hand-made class files plus allocateInstance could make one;
    // its counter would be null, so its fast path throws "notifier closed".)
    private MemoryNotifier(Opened opened) {
        super(opened);
    }

    private static MemoryNotifier create(Opened opened) {
        return newNotifier(MethodHandles.lookup(), TEMPLATE, opened, MemoryNotifier::new);
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
        return create(openBest());
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
        return create(openBackend(backend));
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

    /**
     * Never loaded under this name: the template from which each notifier
     * gets a class of its own, a hidden nestmate of this class with its
     * counter page as class data (see {@code AbstractMemoryNotifier.newNotifier}).
     * Read into a {@code static final}, the page is a constant, and the load
     * depends on no other load: the fast path is that load and a compare.
     * Whether the notifier is closed comes from the loaded value itself
     * (close() switches the page to one that reads a negative marker), and
     * the page stays mapped while the notifier is reachable, which each
     * method makes sure of across its load.
     */
    static final class Constant extends MemoryNotifier {
        private static final MemorySegment COUNTER = CounterPage.segmentClassData(MethodHandles.lookup());

        Constant(Opened opened) {
            super(opened);
        }

        @Override
        public long generationAcquire() {
            long v = CounterPage.getAcquire(COUNTER);
            // Do not remove (nor the one below): COUNTER does not keep the
            // page mapped; this notifier does, through its CounterPage, whose
            // cleaner unmaps the page. Without the fence the JIT may treat
            // `this` as dead before the load, and a GC meanwhile could let
            // the cleaner unmap the page under it: a crash, which no test
            // can reliably provoke.
            Reference.reachabilityFence(this);
            if (v < 0) {
                // Native.COUNTER_CLOSED: close() switched the page.
                throw closedException();
            }
            return v;
        }

        @Override
        public boolean changedSince(long generation) {
            long v = CounterPage.getAcquire(COUNTER);
            Reference.reachabilityFence(this);
            if (v < 0) {
                throw closedException();
            }
            return v != generation;
        }

        @Override
        String constantKind() {
            return CounterPage.constantKind();
        }
    }
}
