package io.ummu.bench;

import io.ummu.Backend;
import io.ummu.internal.Native;
import io.ummu.internal.NativeStatus;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Where the fast path's time goes, for the report's analysis (not a target):
 * loads of a backend's counter page, taken apart. The byte-buffer view
 * {@code VarHandle.getAcquire} (what the fast path first used) checks the
 * buffer's bounds, alignment and memory session before its load; the raw
 * {@code Unsafe} load is the floor. {@code MemoryNotifier.generationAcquire()}
 * now is a load from a constant address and a sign check (a closed
 * notifier's page reads a negative marker; see
 * io.ummu.AbstractMemoryNotifier#newNotifier and #close).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class FastPathAnatomyBenchmark {
    private static final VarHandle COUNTER =
            MethodHandles.byteBufferViewVarHandle(long[].class, ByteOrder.nativeOrder());

    private static final sun.misc.Unsafe UNSAFE = unsafe();

    private long handle;
    /** The counter's address, for the raw load below. */
    private long address;
    /** The page through a final field: no volatile load of the reference. */
    private ByteBuffer finalPage;
    /** The page through a volatile field, as the notifier holds it. */
    private volatile ByteBuffer volatilePage;

    @Setup(Level.Trial)
    public void open() {
        String why = NativeStatus.unavailabilityCause();
        if (why != null) {
            throw new IllegalStateException(why);
        }
        Backend b = Backend.USERFAULTFD.unavailabilityCause() == null ? Backend.USERFAULTFD : Backend.UMMUNOTIFY;
        handle = Native.open(b.ordinal());
        finalPage = Native.counterPage(handle).order(ByteOrder.nativeOrder());
        volatilePage = finalPage;
        address = io.ummu.internal.DirectAddress.of(finalPage);
    }

    private static sun.misc.Unsafe unsafe() {
        try {
            java.lang.reflect.Field f = sun.misc.Unsafe.class.getDeclaredField("theUnsafe");
            f.setAccessible(true);
            return (sun.misc.Unsafe) f.get(null);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    @TearDown(Level.Trial)
    public void close() {
        Native.close(handle);
    }

    @Benchmark
    public long varHandleGetAcquireFinalField() {
        return (long) COUNTER.getAcquire(finalPage, 0);
    }

    @Benchmark
    public long varHandleGetAcquireVolatileField() {
        ByteBuffer p = volatilePage;
        if (p == null) {
            throw new IllegalStateException("closed");
        }
        return (long) COUNTER.getAcquire(p, 0);
    }

    /**
     * The floor: one volatile load from the raw address, no checks at all.
     * (sun.misc.Unsafe's memory access is deprecated for removal, JEP 471,
     * and warns from JDK 24 on; this only shows what the checks cost.)
     */
    @Benchmark
    public long unsafeGetLongVolatile() {
        return UNSAFE.getLongVolatile(null, address);
    }

    @Benchmark
    public long bufferGetLongPlain() {
        return finalPage.getLong(0);
    }
}
