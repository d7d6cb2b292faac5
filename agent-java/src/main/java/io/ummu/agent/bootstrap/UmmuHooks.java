package io.ummu.agent.bootstrap;

/**
 * The only agent class the JDK's own code ever calls.
 *
 * <p>Why this class exists: the agent's advice is inlined into classes of
 * {@code java.base} ({@code DirectByteBuffer$Deallocator},
 * {@code FileChannelImpl$Unmapper}, {@code jdk.internal.foreign.*}), which are
 * defined by the bootstrap class loader. Code there can only link against
 * classes the bootstrap loader can see, so the agent defines this one class
 * in the bootstrap loader (see {@code io.ummu.agent.Bridge}). The rest of the
 * agent (the hook weaver, the tracker, listeners) stays in the application class
 * loader, out of the JDK's way; it plugs itself in by subclassing this class
 * and storing the instance in {@link #sink}. The JVM lets the instrumented
 * modules read the bootstrap loader's unnamed module because they were
 * transformed by an agent ({@code jdk.internal.module.Modules.transformedByAgent}).
 *
 * <p>Keep it minimal and dependency-free: it must reference nothing but
 * {@code java.lang} (and {@code java.util.function.Consumer}). Every entry point swallows every {@link Throwable},
 * because the release hooks run on the Reference Handler thread and inside
 * {@code Cleaner}s, where an exception would end the JVM; the advice also
 * suppresses, but the call sites rewritten in {@code jdk.internal.foreign}
 * have no advice around them.
 */
public abstract class UmmuHooks {
    /** Memory kinds, as passed by the advice. */
    public static final int DIRECT = 0;
    public static final int MAPPED = 1;
    public static final int NATIVE_SEGMENT = 2;
    public static final int JNI = 3;

    /**
     * The installed tracker, or null (nothing is tracked). Volatile: a hook
     * running on any thread sees a fully constructed tracker or none.
     */
    public static volatile UmmuHooks sink;

    /** Counts Throwables swallowed here (there is nowhere to report them from a hook). */
    public static volatile long swallowed;

    /**
     * Run once, with the server, when {@code ManagementFactory.getPlatformMBeanServer()}
     * first returns after the agent hooked it: the agent registers its MBean
     * then instead of at start-up, so that a JVM nobody monitors never pays
     * for building the platform MBean server. Typed Object because this class
     * must not see {@code java.management}.
     */
    public static volatile java.util.function.Consumer<Object> onPlatformMBeanServer;

    protected UmmuHooks() {
    }

    /** Memory [address, address + size) of this kind was just obtained. */
    protected abstract void allocated(int kind, long address, long size);

    /** The JDK is about to release the memory at address (before free/munmap). */
    protected abstract void releasing(int kind, long address);

    /**
     * The JDK is about to release the memory [address, address + size).
     *
     * @return false if the buffer was never tracked (its kind is off, or it is
     *         smaller than the tracker's minimum), so that its release needs
     *         no record at all; then {@link #released} is not called for it
     */
    protected boolean releasing(int kind, long address, long size) {
        releasing(kind, address);
        return true;
    }

    /** The JDK has released the memory at address (after free/munmap returned). */
    protected abstract void released(int kind, long address);

    public static void onAllocated(int kind, long address, long size) {
        UmmuHooks s = sink;
        if (s != null && address != 0) {
            try {
                s.allocated(kind, address, size);
            } catch (Throwable t) {
                swallowed++;
            }
        }
    }

    /** @return address, so that the advice can hand it to {@link #onReleased} */
    public static long onReleasing(int kind, long address) {
        UmmuHooks s = sink;
        if (s != null && address != 0) {
            try {
                s.releasing(kind, address);
            } catch (Throwable t) {
                swallowed++;
            }
        }
        return address;
    }

    /**
     * As {@link #onReleasing(int, long)}, where the release site knows the size.
     *
     * @return address, or 0 if the tracker never tracked the buffer: the
     *         advice hands it to {@link #onReleased}, which ignores 0
     */
    public static long onReleasing(int kind, long address, long size) {
        UmmuHooks s = sink;
        if (s != null && address != 0) {
            try {
                if (!s.releasing(kind, address, size)) {
                    return 0;
                }
            } catch (Throwable t) {
                swallowed++;
            }
        }
        return address;
    }

    public static void onReleased(int kind, long address) {
        UmmuHooks s = sink;
        if (s != null && address != 0) {
            try {
                s.released(kind, address);
            } catch (Throwable t) {
                swallowed++;
            }
        }
    }

    /** Called by ManagementFactory.getPlatformMBeanServer() (a synchronized method) with what it returns. */
    public static void platformMBeanServer(Object server) {
        java.util.function.Consumer<Object> c = onPlatformMBeanServer;
        if (c != null && server != null) {
            onPlatformMBeanServer = null;
            try {
                c.accept(server);
            } catch (Throwable t) {
                swallowed++;
            }
        }
    }

    /*
     * Call-site shims for jdk.internal.foreign, where the agent rewrites
     * "Unsafe.allocateMemory(size)" and "Unsafe.freeMemory(address)" call
     * sites without touching the surrounding code (see SegmentCallSites).
     */

    /** Stack before: size, address. Reports the allocation; the caller keeps address. */
    public static void segmentAllocated(long size, long address) {
        onAllocated(NATIVE_SEGMENT, address, size);
    }

    public static void segmentReleasing(long address) {
        onReleasing(NATIVE_SEGMENT, address);
    }

    public static void segmentReleased(long address) {
        onReleased(NATIVE_SEGMENT, address);
    }
}
