package io.ummu.bench;

import io.ummu.MemoryNotifier;
import io.ummu.cache.Lease;
import io.ummu.cache.RegistrationCache;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
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
 * What {@link RegistrationCache} itself costs, with a registrar that does
 * nothing (a real one, an RDMA memory registration say, costs far more; the
 * cache exists to avoid it):
 * <ul>
 * <li>{@code hit}: acquire + release of a cached 4 KiB range out of 64 cached
 *     ones, nothing changed: the lookup and one counter check.</li>
 * <li>{@code miss}: a cache of one entry, acquiring two ranges in turn, so
 *     every acquire misses: watch + register of the new range and capacity
 *     eviction (unwatch + deregister) of the other.</li>
 * <li>{@code validateAfterChange}: a hit on a cached range right after
 *     another cached range was unmapped (a file page, released through the
 *     JDK): the counter moved, so the cache drains the notifier and evicts
 *     the unmapped entry before it answers. The unmap and the re-caching of
 *     the page happen in the per-invocation setup, outside the timing.</li>
 * </ul>
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class CacheBenchmark {
    private static final int PAGE = 4096;
    private static final int CACHED = 64;

    /** A notifier, its one cache (the cache must be the notifier's only consumer) and 65 mapped pages. */
    public abstract static class Base {
        MemoryNotifier notifier;
        RegistrationCache<Long> cache;
        ByteBuffer memory;
        long base;
        int next;
        final AtomicLong registrations = new AtomicLong();

        void open(String backend, int maxEntries) {
            notifier = Open.notifier(backend);
            memory = ByteBuffer.allocateDirect((CACHED + 1) * PAGE);
            for (int i = 0; i < memory.capacity(); i += PAGE) {
                memory.put(i, (byte) 1);
            }
            try (io.ummu.Watch probe = notifier.watch(memory)) {
                base = (probe.address() + PAGE - 1) & -PAGE;
            }
            cache = RegistrationCache.builder(notifier, (a, l) -> registrations.incrementAndGet(), r -> { })
                    .name("bench-" + getClass().getSimpleName()).jmx(false).maxEntries(maxEntries).build();
        }

        @TearDown(Level.Trial)
        public void close() throws Exception {
            cache.close();
            notifier.close();
            Buffers.free(memory);
        }
    }

    @State(Scope.Thread)
    public static class Cached extends Base {
        @Param("auto")
        public String backend;

        @Setup(Level.Trial)
        public void setUp() {
            open(backend, 4096);
            for (int i = 0; i < CACHED; i++) {
                cache.acquire(base + (long) i * PAGE, PAGE).close();
            }
        }
    }

    @State(Scope.Thread)
    public static class OneEntry extends Base {
        @Param("auto")
        public String backend;

        @Setup(Level.Trial)
        public void setUp() {
            open(backend, 1);
        }
    }

    @State(Scope.Thread)
    public static class Changing extends Cached {
        private Path file;
        private FileChannel channel;

        @Setup(Level.Trial)
        public void setUpFile() throws Exception {
            Path dir = Files.isDirectory(Paths.get("/dev/shm")) ? Paths.get("/dev/shm")
                    : Paths.get(System.getProperty("java.io.tmpdir"));
            file = Files.createTempFile(dir, "ummu-cache-bench", ".bin");
            channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE);
            channel.write(ByteBuffer.allocate(PAGE));
        }

        /** Maps the file page, caches it, unmaps it: the change the timed acquire must notice. */
        @Setup(Level.Invocation)
        public void change() throws Exception {
            MappedByteBuffer m = channel.map(FileChannel.MapMode.READ_WRITE, 0, PAGE);
            m.put(0, (byte) 1);
            cache.acquire(m).close();
            Buffers.free(m);
        }

        @TearDown(Level.Trial)
        public void closeFile() throws Exception {
            channel.close();
            Files.deleteIfExists(file);
        }
    }

    @Benchmark
    public long hit(Cached s) {
        s.next = (s.next + 1) & (CACHED - 1);
        try (Lease<Long> l = s.cache.acquire(s.base + (long) s.next * PAGE, PAGE)) {
            return l.registration();
        }
    }

    @Benchmark
    public long miss(OneEntry s) {
        s.next ^= 1;
        try (Lease<Long> l = s.cache.acquire(s.base + (long) s.next * PAGE, PAGE)) {
            return l.registration();
        }
    }

    @Benchmark
    public long validateAfterChange(Changing s) {
        try (Lease<Long> l = s.cache.acquire(s.base, PAGE)) {
            return l.registration();
        }
    }
}
