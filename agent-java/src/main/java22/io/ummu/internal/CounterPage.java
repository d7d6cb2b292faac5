package io.ummu.internal;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.lang.ref.Cleaner;
import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.util.Objects;

/**
 * The notifier's fast path: acquire loads of the generation counter, the
 * first 8 bytes of a page the backend maps and writes. This is the Java 22+
 * version (from {@code META-INF/versions/22} of {@code ummu.jar}); the base
 * one serves 17 to 21.
 *
 * <h2>Lifetime: why a load can never touch an unmapped page</h2>
 * The page stays mapped until {@code release} (given to {@link #open}) runs,
 * and that runs only from a {@link Cleaner} once this object is phantom
 * reachable. Every load is followed by {@code Reference.reachabilityFence(this)},
 * so the object stays strongly reachable until its last load has completed,
 * in the interpreter and in compiled code alike. A thread may therefore keep
 * calling {@link #getAcquire()} on an instance it got before the notifier was
 * closed, never reading a freed page: its close switches the page, in
 * place, to one that reads {@link Native#COUNTER_CLOSED} (see
 * {@link Native#retire}), and the page goes after the next garbage
 * collection that finds this object unreachable. The notifier holds this
 * object for its whole life, so a notifier's own class (below), which loads
 * from its constant and fences the notifier after the load, gets the same
 * guarantee.
 *
 * <h2>Which load: a constant segment in a class of its own</h2>
 * A {@code MemorySegment} {@code getAcquire} checks bounds, alignment and the
 * segment's liveness before it loads. With the segment in an instance field
 * those checks stay in the compiled code (about 2.5 times a volatile field
 * read); with the segment in a {@code static final} field the JIT sees a
 * constant segment of a session that never closes and folds every check
 * away, leaving one load from a constant address. A notifier's page is known
 * only at run time, so each notifier gets a class of its own (see
 * {@link #defineConstantClass}), with the segment as its class data, read
 * into a {@code static final}. That class is a subclass of the notifier, not
 * of this class, so that the type profile which decides whether the call is
 * inlined is the caller's own and not one shared by every notifier of the
 * process (see {@code AbstractMemoryNotifier.newNotifier}). The instance of this class then only
 * keeps the page mapped, and serves the slow path and notifiers whose class
 * could not be defined (the segment in an instance field: slower, the same
 * semantics).
 *
 * <p>Instances are immutable and thread-safe.
 */
public abstract class CounterPage {
    static final VarHandle LONG = ValueLayout.JAVA_LONG.varHandle();

    private static volatile String constantFailure;

    private final ByteBuffer view;

    CounterPage(ByteBuffer view) {
        this.view = view;
    }

    /**
     * Wraps a backend's counter page. {@code page} must be the buffer the
     * backend returned (a root buffer, not a slice or view of another), at
     * least 8 bytes, 8-byte aligned.
     *
     * @param page the counter page
     * @param release what frees the page (the backend's close); must not
     *     refer to the returned object, runs once on the cleaner thread after
     *     the returned object became unreachable
     * @return the counter
     * @throws IllegalArgumentException if page is not direct, shorter than 8 bytes or misaligned
     */
    public static CounterPage open(ByteBuffer page, Runnable release) {
        ByteBuffer view = CounterPages.checkedView(page);
        Objects.requireNonNull(release, "release");
        CounterPage c = new Instance(view, counterSegment(view));
        CounterPages.CLEANER.register(c, release);
        return c;
    }

    /**
     * Defines, from the template class file {@code entry} of ummu.jar (a
     * class of the lookup's package), a hidden nestmate of the lookup class
     * whose class data is {@code page}'s counter as this release loads it
     * from a constant: here its 8 bytes as a {@code MemorySegment}, read back
     * by the template with {@link #segmentClassData} and loaded with
     * {@link #getAcquire(MemorySegment)}. Null, and the caller uses the
     * instance-field load, when the class cannot be defined (the reason is
     * then in {@link #constantClassFailure()}).
     *
     * <p>The class holds the page's segment, never what keeps the page
     * mapped: an instance of it must hold the {@link CounterPage} from
     * {@link #open} for its whole life (a final field) and fence itself
     * after each load from the constant.
     *
     * @param lookup a full-privilege lookup on the class the template extends or nests in
     * @param entry the template's entry name, e.g. {@code io/ummu/X$Y.class}
     * @param page the counter page, as given to {@link #open}
     * @return the class, or null
     */
    public static Class<?> defineConstantClass(MethodHandles.Lookup lookup, String entry, ByteBuffer page) {
        Object c = CounterPages.define(lookup, entry, counterSegment(CounterPages.checkedView(page)));
        if (c instanceof Class) {
            return (Class<?>) c;
        }
        constantFailure = (String) c;
        return null;
    }

    /**
     * For tests and diagnostics.
     *
     * @return why the last {@link #defineConstantClass} gave null, or null
     */
    public static String constantClassFailure() {
        return constantFailure;
    }

    /**
     * For a class from {@link #defineConstantClass}: its class data.
     *
     * @param own the class's own lookup ({@code MethodHandles.lookup()} in its initializer)
     * @return the counter's segment
     * @throws IllegalStateException if the class has no class data (it was
     *     not defined by {@link #defineConstantClass}, e.g. the template
     *     loaded under its own name)
     */
    public static MemorySegment segmentClassData(MethodHandles.Lookup own) {
        return CounterPages.classData(own, MemorySegment.class, "counter segment");
    }

    /**
     * The acquire load of the counter in {@code counter}; check-free once
     * inlined with a constant segment, as a {@link #defineConstantClass}
     * class has it. The caller holds the page's {@link CounterPage}.
     *
     * @param counter the counter's segment
     * @return the counter
     */
    public static long getAcquire(MemorySegment counter) {
        return (long) LONG.getAcquire(counter, 0L);
    }

    /**
     * Which load a {@link #defineConstantClass} class does, for tests and diagnostics.
     *
     * @return {@code "constant-segment"}
     */
    public static String constantKind() {
        return "constant-segment";
    }

    /** The counter's 8 bytes, read-only, in a session that never closes (it holds the page buffer). */
    private static MemorySegment counterSegment(ByteBuffer view) {
        return MemorySegment.ofBuffer(view.duplicate().clear()).asSlice(0, Long.BYTES);
    }

    /**
     * The counter, loaded with acquire order: if this sees an increment,
     * every write the backend made before it (the queued event) is visible
     * to what the caller does next.
     *
     * @return the generation counter
     */
    public abstract long getAcquire();

    /**
     * The page as a read-only buffer (for tests and diagnostics). Holding it
     * does not keep the page mapped; only this object does.
     *
     * @return the view
     */
    public final ByteBuffer view() {
        return view;
    }

    /**
     * Which load this is, for tests and diagnostics: {@code "segment"} here;
     * {@code "unsafe"} or {@code "buffer-view"} on Java 17 to 21.
     *
     * @return the kind
     */
    public abstract String kind();

    /** The segment in an instance field: the checks stay, the fallback. */
    static final class Instance extends CounterPage {
        private final MemorySegment counter;

        Instance(ByteBuffer view, MemorySegment counter) {
            super(view);
            this.counter = counter;
        }

        @Override
        public long getAcquire() {
            long v = (long) LONG.getAcquire(counter, 0L);
            Reference.reachabilityFence(this);
            return v;
        }

        @Override
        public String kind() {
            return "segment";
        }
    }

    /** For tests: a counter of each kind this release has, over {@code page}, without a cleaner. */
    static CounterPage[] allKinds(ByteBuffer page) {
        ByteBuffer view = CounterPages.checkedView(page);
        return new CounterPage[] {new Instance(view, counterSegment(view))};
    }
}
