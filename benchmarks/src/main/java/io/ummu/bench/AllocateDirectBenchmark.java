package io.ummu.bench;

import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * {@code ByteBuffer.allocateDirect(size)} and its release through the
 * buffer's cleaner (the path the agent instruments). The configurations
 * (no agent; agent with each backend; agent with stack sampling) are the
 * same benchmark run in forks with different JVM arguments
 * ({@code -jvmArgsAppend -javaagent:...}, see ./run-benchmarks).
 *
 * <p>The agent's hooks only queue a record; its dispatcher thread does the
 * rest (registry, kernel watch, unwatch) concurrently. The time per
 * operation below is the application thread's; run with
 * {@code -prof io.ummu.bench.ProcessCpuProfiler} to also see the CPU time
 * of the whole process per operation, dispatcher included, and with
 * {@code -prof gc}: the hooks' records sit in a preallocated ring, so what
 * the agent adds there is the dispatcher's per-buffer objects (and, when the
 * dispatcher falls a whole ring behind, records spilled as objects).
 *
 * <p>Each buffer is released right after it is allocated, so the dispatcher
 * sees both in one batch, or in two consecutive ones, and never watches it:
 * this is the cost of a short-lived buffer. A buffer that outlives the round
 * after its allocation's (a fraction of a millisecond) also costs a kernel
 * watch and unwatch, which {@code WatchBenchmark} measures. On a loaded
 * machine the figures move with the load: a dispatcher that waits for a core
 * falls behind, and the allocating thread then pauses for it (the agent's
 * bounded backlog); compare runs taken side by side.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class AllocateDirectBenchmark {
    @Param({"4096", "65536", "1048576"})
    public int size;

    @Benchmark
    public int allocateRelease() {
        ByteBuffer b = ByteBuffer.allocateDirect(size);
        int c = b.capacity();
        Buffers.free(b);
        return c;
    }
}
