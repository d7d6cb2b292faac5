package io.ummu;

import java.util.Collections;
import java.util.EnumSet;
import java.util.Set;

/**
 * What a backend can see. The bit values are {@code UMMU_CAP_*} in
 * {@code ummu_backend.h}.
 */
public enum Capability {
    /** Every MMU-notifier invalidation of the address space, whatever its reason. */
    KERNEL_INVALIDATIONS(1 << 0),
    /** {@code munmap} and {@code mmap(MAP_FIXED)} over a watched range. */
    UNMAP(1 << 1),
    /** {@code mremap} moving a watched range away. */
    REMAP(1 << 2),
    /** {@code madvise(MADV_DONTNEED/MADV_REMOVE)} discarding a watched range's contents. */
    MADVISE(1 << 3),
    /** Page migration, swap-out, reclaim and KSM merging (the mapping stays usable). */
    MIGRATION_SWAP(1 << 4),
    /** {@code mprotect} changing a watched range's protection. */
    PROTECTION(1 << 5),
    /** Invalidations carry their {@link Cause}s. */
    EVENT_CAUSE(1 << 6),
    /** A forked child's address space keeps being watched (the notifier follows fork). */
    FORK_CHILD(1 << 7);

    private final int bit;

    Capability(int bit) {
        this.bit = bit;
    }

    /**
     * Thread-safe (immutable).
     *
     * @return this capability's {@code UMMU_CAP_*} bit
     */
    public int bit() {
        return bit;
    }

    /**
     * Decodes a {@code UMMU_CAP_*} mask; unknown bits (from a newer native
     * library) are ignored. Thread-safe.
     *
     * @param bits the mask
     * @return an unmodifiable set of the capabilities whose bits are set
     */
    public static Set<Capability> fromBits(int bits) {
        EnumSet<Capability> set = EnumSet.noneOf(Capability.class);
        for (Capability c : values()) {
            if ((bits & c.bit) != 0) {
                set.add(c);
            }
        }
        return Collections.unmodifiableSet(set);
    }
}
