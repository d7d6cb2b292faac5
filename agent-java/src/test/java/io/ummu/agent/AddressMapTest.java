package io.ummu.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.Map;
import java.util.Random;

import org.junit.jupiter.api.Test;

/** The dispatcher's address-keyed map, against java.util.HashMap as the reference. */
class AddressMapTest {
    @Test
    void randomPutGetRemoveAgreeWithHashMap() {
        AddressMap<String> m = new AddressMap<>();
        Map<Long, String> ref = new HashMap<>();
        Random r = new Random(42);
        // Page-aligned addresses from a small window: long probe runs, many
        // removals in the middle of a run, growth and reuse of the same keys.
        for (int i = 0; i < 200_000; i++) {
            long address = 0x7f0000000000L + ((long) r.nextInt(3000) << 12);
            switch (r.nextInt(3)) {
                case 0:
                    assertEquals(ref.put(address, "v" + i), m.put(address, "v" + i), "put " + i);
                    break;
                case 1:
                    assertEquals(ref.remove(address), m.remove(address), "remove " + i);
                    break;
                default:
                    assertEquals(ref.get(address), m.get(address), "get " + i);
                    break;
            }
            assertEquals(ref.size(), m.size(), "size after op " + i);
        }
        for (Map.Entry<Long, String> e : ref.entrySet()) {
            assertEquals(e.getValue(), m.get(e.getKey()));
        }
        for (Long k : ref.keySet().toArray(new Long[0])) {
            assertEquals(ref.remove(k), m.remove(k));
        }
        assertTrue(m.isEmpty());
    }

    @Test
    void keysThatCollideAreAllFoundAfterRemovalsFromTheMiddleOfTheirRun() {
        AddressMap<Long> m = new AddressMap<>();
        // Sixteen keys in a map of 64 slots: fill, then remove every other
        // one; each survivor must still be reachable across the holes.
        for (long a = 1; a <= 16; a++) {
            m.put(a << 20, a);
        }
        for (long a = 1; a <= 16; a += 2) {
            assertEquals(a, m.remove(a << 20));
        }
        for (long a = 1; a <= 16; a++) {
            assertEquals(a % 2 == 0 ? Long.valueOf(a) : null, m.get(a << 20), "key " + a);
        }
        assertEquals(8, m.size());
    }

    @Test
    void drainHandsOverEveryValueOnceAndLeavesAnEmptyUsableMap() {
        AddressMap<Long> m = new AddressMap<>();
        for (long a = 1; a <= 1000; a++) {
            m.put(a << 12, a);
        }
        java.util.List<Long> seen = new java.util.ArrayList<>();
        m.drain(seen::add);
        java.util.Collections.sort(seen);
        assertEquals(1000, seen.size());
        for (int i = 0; i < 1000; i++) {
            assertEquals(i + 1, seen.get(i));
        }
        assertTrue(m.isEmpty());
        assertNull(m.get(5 << 12));
        m.put(5 << 12, 5L);
        assertEquals(5L, m.get(5 << 12));
        assertEquals(1, m.size());
    }

    /**
     * After a burst (a batch of 100,000 buffers) the dispatcher's maps must
     * not keep their big tables for good: a few drains in a row that find one
     * mostly empty take it back to a small table (every later round's drain
     * would walk it); a drain of a full one keeps it, and so does removal
     * (the fresh map empties by removal within a round, and would otherwise
     * shrink and grow again every round).
     */
    @Test
    void aMapThatGrewForABurstGetsSmallAgainOnceTheBurstIsOver() {
        AddressMap<Long> m = new AddressMap<>();
        int n = 100_000;
        for (long a = 1; a <= n; a++) {
            m.put(a << 12, a);
        }
        int big = m.capacity();
        assertTrue(big > AddressMap.SHRINK_ABOVE, "grew: " + big);
        for (long a = 1; a <= n; a++) {
            assertEquals(a, m.remove(a << 12));
        }
        assertEquals(big, m.capacity(), "emptied by removal: the table stays");

        for (long a = 1; a <= n; a++) {
            m.put(a << 12, a);
        }
        long[] drained = {0};
        m.drain(v -> drained[0]++);
        assertEquals(n, drained[0]);
        assertEquals(big, m.capacity(), "a full drain keeps the table");
        for (int round = 1; round < AddressMap.SPARSE_DRAINS; round++) {
            m.put(round << 12, (long) round);
            m.drain(v -> drained[0]++);
            assertEquals(big, m.capacity(), "sparse drain " + round + " of " + AddressMap.SPARSE_DRAINS);
        }
        m.put(1 << 12, 1L);
        m.drain(v -> drained[0]++);
        assertTrue(m.capacity() <= AddressMap.SHRINK_ABOVE, "sparse drains in a row shrink it: " + m.capacity());
        assertTrue(m.isEmpty());
        m.put(7 << 12, 7L);
        assertEquals(7L, m.get(7 << 12));
        assertEquals(1, m.size());
    }

    @Test
    void zeroIsNotAnAddress() {
        AddressMap<String> m = new AddressMap<>();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> m.put(0, "x"));
        assertTrue(e.getMessage().contains("address"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> m.put(4096, null));
        assertNull(m.get(0));
        assertNull(m.remove(0));
        assertEquals(0, m.size());
    }
}
