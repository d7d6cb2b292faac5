package io.ummu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.EnumSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Capability bits are UMMU_CAP_* of ummu_backend.h. */
class CapabilityTest {
    @Test
    void bitsMatchTheNativeHeader() {
        assertEquals(1 << 0, Capability.KERNEL_INVALIDATIONS.bit());
        assertEquals(1 << 1, Capability.UNMAP.bit());
        assertEquals(1 << 2, Capability.REMAP.bit());
        assertEquals(1 << 3, Capability.MADVISE.bit());
        assertEquals(1 << 4, Capability.MIGRATION_SWAP.bit());
        assertEquals(1 << 5, Capability.PROTECTION.bit());
        assertEquals(1 << 6, Capability.EVENT_CAUSE.bit());
        assertEquals(1 << 7, Capability.FORK_CHILD.bit());
        assertEquals(8, Capability.values().length);
    }

    @Test
    void fromBitsDecodesEachBitAndIgnoresUnknownOnes() {
        assertTrue(Capability.fromBits(0).isEmpty());
        assertEquals(EnumSet.allOf(Capability.class), Capability.fromBits(0xff));
        assertEquals(EnumSet.allOf(Capability.class), Capability.fromBits(-1));
        assertEquals(Set.of(Capability.UNMAP, Capability.EVENT_CAUSE), Capability.fromBits(0x42));
        for (Capability c : Capability.values()) {
            assertEquals(Set.of(c), Capability.fromBits(c.bit()));
        }
    }

    @Test
    void decodedSetIsUnmodifiable() {
        Set<Capability> s = Capability.fromBits(1);
        assertThrows(UnsupportedOperationException.class, () -> s.add(Capability.REMAP));
    }
}
