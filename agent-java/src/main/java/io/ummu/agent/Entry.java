package io.ummu.agent;

import io.ummu.BufferKind;
import io.ummu.TrackedBuffer;
import io.ummu.Watch;

/** A tracked buffer. Written by the dispatcher thread only; read by anyone. */
final class Entry implements TrackedBuffer {
    static final int LIVE = 0;
    static final int RELEASING = 1;
    static final int RELEASED = 2;

    private static final StackTraceElement[] NO_STACK = new StackTraceElement[0];

    final long id;
    final BufferKind kind;
    final long address;
    final long size;
    final String thread;
    final long timeMillis;
    final StackTraceElement[] stack;

    volatile int state;
    private static final java.lang.invoke.VarHandle STATE;

    static {
        try {
            STATE = java.lang.invoke.MethodHandles.lookup().findVarHandle(Entry.class, "state", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }
    volatile Watch watch;
    /** The kernel reported the memory gone (unmap/remap/remove) while watched. Dispatcher-confined. */
    boolean kernelUnmapped;
    /** The next buffer releasing at the same address (malloc reuses addresses). Dispatcher-confined. */
    Entry nextReleasing;

    Entry(long id, BufferKind kind, long address, long size, String thread, long timeMillis,
          StackTraceElement[] stack) {
        this.id = id;
        this.kind = kind;
        this.address = address;
        this.size = size;
        this.thread = thread;
        this.timeMillis = timeMillis;
        this.stack = stack == null ? NO_STACK : stack;
    }

    /**
     * The dispatcher's store of {@link #state}: release order is all a reader
     * of {@link #isLive()} (a volatile load) needs, and it spares the
     * dispatcher a full fence per buffer.
     */
    void setStateRelease(int s) {
        STATE.setRelease(this, s);
    }

    @Override
    public long id() {
        return id;
    }

    @Override
    public BufferKind kind() {
        return kind;
    }

    @Override
    public long address() {
        return address;
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public String allocatingThread() {
        return thread;
    }

    @Override
    public long allocatedAtMillis() {
        return timeMillis;
    }

    @Override
    public StackTraceElement[] allocationStack() {
        return stack.clone();
    }

    @Override
    public boolean isLive() {
        return state == LIVE;
    }

    @Override
    public Watch watch() {
        return watch;
    }

    @Override
    public String toString() {
        return String.format("%s #%d [0x%x, 0x%x) %d bytes, thread '%s'%s", kind, id, address, address + size, size,
                thread, state == LIVE ? "" : state == RELEASING ? ", releasing" : ", released");
    }
}
