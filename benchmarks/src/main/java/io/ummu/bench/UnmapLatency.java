package io.ummu.bench;

import io.ummu.Invalidation;
import io.ummu.InvalidationListener;
import io.ummu.MemoryNotifier;
import io.ummu.Watch;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.locks.LockSupport;

/**
 * munmap -> listener latency: the time from just before a watched, mapped
 * page is unmapped (through the JDK's own {@code Unmapper}, what releasing a
 * {@code MappedByteBuffer} does) to the moment the notifier's listener is
 * called for it on the {@code ummu-dispatcher} thread. One page at a time;
 * the next one is mapped only after the listener saw the previous one.
 *
 * <pre>
 *   java -cp benchmarks.jar io.ummu.bench.UnmapLatency BACKEND SAMPLES WARMUP OUT.csv
 * </pre>
 *
 * Writes every sample (ns) to OUT.csv, one per line, after a header, and
 * prints a summary. Exits 1 if a listener call does not come within 5 s or
 * anything fails. The munmap call's own duration is recorded too: with
 * userfaultfd the kernel holds the unmapping thread until the backend's
 * reader has read the event. The summary also gives the process's CPU
 * time per measured sample (all threads: mapping, watching, unmapping, the
 * backend's reader, the dispatcher, JIT and GC; /proc's clock-tick
 * resolution), so that a change that buys latency with CPU (a spinning
 * waiter) shows its price.
 *
 * <p>What a user sees: the release of a watched buffer on an application
 * thread, and the listener called on ummu's own thread afterwards. The
 * measuring thread sleeps while it waits (it is woken by the listener, not
 * polling), so it takes no CPU from the threads on the path; on a 2-core
 * machine a busy-waiting measurer would itself be part of the figure.
 */
public final class UnmapLatency {
    private static final long PAGE = 4096;
    private static final long TIMEOUT_NANOS = 5_000_000_000L;

    private UnmapLatency() {
    }

    /** The listener: records when it saw which cookie, then wakes the measuring thread. */
    private static final class Probe implements InvalidationListener {
        volatile long cookie = -1;
        volatile long seenAt;
        volatile Thread waiter;

        @Override
        public void onInvalidation(Invalidation inv) {
            long t = System.nanoTime();
            if (inv.watch().cookie() == cookie && seenAt == 0) {
                seenAt = t;
                LockSupport.unpark(waiter);
            }
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: UnmapLatency BACKEND SAMPLES WARMUP OUT.csv");
            System.exit(2);
        }
        String backend = args[0];
        int samples = Integer.parseInt(args[1]);
        int warmup = Integer.parseInt(args[2]);
        Path out = Paths.get(args[3]);
        Path dir = Files.isDirectory(Paths.get("/dev/shm")) ? Paths.get("/dev/shm")
                : Paths.get(System.getProperty("java.io.tmpdir"));
        Path file = Files.createTempFile(dir, "ummu-latency", ".bin");
        long[] latency = new long[samples];
        long[] unmapCall = new long[samples];
        Duration cpu0 = null;
        try (MemoryNotifier n = Open.notifier(backend);
             FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ch.write(java.nio.ByteBuffer.allocate((int) PAGE));
            Probe probe = new Probe();
            probe.waiter = Thread.currentThread();
            n.addListener(probe);
            for (int i = -warmup; i < samples; i++) {
                if (i == 0) {
                    cpu0 = processCpu();
                }
                MappedByteBuffer m = ch.map(FileChannel.MapMode.READ_WRITE, 0, PAGE);
                m.put(0, (byte) i);
                Watch w = n.watch(m);
                probe.seenAt = 0;
                probe.cookie = w.cookie();
                long t0 = System.nanoTime();
                Buffers.free(m); // munmap, through Unmapper.unmap()
                long t1 = System.nanoTime();
                long deadline = t0 + TIMEOUT_NANOS;
                while (probe.seenAt == 0) {
                    if (System.nanoTime() - deadline > 0) {
                        throw new IllegalStateException(String.format(Locale.ROOT,
                                "sample %d: no listener call for %s within 5 s (backend %s)", i, w, n.backend()));
                    }
                    LockSupport.parkNanos(1_000_000L);
                }
                if (i >= 0) {
                    latency[i] = probe.seenAt - t0;
                    unmapCall[i] = t1 - t0;
                }
                w.close();
            }
            Duration cpu1 = processCpu();
            try (PrintWriter pw = new PrintWriter(Files.newBufferedWriter(out))) {
                pw.println("# backend " + n.backend() + ", " + samples + " samples after " + warmup
                        + " warm-up; columns: listener latency ns, munmap call ns");
                for (int i = 0; i < samples; i++) {
                    pw.println(latency[i] + "," + unmapCall[i]);
                }
            }
            long[] sorted = latency.clone();
            Arrays.sort(sorted);
            long[] calls = unmapCall.clone();
            Arrays.sort(calls);
            String cpu = cpu0 == null || cpu1 == null ? "n/a"
                    : String.format(Locale.ROOT, "%.1f us", cpu1.minus(cpu0).toNanos() / 1e3 / samples);
            System.out.printf(Locale.ROOT, "unmap->listener latency, %s, %d samples: p50 %.1f us, p99 %.1f us,"
                    + " p99.9 %.1f us, max %.1f us; munmap call p50 %.1f us, p99 %.1f us;"
                    + " process CPU per sample %s%n", n.backend(), samples,
                    pct(sorted, 50) / 1e3, pct(sorted, 99) / 1e3, pct(sorted, 99.9) / 1e3,
                    sorted[samples - 1] / 1e3, pct(calls, 50) / 1e3, pct(calls, 99) / 1e3, cpu);
        } finally {
            Files.deleteIfExists(file);
        }
    }

    /** All threads' CPU time so far, or null where the platform does not tell. */
    private static Duration processCpu() {
        return ProcessHandle.current().info().totalCpuDuration().orElse(null);
    }

    /** Nearest-rank percentile of sorted samples. */
    static long pct(long[] sorted, double p) {
        int rank = (int) Math.ceil(p / 100.0 * sorted.length);
        return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))];
    }
}
