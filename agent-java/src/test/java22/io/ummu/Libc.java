package io.ummu;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;

/** mmap and friends through FFM, so tests can change mappings the way native code does. */
final class Libc {
    static final long PAGE = 4096;
    static final int PROT_READ = 1;
    static final int PROT_WRITE = 2;
    static final int MAP_PRIVATE = 0x02;
    static final int MAP_ANONYMOUS = 0x20;
    static final int MREMAP_MAYMOVE = 1;
    static final int MREMAP_FIXED = 2;
    static final int MADV_DONTNEED = 4;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final MethodHandle MMAP = handle("mmap",
            FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG));
    private static final MethodHandle MUNMAP = handle("munmap", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle MPROTECT = handle("mprotect",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    private static final MethodHandle MADVISE = handle("madvise",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    private static final MethodHandle MREMAP = LINKER.downcallHandle(LIBC.find("mremap").orElseThrow(),
            FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG, JAVA_INT, ADDRESS),
            Linker.Option.firstVariadicArg(4));
    private static final MethodHandle WATCH_SEGMENT;

    static {
        try {
            // Through a handle: the test compiler sees the Java 17 MemoryNotifier;
            // at run time the Java 22 one from ummu.jar's META-INF/versions/22 is loaded.
            WATCH_SEGMENT = MethodHandles.publicLookup().findVirtual(MemoryNotifier.class, "watch",
                    MethodType.methodType(Watch.class, MemorySegment.class));
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError("MemoryNotifier.watch(MemorySegment) missing on Java "
                    + Runtime.version().feature() + ": is ummu.jar multi-release? " + e);
        }
    }

    private Libc() {
    }

    private static MethodHandle handle(String name, FunctionDescriptor fd) {
        return LINKER.downcallHandle(LIBC.find(name).orElseThrow(), fd);
    }

    /** n.watch(segment), the Java 22 overload. */
    static Watch watch(MemoryNotifier n, MemorySegment segment) {
        try {
            return (Watch) WATCH_SEGMENT.invokeExact(n, segment);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** Anonymous private read-write pages, every page touched (so they are populated). */
    static MemorySegment mapAnonymous(long pages) {
        MemorySegment m = (MemorySegment) call(MMAP, MemorySegment.NULL, pages * PAGE, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0L);
        if (m.address() == -1L) {
            throw new AssertionError("mmap(" + pages + " pages) failed");
        }
        MemorySegment s = m.reinterpret(pages * PAGE);
        for (long p = 0; p < pages; p++) {
            s.set(JAVA_INT, p * PAGE, 1);
        }
        return s;
    }

    static void munmap(long address, long length) {
        check("munmap", (int) call(MUNMAP, MemorySegment.ofAddress(address), length));
    }

    static void mprotect(long address, long length, int prot) {
        check("mprotect", (int) call(MPROTECT, MemorySegment.ofAddress(address), length, prot));
    }

    static void madvise(long address, long length, int advice) {
        check("madvise", (int) call(MADVISE, MemorySegment.ofAddress(address), length, advice));
    }

    /** Moves [from, from + length) to [to, to + length) (replacing what is there). */
    static void mremapTo(long from, long length, long to) {
        MemorySegment r = (MemorySegment) call(MREMAP, MemorySegment.ofAddress(from), length, length,
                MREMAP_MAYMOVE | MREMAP_FIXED, MemorySegment.ofAddress(to));
        if (r.address() != to) {
            throw new AssertionError(String.format("mremap(0x%x -> 0x%x) failed: 0x%x", from, to, r.address()));
        }
    }

    private static void check(String what, int rc) {
        if (rc != 0) {
            throw new AssertionError(what + " failed: " + rc);
        }
    }

    private static Object call(MethodHandle h, Object... args) {
        try {
            return h.invokeWithArguments(args);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }
}
