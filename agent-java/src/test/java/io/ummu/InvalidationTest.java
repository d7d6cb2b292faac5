package io.ummu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class InvalidationTest {
    private final Watch watch = new Watch(null, 0x10000, 0x4000, 7);

    @Test
    void mappingGoneFollowsTheCauses() {
        assertFalse(new Invalidation(watch, 0x10000, 0x11000, true, Set.of()).mappingGone(),
                "no cause: never guess");
        assertFalse(new Invalidation(watch, 0x10000, 0x11000, true, Set.of(Cause.CLEAR)).mappingGone());
        assertFalse(new Invalidation(watch, 0x10000, 0x11000, true,
                Set.of(Cause.CLEAR, Cause.PROTECTION_VMA)).mappingGone());
        assertTrue(new Invalidation(watch, 0x10000, 0x11000, true, Set.of(Cause.CLEAR, Cause.UNMAP)).mappingGone());
        assertTrue(new Invalidation(watch, 0x10000, 0x11000, true, Set.of(Cause.REMAP)).mappingGone());
        assertTrue(new Invalidation(watch, 0x10000, 0x11000, true, Set.of(Cause.REMOVE)).mappingGone());
    }

    @Test
    void causesAreCopiedAndFrozen() {
        EnumSet<Cause> mutable = EnumSet.of(Cause.UNMAP);
        Invalidation inv = new Invalidation(watch, 0x10000, 0x11000, false, mutable);
        mutable.add(Cause.CLEAR);
        assertEquals(Set.of(Cause.UNMAP), inv.causes());
        assertThrows(UnsupportedOperationException.class, () -> inv.causes().add(Cause.CLEAR));
        assertEquals(0x1000, inv.length());
    }

    @Test
    void rejectsEmptyOrInvertedRangesAndNulls() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Invalidation(watch, 0x11000, 0x11000, true, Set.of()));
        assertTrue(e.getMessage().startsWith("end:"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new Invalidation(watch, 0x11000, 0x10000, true, Set.of()));
        NullPointerException npe = assertThrows(NullPointerException.class,
                () -> new Invalidation(null, 1, 2, true, Set.of()));
        assertEquals("watch", npe.getMessage());
        npe = assertThrows(NullPointerException.class, () -> new Invalidation(watch, 1, 2, true, null));
        assertEquals("causes", npe.getMessage());
    }

    @Test
    void rangesAreUnsignedAddresses() {
        // Addresses above 2^63 are negative as longs; they are still ordered as addresses.
        Invalidation inv = new Invalidation(watch, 0x7fff_ffff_ffff_f000L, 0x8000_0000_0000_1000L, true, Set.of());
        assertEquals(0x2000, inv.length());
    }

    @Test
    void drainFreezesItsList() {
        Invalidation inv = new Invalidation(watch, 0x10000, 0x11000, true, Set.of());
        java.util.ArrayList<Invalidation> list = new java.util.ArrayList<>(List.of(inv));
        Drain d = new Drain(list, 42);
        list.clear();
        assertEquals(List.of(inv), d.invalidations());
        assertEquals(42, d.generation());
        assertThrows(UnsupportedOperationException.class, () -> d.invalidations().clear());
    }

    @Test
    void toStringNamesTheCookieAndTheRange() {
        String s = new Invalidation(watch, 0x10000, 0x11000, true, Set.of(Cause.UNMAP)).toString();
        assertTrue(s.contains("cookie=7") && s.contains("0x10000") && s.contains("exact") && s.contains("UNMAP"), s);
    }
}
