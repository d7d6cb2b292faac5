package io.ummu.bench;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.lang.management.ThreadMXBean;
import java.util.Collection;
import java.util.List;
import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.infra.IterationParams;
import org.openjdk.jmh.profile.InternalProfiler;
import org.openjdk.jmh.results.AggregationPolicy;
import org.openjdk.jmh.results.IterationResult;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.ScalarResult;

/**
 * CPU time per benchmark operation, two ways ({@code -prof io.ummu.bench.ProcessCpuProfiler}):
 * <ul>
 * <li>{@code cpu.process}: the whole JVM process, so also the work other
 *     threads do for the benchmark: the agent's dispatcher, the userfaultfd
 *     reader, the Reference Handler (and, like any process figure, JIT and GC
 *     threads: compare configurations, not absolute values);</li>
 * <li>{@code cpu.worker}: the JMH worker threads only. Unlike the score (wall
 *     time), CPU time does not grow while the thread waits for a core, so on a
 *     loaded machine this is the steadier figure of the application thread's
 *     own cost. Time blocked in the kernel is not CPU time: a thread that the
 *     kernel holds in munmap until the userfaultfd reader has read the event
 *     shows that wait only in the score.</li>
 * </ul>
 */
public final class ProcessCpuProfiler implements InternalProfiler {
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

    private long startProcess;
    private long startWorkers;

    @Override
    public String getDescription() {
        return "CPU time per operation: whole process and JMH worker threads";
    }

    @Override
    public void beforeIteration(BenchmarkParams benchmarkParams, IterationParams iterationParams) {
        startProcess = processCpuNanos();
        startWorkers = workerCpuNanos();
    }

    @Override
    public Collection<? extends Result> afterIteration(BenchmarkParams benchmarkParams,
            IterationParams iterationParams, IterationResult result) {
        long process = processCpuNanos() - startProcess;
        long workers = workerCpuNanos() - startWorkers;
        long ops = result.getMetadata().getAllOps();
        return List.of(
                new ScalarResult("cpu.process", ops > 0 ? (double) process / ops : Double.NaN, "ns/op",
                        AggregationPolicy.AVG),
                new ScalarResult("cpu.worker", ops > 0 ? (double) workers / ops : Double.NaN, "ns/op",
                        AggregationPolicy.AVG));
    }

    private static long processCpuNanos() {
        java.lang.management.OperatingSystemMXBean os = ManagementFactory.getOperatingSystemMXBean();
        if (os instanceof com.sun.management.OperatingSystemMXBean) {
            return ((com.sun.management.OperatingSystemMXBean) os).getProcessCpuTime();
        }
        return 0;
    }

    /** JMH's worker threads are named "...-jmh-worker-N"; they live across iterations. */
    private static long workerCpuNanos() {
        long sum = 0;
        for (ThreadInfo t : THREADS.getThreadInfo(THREADS.getAllThreadIds())) {
            if (t != null && t.getThreadName().contains("jmh-worker")) {
                long cpu = THREADS.getThreadCpuTime(t.getThreadId());
                if (cpu > 0) {
                    sum += cpu;
                }
            }
        }
        return sum;
    }
}
