package io.ummu.internal;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.invoke.VarHandle;
import java.lang.ref.Cleaner;
import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
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
 * closed: it reads a counter that no longer moves, never a freed page. The
 * notifier drops its references on close and the page goes after the next
 * garbage collection that finds the object unreachable.
 *
 * <h2>Which load: a constant segment in a class of its own</h2>
 * A {@code MemorySegment} {@code getAcquire} checks bounds, alignment and the
 * segment's liveness before it loads. With the segment in an instance field
 * those checks stay in the compiled code (about 2.5 times a volatile field
 * read); with the segment in a {@code static final} field the JIT sees a
 * constant segment of a session that never closes and folds every check
 * away, leaving one load. A notifier's page is known only at run time, so
 * each counter gets its own hidden class, defined from the bytes of
 * {@code ConstantCounterPage} with the segment as its class data, read into a
 * {@code static final}. The class goes (it is not strongly bound to its
 * loader) with its last instance. The call from the notifier is monomorphic
 * while one or two such classes have been used at it (the usual one or two
 * notifiers per process); a process that opens many notifiers over its life
 * makes it a virtual call, still without the checks. Should the class not be
 * definable (its bytes not readable as a resource, say), the segment goes in
 * an instance field: slower, the same semantics.
 *
 * <p>Instances are immutable and thread-safe.
 */
public abstract class CounterPage {
    private static final Cleaner CLEANER = Cleaner.create(r -> {
        Thread t = new Thread(r, "ummu-cleaner");
        t.setDaemon(true);
        return t;
    });

    static final VarHandle LONG = ValueLayout.JAVA_LONG.varHandle();

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
        MemorySegment counter = counterSegment(view);
        CounterPage c = defineConstant(view, counter);
        if (c == null) {
            c = new Instance(view, counter);
        }
        CLEANER.register(c, release);
        return c;
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

    /** The counter's 8 bytes, read-only, in a session that never closes (it holds the page buffer). */
    private static MemorySegment counterSegment(ByteBuffer view) {
        return MemorySegment.ofBuffer(view.duplicate().clear()).asSlice(0, Long.BYTES);
    }

    /** @return a counter of a hidden class of its own with the segment as a constant, or null */
    private static CounterPage defineConstant(ByteBuffer view, MemorySegment counter) {
        if (TEMPLATE_BYTES == null) {
            return null;
        }
        try {
            MethodHandles.Lookup lookup = MethodHandles.lookup()
                    .defineHiddenClassWithClassData(TEMPLATE_BYTES, counter, true);
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
            // Fail open: the instance-field segment reads the same counter.
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
     * Which load this is, for tests and diagnostics: {@code "constant-segment"}
     * or {@code "segment"} here; {@code "constant-unsafe"}, {@code "unsafe"} or {@code "buffer-view"}
     * on Java 17 to 21.
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
        ByteBuffer view = checkedView(page);
        MemorySegment counter = counterSegment(view);
        CounterPage constant = defineConstant(view, counter);
        if (constant == null) {
            throw new IllegalStateException("the constant-segment counter cannot be defined: " + TEMPLATE_FAILURE);
        }
        return new CounterPage[] {constant, new Instance(view, counter)};
    }
}
