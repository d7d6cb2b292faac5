package io.ummu.internal;

import java.lang.invoke.MethodHandles;
import java.lang.ref.Reference;
import java.nio.ByteBuffer;

/**
 * Never loaded under this name: its bytes are the template from which
 * {@link CounterPage#open} defines one hidden class per counter page, with
 * the page's address as class data. Read into a {@code static final}, the
 * address is a constant to the JIT, so {@link #getAcquire()} compiles to one
 * load (see {@link CounterPage}). This is the Java 17 to 21 version; the Java
 * 22+ one holds a {@code MemorySegment}.
 */
final class ConstantCounterPage extends CounterPage {
    private static final long ADDRESS = classData();

    ConstantCounterPage(ByteBuffer view) {
        super(view);
    }

    private static long classData() {
        try {
            Long address = MethodHandles.classData(MethodHandles.lookup(), "_", Long.class);
            return address == null ? 0L : address;
        } catch (IllegalAccessException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    @Override
    public long getAcquire() {
        long v = Raw.UNSAFE.getLongVolatile(null, ADDRESS);
        Reference.reachabilityFence(this);
        return v;
    }

    @Override
    public String kind() {
        return "constant-unsafe";
    }
}
