package io.ummu.internal;

import java.io.IOException;
import java.io.InputStream;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.ref.Cleaner;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Objects;

/**
 * What both releases of {@link CounterPage} share (this class is not
 * versioned; each release's {@code CounterPage} and
 * {@code ConstantCounterPage} differ only in what the constant is and how it
 * is loaded): the checks on a backend's page, the template from which one
 * hidden class per page is defined, and the cleaner that releases pages.
 */
final class CounterPages {
    static final Cleaner CLEANER = Cleaner.create(r -> {
        Thread t = new Thread(r, "ummu-cleaner");
        t.setDaemon(true);
        return t;
    });

    /** The release's own ConstantCounterPage (the class loader picks the versioned entry on 22+). */
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

    private CounterPages() {
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

    /**
     * @param classData the constant the template reads (the page's address or segment)
     * @return a counter of a hidden class of its own with classData as a constant, or null
     */
    static CounterPage defineConstant(ByteBuffer view, Object classData) {
        if (TEMPLATE_BYTES == null) {
            return null;
        }
        try {
            MethodHandles.Lookup lookup = MethodHandles.lookup()
                    .defineHiddenClassWithClassData(TEMPLATE_BYTES, classData, true);
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
            // Fail open: the caller's instance-field counter reads the same page.
            return null;
        }
    }

    /** For tests: why {@link #defineConstant} gives null. */
    static IllegalStateException notDefinable(String what) {
        return new IllegalStateException("the " + what + " counter cannot be defined: " + TEMPLATE_FAILURE);
    }
}
