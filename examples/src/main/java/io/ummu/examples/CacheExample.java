package io.ummu.examples;

import io.ummu.MemoryNotifier;
import io.ummu.cache.CacheStats;
import io.ummu.cache.Lease;
import io.ummu.cache.RegistrationCache;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A {@link RegistrationCache} in front of an expensive registration, the way
 * an RDMA or io_uring transport would use it. No agent needed:
 * <pre>
 *   java -cp agent-java/target/ummu.jar:examples/target/ummu-demo.jar io.ummu.examples.CacheExample
 * </pre>
 * The "registration" is a fake but realistic one: {@link Nic} pins a region
 * by building a translation table with one entry per page (what an RDMA NIC
 * keeps per memory region) and charges it against a pinned-bytes limit.
 * The program sends from a few buffers many times (hits), frees a 40 MiB
 * buffer, which glibc unmaps, allocates a new one (often at the same
 * address) and shows that the cache registers the new memory instead of
 * reusing the stale registration. It prints the statistics at the end and
 * exits with 1 if the cache ever served the stale registration.
 */
public final class CacheExample {
    /** Above glibc's largest mmap threshold: free() always unmaps it. */
    private static final int BIG = 40 << 20;
    private static final int PAGE = 4096;

    private CacheExample() {
    }

    /** The fake device: pins and unpins regions, and counts what it holds. */
    static final class Nic {
        final AtomicLong pinnedBytes = new AtomicLong();
        final AtomicLong liveRegions = new AtomicLong();
        final AtomicLong pins = new AtomicLong();
        final AtomicLong unpins = new AtomicLong();
        final long limit;

        Nic(long limit) {
            this.limit = limit;
        }

        /** The expensive part: a translation entry per page, and a limit like RLIMIT_MEMLOCK. */
        Region pin(long address, long length) {
            if (pinnedBytes.addAndGet(length) > limit) {
                pinnedBytes.addAndGet(-length);
                throw new IllegalStateException(String.format(
                        "pin(0x%x, %d): over the pinned-memory limit of %d bytes", address, length, limit));
            }
            long first = address / PAGE;
            long[] table = new long[(int) ((address + length - 1) / PAGE - first + 1)];
            for (int i = 0; i < table.length; i++) {
                table[i] = (first + i) * PAGE; // what the device would look up
            }
            liveRegions.incrementAndGet();
            return new Region(pins.incrementAndGet(), address, length, table);
        }

        void unpin(Region r) {
            pinnedBytes.addAndGet(-r.length);
            liveRegions.decrementAndGet();
            unpins.incrementAndGet();
        }

        /** A send: looks up the address in the region's table, as a device would. */
        long post(Region r, ByteBuffer from) {
            return r.table[0] + from.remaining();
        }
    }

    /** What a pin returns: the region's key and its translation table. */
    record Region(long key, long address, long length, long[] table) {
        @Override
        public String toString() {
            return String.format("Region#%d[0x%x+%d]", key, address, length);
        }
    }

    public static void main(String[] args) throws Exception {
        System.exit(run());
    }

    static int run() throws Exception {
        Nic nic = new Nic(256L << 20);
        int status = 0;
        try (MemoryNotifier notifier = MemoryNotifier.open();
                RegistrationCache<Region> cache = RegistrationCache.builder(notifier, nic::pin, nic::unpin)
                        .name("cache-example").maxBytes(128L << 20).jmx(true).build()) {
            System.out.println("backend: " + notifier.backend() + ", capabilities " + notifier.capabilities());

            List<ByteBuffer> buffers = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                buffers.add(ByteBuffer.allocateDirect(64 << 10));
            }
            ByteBuffer big = ByteBuffer.allocateDirect(BIG);
            buffers.add(big);
            long sink = 0;
            for (int round = 0; round < 10_000; round++) {
                for (ByteBuffer b : buffers) {
                    try (Lease<Region> lease = cache.acquire(b)) {
                        sink += nic.post(lease.registration(), b);
                    }
                }
            }
            System.out.printf("90 000 sends from 9 buffers: %s%n", cache.stats());

            Region stale;
            try (Lease<Region> lease = cache.acquire(big)) {
                stale = lease.registration();
            }
            long oldAddress = stale.address();
            long seen = notifier.generationAcquire();
            buffers.remove(big);
            big = null;
            // The cache is the notifier's only consumer; reading the counter is fine.
            for (int i = 0; i < 200 && !notifier.changedSince(seen); i++) {
                System.gc();
                Thread.sleep(20);
            }
            ByteBuffer fresh = ByteBuffer.allocateDirect(BIG);
            try (Lease<Region> lease = cache.acquire(fresh)) {
                boolean sameAddress = lease.address() == oldAddress;
                System.out.printf("freed the 40 MiB buffer at 0x%x, allocated a new one %s: %s, %s%n",
                        oldAddress, sameAddress ? "AT THE SAME ADDRESS" : String.format("at 0x%x", lease.address()),
                        lease.hit() ? "HIT" : "miss", lease.registration());
                if (lease.registration() == stale) {
                    System.out.println("ERROR: the stale registration of the freed buffer was served");
                    status = 1;
                }
            }

            CacheStats s = cache.stats();
            System.out.printf("hits %d, misses %d (hit ratio %.4f), registrations %d, deregistrations %d,"
                    + " invalidations %d, evictions %s%n", s.hits(), s.misses(), s.hitRatio(), s.registrations(),
                    s.deregistrations(), s.invalidations(), s.evictions());
            System.out.printf("cached: %d entries, %d bytes; NIC: %d regions pinned, %d bytes%n", s.entries(),
                    s.bytes(), nic.liveRegions.get(), nic.pinnedBytes.get());
            System.out.printf("JMX %s: Hits=%s%n", cache.objectName(),
                    ManagementFactory.getPlatformMBeanServer().getAttribute(cache.objectName(), "Hits"));
            if (sink == 42) {
                System.out.println(); // keeps the sends from being optimised away
            }
        }
        System.out.printf("after close: NIC holds %d regions, %d bytes; pins %d, unpins %d%n",
                nic.liveRegions.get(), nic.pinnedBytes.get(), nic.pins.get(), nic.unpins.get());
        if (nic.liveRegions.get() != 0 || nic.pins.get() != nic.unpins.get()) {
            System.out.println("ERROR: a registration was not deregistered exactly once");
            status = 1;
        }
        return status;
    }
}
