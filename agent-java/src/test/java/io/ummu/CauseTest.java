package io.ummu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.EnumSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The Cause codes are ABI (ummunotify.h, ummu_backend.h); so is their bit position in event flags. */
class CauseTest {
    @Test
    void codesMatchTheNativeHeaders() {
        assertEquals(0, Cause.UNMAP.code());
        assertEquals(1, Cause.CLEAR.code());
        assertEquals(2, Cause.PROTECTION_VMA.code());
        assertEquals(3, Cause.PROTECTION_PAGE.code());
        assertEquals(4, Cause.SOFT_DIRTY.code());
        assertEquals(5, Cause.RELEASE.code());
        assertEquals(6, Cause.MIGRATE.code());
        assertEquals(7, Cause.EXCLUSIVE.code());
        assertEquals(15, Cause.OTHER.code());
        assertEquals(16, Cause.REMAP.code());
        assertEquals(17, Cause.REMOVE.code());
        assertEquals(11, Cause.values().length, "a new cause needs a code here and in the headers");
    }

    @Test
    void onlyUnmapRemapAndRemoveMeanTheMappingIsGone() {
        Set<Cause> gone = EnumSet.noneOf(Cause.class);
        for (Cause c : Cause.values()) {
            if (c.mappingGone()) {
                gone.add(c);
            }
        }
        assertEquals(EnumSet.of(Cause.UNMAP, Cause.REMAP, Cause.REMOVE), gone);
        assertFalse(Cause.CLEAR.mappingGone(), "CLEAR covers reclaim and migration too: never a dangling signal");
    }

    @Test
    void fromCodeRoundTripsAndRejectsUnknownCodes() {
        for (Cause c : Cause.values()) {
            assertEquals(c, Cause.fromCode(c.code()));
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Cause.fromCode(9));
        assertTrue(e.getMessage().startsWith("code:"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Cause.fromCode(-1));
        assertThrows(IllegalArgumentException.class, () -> Cause.fromCode(99));
    }

    @Test
    void fromFlagsReadsBitEightPlusCodeAndIgnoresTheHintBit() {
        assertTrue(Cause.fromFlags(0).isEmpty());
        assertTrue(Cause.fromFlags(1).isEmpty(), "bit 0 is FLAG_HINT, not a cause");
        assertEquals(Set.of(Cause.UNMAP), Cause.fromFlags(1 << 8 | 1));
        assertEquals(Set.of(Cause.CLEAR, Cause.PROTECTION_VMA), Cause.fromFlags(1 << 9 | 1 << 10));
        assertEquals(Set.of(Cause.OTHER), Cause.fromFlags(1 << (8 + 15)));
        assertEquals(Set.of(Cause.REMAP), Cause.fromFlags(1 << (8 + 16)));
        assertEquals(Set.of(Cause.REMOVE), Cause.fromFlags(1 << (8 + 17)));
        for (Cause c : Cause.values()) {
            assertEquals(Set.of(c), Cause.fromFlags(1 << (8 + c.code())), c.name());
        }
    }

    @Test
    void unknownCauseBitsReadAsOther() {
        assertEquals(Set.of(Cause.OTHER), Cause.fromFlags(1 << (8 + 9)), "code 9 is not defined yet");
        assertEquals(Set.of(Cause.OTHER, Cause.UNMAP), Cause.fromFlags(1 << 31 | 1 << 8));
    }

    @Test
    void decodedSetsAreUnmodifiable() {
        Set<Cause> s = Cause.fromFlags(1 << 8);
        assertThrows(UnsupportedOperationException.class, () -> s.add(Cause.CLEAR));
        Set<Cause> none = Cause.fromFlags(0);
        assertThrows(UnsupportedOperationException.class, () -> none.add(Cause.CLEAR));
    }
}
