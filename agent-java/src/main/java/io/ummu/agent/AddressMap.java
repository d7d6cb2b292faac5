package io.ummu.agent;

/**
 * A hash map from a non-zero address to a value, confined to one thread (the
 * tracker's dispatcher). It exists because the dispatcher looks up every
 * released buffer by address: a {@code HashMap<Long, …>} boxes the key and
 * allocates a node per entry, this one does neither. Open addressing with
 * linear probing; removal shifts the following entries back instead of
 * leaving tombstones, so a map that sees millions of put/remove pairs never
 * degrades. Address 0 is never a buffer (the hooks drop it) and marks an
 * empty slot.
 */
final class AddressMap<V> {
    private static final int MIN_CAPACITY = 16;
    /**
     * A map larger than this goes back to {@link #MIN_CAPACITY} after
     * {@link #SPARSE_DRAINS} drains in a row that each found it less than an
     * eighth full: a burst (thousands of buffers allocated in one batch) must
     * not leave the dispatcher holding the arrays, nor walking them in every
     * later round's drain; and a map whose use swings between rounds is not
     * shrunk and grown again every time. Removal never shrinks (the
     * dispatcher's fresh map empties by removal within a round).
     */
    static final int SHRINK_ABOVE = 1024;
    static final int SPARSE_DRAINS = 8;

    private long[] keys;
    private Object[] values;
    private int mask;
    private int size;
    /** Drains in a row that found the map less than an eighth full. */
    private int sparseDrains;

    AddressMap() {
        allocate(MIN_CAPACITY);
    }

    int size() {
        return size;
    }

    boolean isEmpty() {
        return size == 0;
    }

    @SuppressWarnings("unchecked")
    V get(long address) {
        long[] k = keys;
        for (int i = slot(address);; i = (i + 1) & mask) {
            long key = k[i];
            if (key == address) {
                return address == 0 ? null : (V) values[i];
            }
            if (key == 0) {
                return null;
            }
        }
    }

    /** @return the value it replaced, or null */
    @SuppressWarnings("unchecked")
    V put(long address, V value) {
        if (address == 0) {
            throw new IllegalArgumentException("address: 0 is not a buffer address");
        }
        if (value == null) {
            throw new IllegalArgumentException("value: null for address 0x" + Long.toHexString(address));
        }
        int i = slot(address);
        for (;; i = (i + 1) & mask) {
            long key = keys[i];
            if (key == address) {
                V old = (V) values[i];
                values[i] = value;
                return old;
            }
            if (key == 0) {
                break;
            }
        }
        keys[i] = address;
        values[i] = value;
        // Load factor 1/2: probe sequences stay short for the clustered,
        // page-aligned addresses malloc and mmap hand out.
        if (++size > (mask + 1) >>> 1) {
            rehash((mask + 1) << 1);
        }
        return null;
    }

    /** @return the value removed, or null */
    @SuppressWarnings("unchecked")
    V remove(long address) {
        if (address == 0) {
            return null;
        }
        long[] k = keys;
        int i = slot(address);
        for (;; i = (i + 1) & mask) {
            long key = k[i];
            if (key == address) {
                break;
            }
            if (key == 0) {
                return null;
            }
        }
        V old = (V) values[i];
        // Backward-shift deletion: walk the run after the hole and move back
        // every entry whose probe sequence passes over the hole.
        int gap = i;
        for (int j = (i + 1) & mask;; j = (j + 1) & mask) {
            long key = k[j];
            if (key == 0) {
                break;
            }
            int home = slot(key);
            if (((j - home) & mask) >= ((j - gap) & mask)) {
                k[gap] = key;
                values[gap] = values[j];
                gap = j;
            }
        }
        k[gap] = 0;
        values[gap] = null;
        size--;
        return old;
    }

    /**
     * Hands every value to {@code sink} and empties the map, keeping its
     * capacity unless it was mostly empty in this and the drains before (see
     * {@link #SHRINK_ABOVE}).
     */
    @SuppressWarnings("unchecked")
    void drain(java.util.function.Consumer<? super V> sink) {
        if (size == 0) {
            return;
        }
        long[] k = keys;
        int held = size;
        for (int i = 0; i < k.length; i++) {
            if (k[i] != 0) {
                V v = (V) values[i];
                k[i] = 0;
                values[i] = null;
                size--; // exact even if sink throws half-way
                sink.accept(v);
            }
        }
        if (held >= k.length >>> 3) {
            sparseDrains = 0;
        } else if (size == 0 && k.length > SHRINK_ABOVE && ++sparseDrains >= SPARSE_DRAINS) {
            sparseDrains = 0;
            allocate(MIN_CAPACITY);
        }
    }

    /** Slots in the table (tests). */
    int capacity() {
        return keys.length;
    }

    private int slot(long address) {
        long h = address * 0x9E3779B97F4A7C15L; // buffer addresses differ mostly in the middle bits
        return (int) (h ^ (h >>> 32)) & mask;
    }

    private void allocate(int capacity) {
        keys = new long[capacity];
        values = new Object[capacity];
        mask = capacity - 1;
    }

    private void rehash(int capacity) {
        long[] oldKeys = keys;
        Object[] oldValues = values;
        allocate(capacity);
        for (int j = 0; j < oldKeys.length; j++) {
            long key = oldKeys[j];
            if (key != 0) {
                int i = slot(key);
                while (keys[i] != 0) {
                    i = (i + 1) & mask;
                }
                keys[i] = key;
                values[i] = oldValues[j];
            }
        }
    }
}
