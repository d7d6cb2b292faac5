package io.ummu.internal;

import java.io.IOException;
import java.io.InputStream;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.invoke.VarHandle;
import java.lang.ref.Cleaner;
import java.lang.ref.Reference;
import java.lang.reflect.Field;
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
 * closed: it reads a counter that no longer moves, never a freed page. The
 * notifier drops its references on close and the page goes after the next
 * garbage collection that finds the object unreachable.
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
 * <p>Even the unchecked load costs one more field load when the address is
 * an instance field. So each counter gets a hidden class of its own, defined
 * from the bytes of {@code ConstantCounterPage} with the address as class
 * data, read into a {@code static final}: a constant the JIT puts in the
 * instruction. The class goes (it is not strongly bound to its loader) with
 * its last instance. The call from the notifier stays monomorphic while one
 * or two such classes have been used at it (the usual one or two notifiers
 * per process); a process that opens many notifiers over its life makes it a
 * virtual call. Should the class not be definable, the address goes in an
 * instance field.
 *
 * <p>Instances are immutable and thread-safe.
 */
public abstract class CounterPage {
    private static final Cleaner CLEANER = Cleaner.create(r -> {
        Thread t = new Thread(r, "ummu-cleaner");
        t.setDaemon(true);
        return t;
    });

    /** Whether {@link Raw} works here; a missing jdk.unsupported fails its linking, not just its initializer. */
    private static final boolean RAW = rawAvailable();

    private static final String TEMPLATE = "ConstantCounterPage.class";
    /** The template's bytes, or null with the reason in TEMPLATE_FAILURE. */
    private static final byte[] TEMPLATE_BYTES;
    private static final String TEMPLATE_FAILURE;

    static {
        byte[] bytes = null;
        String failure = null;
        // From ummu.jar itself when loaded from it: the class loader would search
        // the JDK's image first, a sizeable part of the agent's start-up.
        byte[][] own = OwnJar.read(CounterPage.class, "io/ummu/internal/" + TEMPLATE);
        if (own != null && own[0] != null) {
            bytes = own[0];
        } else {
            try (InputStream in = CounterPage.class.getResourceAsStream(TEMPLATE)) {
                if (in == null) {
                    failure = TEMPLATE + " is not readable as a resource of " + CounterPage.class.getName();
                } else {
                    bytes = in.readAllBytes();
                }
            } catch (IOException | RuntimeException e) {
                failure = "reading " + TEMPLATE + ": " + e;
            }
        }
        TEMPLATE_BYTES = bytes;
        TEMPLATE_FAILURE = failure;
    }

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
        ByteBuffer view = checkedView(page);
        Objects.requireNonNull(release, "release");
        CounterPage c = null;
        if (RAW) {
            c = defineConstant(view);
            if (c == null) {
                c = new Raw(view);
            }
        } else {
            c = new View(view);
        }
        CLEANER.register(c, release);
        return c;
    }

    private static boolean rawAvailable() {
        try {
            return Raw.AVAILABLE;
        } catch (LinkageError e) {
            return false;
        }
    }

    /** The page through a read-only view: the page is mapped PROT_READ, a stray write must not reach it. */
    static ByteBuffer checkedView(ByteBuffer page) {
        Objects.requireNonNull(page, "page");
        if (!page.isDirect()) {
            throw new IllegalArgumentException("page: not a direct buffer");
        }
        if (page.capacity() < Long.BYTES) {
            throw new IllegalArgumentException("page: " + page.capacity() + " bytes, the counter needs 8");
        }
        if ((DirectAddress.of(page) & (Long.BYTES - 1)) != 0) {
            throw new IllegalArgumentException(String.format("page: address 0x%x is not 8-byte aligned",
                    DirectAddress.of(page)));
        }
        return page.asReadOnlyBuffer().order(ByteOrder.nativeOrder());
    }

    /** @return a counter of a hidden class of its own with the address as a constant, or null */
    private static CounterPage defineConstant(ByteBuffer view) {
        if (TEMPLATE_BYTES == null) {
            return null;
        }
        try {
            MethodHandles.Lookup lookup = MethodHandles.lookup()
                    .defineHiddenClassWithClassData(TEMPLATE_BYTES, DirectAddress.of(view), true);
            MethodHandle ctor = lookup.findConstructor(lookup.lookupClass(),
                    MethodType.methodType(void.class, ByteBuffer.class));
            CounterPage c = (CounterPage) ctor.invoke(view);
            // Links what the first fast-path call would (a template of the
            // wrong release, say, fails here and not in a caller's loop).
            c.getAcquire();
            return c;
        } catch (VirtualMachineError e) {
            throw e;
        } catch (Throwable e) {
            // Fail open: the instance-field address reads the same counter.
            return null;
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
     * Which load this is, for tests and diagnostics: {@code "constant-unsafe"},
     * {@code "unsafe"} or {@code "buffer-view"} here; {@code "constant-segment"} or
     * {@code "segment"} on Java 22+.
     *
     * @return the kind
     */
    public abstract String kind();

    /** One unchecked volatile load from the page's address, an instance field. */
    static final class Raw extends CounterPage {
        static final sun.misc.Unsafe UNSAFE;
        static final boolean AVAILABLE;

        static {
            sun.misc.Unsafe u = null;
            try {
                Field f = sun.misc.Unsafe.class.getDeclaredField("theUnsafe");
                f.setAccessible(true);
                u = (sun.misc.Unsafe) f.get(null);
            } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
                u = null;
            }
            UNSAFE = u;
            AVAILABLE = u != null;
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
        ByteBuffer view = checkedView(page);
        if (!RAW) {
            return new CounterPage[] {new View(view)};
        }
        CounterPage constant = defineConstant(view);
        if (constant == null) {
            throw new IllegalStateException("the constant-address counter cannot be defined: " + TEMPLATE_FAILURE);
        }
        return new CounterPage[] {constant, new Raw(view), new View(view)};
    }
}
