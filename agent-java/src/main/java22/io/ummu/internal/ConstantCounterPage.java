package io.ummu.internal;

import java.lang.constant.ConstantDescs;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.lang.ref.Reference;
import java.nio.ByteBuffer;

/**
 * Never loaded under this name: its bytes are the template from which
 * {@link CounterPage#open} defines one hidden class per counter page, with
 * the page's segment as class data. Read into a {@code static final}, the
 * segment is a constant to the JIT, which then folds the access checks of
 * {@link #getAcquire()} into one load (see {@link CounterPage}).
 */
final class ConstantCounterPage extends CounterPage {
    private static final MemorySegment COUNTER = classData();

    ConstantCounterPage(ByteBuffer view) {
        super(view);
    }

    private static MemorySegment classData() {
        try {
            return MethodHandles.classData(MethodHandles.lookup(), ConstantDescs.DEFAULT_NAME, MemorySegment.class);
        } catch (IllegalAccessException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    @Override
    public long getAcquire() {
        long v = (long) LONG.getAcquire(COUNTER, 0L);
        Reference.reachabilityFence(this);
        return v;
    }

    @Override
    public String kind() {
        return "constant-segment";
    }
}
