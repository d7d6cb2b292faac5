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
 * {@code -prof gc}: the records are garbage, and a backlog of them is what
 * makes the process figure vary between runs.
 *
 * <p>Each buffer is released right after it is allocated, so the dispatcher
 * sees both in one batch and never watches it: this is the cost of a
 * short-lived buffer. A buffer that outlives a batch (a fraction of a
 * millisecond) also costs a kernel watch and unwatch, which
 * {@code WatchBenchmark} measures.
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
