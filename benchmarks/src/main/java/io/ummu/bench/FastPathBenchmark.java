package io.ummu.bench;

import io.ummu.MemoryNotifier;
import io.ummu.internal.Native;
import io.ummu.internal.NativeStatus;
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
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * "Did anything change?" from Java, side by side in one JVM: the notifier's
 * fast path (one acquire load of the mapped counter) against a volatile
 * {@code long} field read (the target's yardstick: at most 1.5x), a JNI call
 * that does nothing (what the fast path would cost through native code) and
 * a non-blocking read of the backend (what it would cost without the
 * counter: a system call on the device, a queue check on userfaultfd), plus
 * {@code drain()} with nothing pending (the public slow path).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class FastPathBenchmark {
    /** auto, userfaultfd or ummunotify. */
    @Param("auto")
    public String backend;

    /**
     * Other notifiers kept open, whose fast path is run hot before the
     * measurement: the case of a process that polls several (the agent's, a
     * RegistrationCache's, the application's). Each notifier is of a class
     * of its own (see io.ummu.AbstractMemoryNotifier#newNotifier), so what
     * decides whether the call is inlined is how many of them the measured
     * call site itself has seen: see {@link #sameCallSite}.
     */
    @Param("0")
    public int otherNotifiers;

    /**
     * Whether the other notifiers are polled through the very call sites
     * measured (true: one call site seeing 1 + otherNotifiers classes, a
     * virtual call from 3 on, the worst case) or through call sites of
     * their own (false: each caller polls its own notifier, as the agent,
     * a cache and an application do).
     */
    @Param("false")
    public boolean sameCallSite;

    private MemoryNotifier notifier;
    private final java.util.List<MemoryNotifier> others = new java.util.ArrayList<>();
    private long seen;
    private volatile long volatileField = 42;
    private long rawHandle;
    private ByteBuffer readBuffer;

    @Setup(Level.Trial)
    public void open() {
        notifier = Open.notifier(backend);
        seen = notifier.generationAcquire();
        long sink = 0;
        for (int i = 0; i < otherNotifiers; i++) {
            others.add(Open.notifier(backend));
        }
        for (int round = 0; round < 20_000; round++) {
            for (MemoryNotifier o : others) {
                if (sameCallSite) {
                    sink += generationAcquireOf(o);
                    sink += changedSinceOf(o, sink) ? 1 : 0;
                } else {
                    sink += o.generationAcquire();
                    sink += o.changedSince(sink) ? 1 : 0;
                }
            }
            sink += notifier.generationAcquire();
        }
        if (sink == 42) {
            System.out.print("");
        }
        String why = NativeStatus.unavailabilityCause();
        if (why != null) {
            throw new IllegalStateException(why);
        }
        // A second handle of the same backend, read directly: the native read
        // without the notifier's locks and bookkeeping around it.
        rawHandle = Native.open(notifier.backend().ordinal());
        readBuffer = ByteBuffer.allocateDirect(Native.EVENT_SIZE).order(ByteOrder.nativeOrder());
    }

    @TearDown(Level.Trial)
    public void close() {
        notifier.close();
        for (MemoryNotifier o : others) {
            o.close();
        }
        others.clear();
        Native.close(rawHandle);
    }

    @Benchmark
    public long volatileLongRead() {
        return volatileField;
    }

    @Benchmark
    public long generationAcquire() {
        return generationAcquireOf(notifier);
    }

    @Benchmark
    public boolean changedSince() {
        return changedSinceOf(notifier, seen);
    }

    /** The measured call site of generationAcquire() (inlined into the benchmark). */
    private static long generationAcquireOf(MemoryNotifier n) {
        return n.generationAcquire();
    }

    /** The measured call site of changedSince(). */
    private static boolean changedSinceOf(MemoryNotifier n, long generation) {
        return n.changedSince(generation);
    }

    @Benchmark
    public long jniNoop() {
        return Native.noop(seen);
    }

    @Benchmark
    public int nativeReadNonBlocking() {
        int n = Native.read(rawHandle, readBuffer, 1);
        if (n != 0) {
            throw new IllegalStateException("read: expected nothing pending, got " + n);
        }
        return n;
    }

    @Benchmark
    public Object drainEmpty() {
        return notifier.drain();
    }
}
