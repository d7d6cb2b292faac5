package io.ummu.internal;

import java.io.IOException;
import java.io.InputStream;
import java.lang.constant.ConstantDescs;
import java.lang.invoke.MethodHandles;
import java.lang.ref.Cleaner;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;

/**
 * What both releases of {@link CounterPage} share (this class is not
 * versioned): the checks on a backend's page, the cleaner that releases
 * pages, and the definition of a notifier's class of its own from a template
 * (see {@link CounterPage#defineConstantClass}).
 */
final class CounterPages {
    static final Cleaner CLEANER = Cleaner.create(r -> {
        Thread t = new Thread(r, "ummu-cleaner");
        t.setDaemon(true);
        return t;
    });

    /** Template bytes by entry name, read once; an absent template maps to a failure message. */
    private static final ConcurrentHashMap<String, Object> TEMPLATES = new ConcurrentHashMap<>();

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
        // alignmentOffset, not the address: on 17-21 the address needs
        // sun.misc.Unsafe, which a runtime without jdk.unsupported lacks.
        int offset = page.alignmentOffset(0, Long.BYTES);
        if (offset != 0) {
            throw new IllegalArgumentException("page: its address is not 8-byte aligned (" + offset
                    + " bytes past a multiple of 8)");
        }
        return page.asReadOnlyBuffer().order(ByteOrder.nativeOrder());
    }

    /**
     * The bytes of a class file of this jar (its versioned entry on 22+, as
     * the class loader would pick), or a String saying why not.
     */
    private static Object template(Class<?> anchor, String entry) {
        return TEMPLATES.computeIfAbsent(entry, e -> {
            // From ummu.jar itself when loaded from it: the class loader would search
            // the JDK's image first, a sizeable part of the agent's start-up.
            byte[][] own = OwnJar.read(anchor, e);
            if (own != null && own[0] != null) {
                return own[0];
            }
            try (InputStream in = anchor.getClassLoader() == null ? null
                    : anchor.getClassLoader().getResourceAsStream(e)) {
                if (in == null) {
                    return e + " is not readable as a resource of " + anchor.getName();
                }
                return in.readAllBytes();
            } catch (IOException | RuntimeException x) {
                return "reading " + e + ": " + x;
            }
        });
    }

    /**
     * The class data of a class from {@link #define}, read in its initializer.
     *
     * @throws IllegalStateException if it has none (not defined by {@link #define},
     *     e.g. the template loaded under its own name)
     */
    static <T> T classData(MethodHandles.Lookup own, Class<T> type, String what) {
        T data;
        try {
            data = MethodHandles.classData(own, ConstantDescs.DEFAULT_NAME, type);
        } catch (IllegalAccessException e) {
            throw new ExceptionInInitializerError(e);
        }
        if (data == null) {
            throw new IllegalStateException(own.lookupClass().getName()
                    + ": no class data; only a class from CounterPage.defineConstantClass has a " + what);
        }
        return data;
    }

    /**
     * @return the hidden class, or a String saying why it could not be defined
     */
    static Object define(MethodHandles.Lookup lookup, String entry, Object classData) {
        Object bytes = template(lookup.lookupClass(), entry);
        if (!(bytes instanceof byte[])) {
            return bytes;
        }
        try {
            return lookup.defineHiddenClassWithClassData((byte[]) bytes, classData, true,
                    MethodHandles.Lookup.ClassOption.NESTMATE).lookupClass();
        } catch (VirtualMachineError e) {
            throw e;
        } catch (Throwable e) {
            return "defining a class from " + entry + ": " + e;
        }
    }
}
