package io.ummu.agent;

import net.bytebuddy.asm.Advice;

import io.ummu.agent.bootstrap.UmmuHooks;

/**
 * Advice inlined into JDK classes. The code of these methods is copied into
 * the JDK's methods, so it may reference only what the bootstrap loader sees:
 * {@link UmmuHooks} (on the bootstrap path) and its constants. suppress =
 * Throwable: nothing may escape into a Cleaner or the Reference Handler.
 *
 * <p>Hook points, verified with {@code javap -p} on JDK 17 and 25:
 * <pre>
 * java.nio.DirectByteBuffer$Deallocator
 *     private &lt;init&gt;(long address, long size, int capacity)   17: class, 25: record
 *     public void run()        reads field address; 17 zeroes it, so the enter value is passed on
 * sun.nio.ch.FileChannelImpl$Unmapper (abstract; Default/SyncUnmapper extend it)
 *     private &lt;init&gt;(long address, long size, long cap, FileDescriptor fd, int pagePosition)
 *     public void unmap()      field address is the mmap base, size the mapped length
 * </pre>
 */
final class Advices {
    private Advices() {
    }

    static final class DirectAllocated {
        @Advice.OnMethodExit(suppress = Throwable.class)
        static void exit(@Advice.Argument(0) long address, @Advice.Argument(1) long size) {
            UmmuHooks.onAllocated(UmmuHooks.DIRECT, address, size);
        }
    }

    static final class DirectFreed {
        @Advice.OnMethodEnter(suppress = Throwable.class)
        static long enter(@Advice.FieldValue("address") long address) {
            return UmmuHooks.onReleasing(UmmuHooks.DIRECT, address);
        }

        @Advice.OnMethodExit(suppress = Throwable.class, onThrowable = Throwable.class)
        static void exit(@Advice.Enter long address) {
            UmmuHooks.onReleased(UmmuHooks.DIRECT, address);
        }
    }

    static final class Mapped {
        @Advice.OnMethodExit(suppress = Throwable.class)
        static void exit(@Advice.Argument(0) long address, @Advice.Argument(1) long size) {
            UmmuHooks.onAllocated(UmmuHooks.MAPPED, address, size);
        }
    }

    static final class Unmapped {
        @Advice.OnMethodEnter(suppress = Throwable.class)
        static long enter(@Advice.FieldValue("address") long address) {
            return UmmuHooks.onReleasing(UmmuHooks.MAPPED, address);
        }

        @Advice.OnMethodExit(suppress = Throwable.class, onThrowable = Throwable.class)
        static void exit(@Advice.Enter long address) {
            UmmuHooks.onReleased(UmmuHooks.MAPPED, address);
        }
    }
}
