package io.ummu.cache;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;

/** mmap/munmap through FFM for the cache tests, and the Java 22 acquire(MemorySegment). */
final class Mm {
    static final long PAGE = 4096;
    private static final int PROT_RW = 1 | 2;
    private static final int MAP_PRIVATE = 0x02;
    private static final int MAP_FIXED = 0x10;
    private static final int MAP_ANONYMOUS = 0x20;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle MMAP = LINKER.downcallHandle(
            LINKER.defaultLookup().find("mmap").orElseThrow(),
            FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG));
    private static final MethodHandle MUNMAP = LINKER.downcallHandle(
            LINKER.defaultLookup().find("munmap").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG));
    private static final MethodHandle ACQUIRE_SEGMENT;

    static {
        try {
            // The test compiler sees the Java 17 RegistrationCache; ummu.jar's
            // META-INF/versions/22 one, with this method, is loaded at run time.
            ACQUIRE_SEGMENT = MethodHandles.publicLookup().findVirtual(RegistrationCache.class, "acquire",
                    MethodType.methodType(Lease.class, MemorySegment.class));
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError("RegistrationCache.acquire(MemorySegment) missing on Java "
                    + Runtime.version().feature() + ": is ummu.jar multi-release? " + e);
        }
    }

    private Mm() {
    }

    /** cache.acquire(segment), the Java 22 overload. */
    @SuppressWarnings("unchecked")
    static <R> Lease<R> acquire(RegistrationCache<R> cache, MemorySegment segment) {
        try {
            return (Lease<R>) ACQUIRE_SEGMENT.invoke(cache, segment);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** Fresh anonymous read-write pages, each touched. */
    static long map(long pages) {
        return map(0, pages, 0);
    }

    /** New anonymous pages at exactly this address, replacing whatever was mapped there. */
    static long mapFixed(long address, long pages) {
        long a = map(address, pages, MAP_FIXED);
        if (a != address) {
            throw new AssertionError(String.format("mmap(MAP_FIXED 0x%x) returned 0x%x", address, a));
        }
        return a;
    }

    private static long map(long hint, long pages, int extra) {
        long a;
        try {
            a = (long) MMAP.invokeExact(hint, pages * PAGE, PROT_RW, MAP_PRIVATE | MAP_ANONYMOUS | extra, -1, 0L);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
        if (a == -1L) {
            throw new AssertionError("mmap(" + pages + " pages) failed");
        }
        MemorySegment s = MemorySegment.ofAddress(a).reinterpret(pages * PAGE);
        for (long p = 0; p < pages; p++) {
            s.set(JAVA_INT, p * PAGE, 1);
        }
        return a;
    }

    static void munmap(long address, long length) {
        int rc;
        try {
            rc = (int) MUNMAP.invokeExact(address, length);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
        if (rc != 0) {
            throw new AssertionError(String.format("munmap(0x%x, %d) failed", address, length));
        }
    }

    static MemorySegment segment(long address, long length) {
        return MemorySegment.ofAddress(address).reinterpret(length);
    }
}
