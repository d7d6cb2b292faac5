package io.ummu.bench;

import io.ummu.MemoryNotifier;
import io.ummu.Watch;
import java.nio.ByteBuffer;
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
 * One {@code watch} + {@code Watch.close()} pair of a mapped 4 KiB range,
 * through the public API, per backend (the parameter; ummunotify only where
 * the module is loaded). The range stays mapped throughout, so no event is
 * ever produced: this is the bookkeeping and the kernel registration alone.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class WatchBenchmark {
    @Param("auto")
    public String backend;

    private MemoryNotifier notifier;
    private ByteBuffer memory;
    private long address;

    @Setup(Level.Trial)
    public void open() {
        notifier = Open.notifier(backend);
        memory = ByteBuffer.allocateDirect(1 << 16);
        for (int i = 0; i < memory.capacity(); i += 4096) {
            memory.put(i, (byte) 1);
        }
        // A page-aligned page inside the buffer.
        Watch probe = notifier.watch(memory);
        address = (probe.address() + 4095) & ~4095L;
        probe.close();
    }

    @TearDown(Level.Trial)
    public void close() {
        notifier.close();
        Buffers.free(memory);
    }

    @Benchmark
    public long watchUnwatch() {
        Watch w = notifier.watch(address, 4096);
        long cookie = w.cookie();
        w.close();
        return cookie;
    }
}
