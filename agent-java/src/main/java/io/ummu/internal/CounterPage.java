package io.ummu.internal;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.lang.ref.Cleaner;
import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Objects;

/**
 * The notifier's fast path: acquire loads of the generation counter, the
 * first 8 bytes of a page the backend maps and writes. This is the Java 17
 * to 21 version; {@code META-INF/versions/22} of {@code ummu.jar} has one on
 * {@code MemorySegment} for 22 and later.
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
 * <h2>Which load</h2>
 * A {@code byteBufferViewVarHandle} load costs about twice a volatile field
 * read: its bounds, alignment and session checks stay in the compiled code,
 * because a {@code ByteBuffer}'s fields are not constants to the JIT. On
 * these releases the only load without checks is {@code sun.misc.Unsafe}'s
 * (module {@code jdk.unsupported}; its memory access is deprecated for
 * removal only from Java 23 on, and never runs there: 22+ use the other
 * version of this class). Its volatile load is at least acquire, as the
 * protocol needs. Where {@code Unsafe} is missing (a runtime linked without
 * {@code jdk.unsupported}) the view's load is used.
 *
 * <p>Even the unchecked load depends on one more load when the address is
 * an instance field: the notifier's counter reference, then the address,
 * then the counter, each waiting for the one before. So each notifier gets a
 * class of its own (see {@link #defineConstantClass}) whose {@code static
 * final} holds the address: a constant the JIT puts in the instruction, so
 * the counter load issues without waiting for any other. That class is a
 * subclass of the notifier, not of this class, so that the type profile
 * which decides whether the call is inlined is the caller's own and not one
 * shared by every notifier of the process (see
 * {@code AbstractMemoryNotifier.newNotifier}).
 * The instance of this class then only keeps the page mapped, and serves the
 * slow path and notifiers whose class could not be defined.
 *
 * <p>Instances are immutable and thread-safe.
 */
public abstract class CounterPage {
    /** Whether {@link Raw} works here; a missing jdk.unsupported fails its linking, not just its initializer. */
    private static final boolean RAW = rawAvailable();

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
        CounterPage c = RAW ? new Raw(view) : new View(view);
        CounterPages.CLEANER.register(c, release);
        return c;
    }

    /**
     * Defines, from the template class file {@code entry} of ummu.jar (a
     * class of the lookup's package), a hidden nestmate of the lookup class
     * whose class data is {@code page}'s counter as this release loads it
     * from a constant: here its address (a {@code Long}), read back by the
     * template with {@link #addressClassData} and loaded with an unchecked
     * load of the template's own (not public: no public method here reads
     * an arbitrary address). Null, and the caller uses the
     * instance-field load, when there is no unchecked load on this runtime
     * or the class cannot be defined (the reason is then in
     * {@link #constantClassFailure()}).
     *
     * <p>The class holds the page's address, never what keeps the page
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
        if (!RAW) {
            constantFailure = "sun.misc.Unsafe is not available (no jdk.unsupported)";
            return null;
        }
        Object c = CounterPages.define(lookup, entry, DirectAddress.of(CounterPages.checkedView(page)));
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
     * @return the page's address
     * @throws IllegalStateException if the class has no class data (it was
     *     not defined by {@link #defineConstantClass}, e.g. the template
     *     loaded under its own name)
     */
    public static long addressClassData(MethodHandles.Lookup own) {
        return CounterPages.classData(own, Long.class, "counter address");
    }

    /**
     * Which load a {@link #defineConstantClass} class does, for tests and diagnostics.
     *
     * @return {@code "constant-unsafe"}
     */
    public static String constantKind() {
        return "constant-unsafe";
    }

    private static boolean rawAvailable() {
        try {
            return Raw.AVAILABLE;
        } catch (LinkageError e) {
            return false;
        }
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
     * Which load this is, for tests and diagnostics: {@code "unsafe"} or
     * {@code "buffer-view"} here; {@code "segment"} on Java 22+.
     *
     * @return the kind
     */
    public abstract String kind();

    /** One unchecked volatile load from the page's address, an instance field. */
    static final class Raw extends CounterPage {
        static final sun.misc.Unsafe UNSAFE;
        static final boolean AVAILABLE;

        static {
            // DirectAddress's, which this release needs anyway to find a page's address.
            UNSAFE = DirectAddress.UNSAFE;
            AVAILABLE = UNSAFE != null;
        }

        private final long address;

        Raw(ByteBuffer view) {
            super(view);
            this.address = DirectAddress.of(view);
        }

        @Override
        public long getAcquire() {
            long v = UNSAFE.getLongVolatile(null, address);
            Reference.reachabilityFence(this);
            return v;
        }

        @Override
        public String kind() {
            return "unsafe";
        }
    }

    /** The checked load through a byte-buffer view VarHandle. */
    static final class View extends CounterPage {
        private static final VarHandle COUNTER =
                MethodHandles.byteBufferViewVarHandle(long[].class, ByteOrder.nativeOrder());

        View(ByteBuffer view) {
            super(view);
        }

        @Override
        public long getAcquire() {
            long v = (long) COUNTER.getAcquire(view(), 0);
            Reference.reachabilityFence(this);
            return v;
        }

        @Override
        public String kind() {
            return "buffer-view";
        }
    }

    /** For tests: a counter of each kind this release has, over {@code page}, without a cleaner. */
    static CounterPage[] allKinds(ByteBuffer page) {
        ByteBuffer view = CounterPages.checkedView(page);
        if (!RAW) {
            return new CounterPage[] {new View(view)};
        }
        return new CounterPage[] {new Raw(view), new View(view)};
    }
}
