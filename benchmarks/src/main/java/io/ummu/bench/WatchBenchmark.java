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

    /**
     * The direct buffer the watched page lies in: 64 KiB comes from a malloc
     * arena (a large mapping shared with other allocations), 1 MiB from a
     * mapping of its own (above glibc's initial mmap threshold).
     */
    @Param({"65536", "1048576"})
    public int bufferSize;

    /**
     * 1: another page of the same buffer stays watched throughout, so the
     * measured pair is never the notifier's only watch (the userfaultfd
     * backend unregisters a mapping from the kernel when its last watch goes,
     * and registers it again with the next one).
     */
    @Param({"0", "1"})
    public int keepOther;

    private Watch other;

    private MemoryNotifier notifier;
    private ByteBuffer memory;
    private long address;

    @Setup(Level.Trial)
    public void open() {
        notifier = Open.notifier(backend);
        memory = ByteBuffer.allocateDirect(bufferSize);
        for (int i = 0; i < memory.capacity(); i += 4096) {
            memory.put(i, (byte) 1);
        }
        // A page-aligned page inside the buffer.
        Watch probe = notifier.watch(memory);
        address = (probe.address() + 4095) & ~4095L;
        probe.close();
        if (keepOther == 1) {
            other = notifier.watch(address + 4096, 4096);
        }
    }

    @TearDown(Level.Trial)
    public void close() {
        if (other != null) {
            other.close();
        }
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
