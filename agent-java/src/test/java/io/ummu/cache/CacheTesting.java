package io.ummu.cache;

import static org.junit.jupiter.api.Assertions.fail;

import io.ummu.Backend;
import io.ummu.MemoryNotifier;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;

/** Opening real notifiers for the cache tests, and a fake but checkable registration. */
final class CacheTesting {
    /**
     * As in io.ummu.TestBackends (package-private there): with
     * {@code -Dummu.test.backends=ummunotify[,userfaultfd]} (the VM runs) the
     * backend-parameterised tests run for exactly the listed backends and a
     * listed backend that does not open fails; without it (the host build)
     * they run for every backend and one that cannot open is skipped with the
     * reason printed.
     */
    static final String BACKENDS_PROPERTY = "ummu.test.backends";
    static final long PAGE = 4096;

    private CacheTesting() {
    }

    static boolean required() {
        return !System.getProperty(BACKENDS_PROPERTY, "").isBlank();
    }

    /** {@code @MethodSource("io.ummu.cache.CacheTesting#backends")}: every backend under test. */
    static Stream<Backend> backends() {
        if (!required()) {
            return Stream.of(Backend.values());
        }
        List<Backend> out = new ArrayList<>();
        for (String name : System.getProperty(BACKENDS_PROPERTY).split(",")) {
            if (!name.isBlank()) {
                out.add(Backend.valueOf(name.trim().toUpperCase(Locale.ROOT)));
            }
        }
        out.sort(null);
        return out.stream();
    }

    /** Skips (or fails, when backends are required) unless the backend can be opened here. */
    static MemoryNotifier open(Backend b) {
        String why = b.unavailabilityCause();
        if (why != null) {
            String msg = b + " is not available here: " + why;
            if (required()) {
                fail(msg + " (required by -D" + BACKENDS_PROPERTY + "=" + System.getProperty(BACKENDS_PROPERTY) + ")");
            }
            System.out.println("SKIPPED: " + msg);
            Assumptions.assumeTrue(false, msg);
        }
        return MemoryNotifier.open(b);
    }

    /** The best backend under test (the first listed one when they are required), or skip when none is there. */
    static MemoryNotifier openBest() {
        if (required()) {
            return open(backends().findFirst().orElseThrow());
        }
        for (Backend b : Backend.values()) {
            if (b.isAvailable()) {
                return MemoryNotifier.open(b);
            }
        }
        String msg = "no backend is available here";
        System.out.println("SKIPPED: " + msg);
        Assumptions.assumeTrue(false, msg);
        throw new AssertionError("unreachable");
    }

    /**
     * Pages of a temporary file, mapped: a mapping of their own, which the
     * test alone maps and unmaps. Tests watch these rather than small direct
     * buffers, which live inside glibc's malloc arenas, where glibc decides
     * when memory is unmapped (and which the userfaultfd backend registers
     * whole).
     */
    static MappedByteBuffer mappedPages(int pages) {
        try {
            Path f = Files.createTempFile("ummu-cache-test", ".bin");
            try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                MappedByteBuffer m = ch.map(FileChannel.MapMode.READ_WRITE, 0, pages * PAGE);
                for (int i = 0; i < pages; i++) {
                    m.put(i * (int) PAGE, (byte) 1);
                }
                return m;
            } finally {
                Files.delete(f);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A fake registration that counts its deregistrations and its open leases. */
    static final class Reg {
        final int id;
        final long address;
        final long length;
        final AtomicInteger deregistered = new AtomicInteger();
        final AtomicInteger leases = new AtomicInteger();
        /** Extra per-test data recorded at registration time. */
        volatile Object tag;

        Reg(int id, long address, long length) {
            this.id = id;
            this.address = address;
            this.length = length;
        }

        boolean covers(long a, long len) {
            return a >= address && a + len <= address + length;
        }

        @Override
        public String toString() {
            return String.format("Reg#%d[0x%x+%d]", id, address, length);
        }
    }

    /** Makes Regs, checks they are deregistered once and never while a test holds a lease on them. */
    static final class Registry {
        final AtomicInteger ids = new AtomicInteger();
        final List<Reg> made = new CopyOnWriteArrayList<>();
        final ConcurrentLinkedQueue<String> violations = new ConcurrentLinkedQueue<>();

        Reg register(long address, long length) {
            Reg r = new Reg(ids.incrementAndGet(), address, length);
            made.add(r);
            return r;
        }

        void deregister(Reg r) {
            if (r.deregistered.incrementAndGet() != 1) {
                violations.add(r + " deregistered twice");
            }
            if (r.leases.get() != 0) {
                violations.add(r + " deregistered while leased (" + r.leases.get() + ")");
            }
        }

        RegistrationCache.Builder<Reg> builder(MemoryNotifier n) {
            return RegistrationCache.builder(n, this::register, this::deregister);
        }

        /** Every Reg made was deregistered exactly once, none while leased. */
        void assertAllDeregisteredOnce() {
            StringBuilder bad = new StringBuilder();
            for (String v : violations) {
                bad.append(v).append('\n');
            }
            for (Reg r : made) {
                if (r.deregistered.get() != 1) {
                    bad.append(r).append(" deregistered ").append(r.deregistered.get()).append(" times\n");
                }
            }
            if (bad.length() > 0) {
                fail(bad.toString());
            }
        }
    }
}
