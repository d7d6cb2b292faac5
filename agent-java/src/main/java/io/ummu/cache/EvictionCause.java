package io.ummu.cache;

/**
 * Why a registration left a {@link RegistrationCache}. Whatever the cause, the
 * registration is deregistered once, when its last lease is released (at once
 * when it has none).
 */
public enum EvictionCause {
    /** The kernel reported a change of (part of) its range: unmap, remap, discard, migration ... */
    INVALIDATED,
    /** A new registration covering an overlapping (or, if enabled, adjacent) range replaced it. */
    MERGED,
    /** The least recently used unleased entry, removed to keep within the entry or byte bound. */
    CAPACITY,
    /** {@link RegistrationCache#clear()} or {@link RegistrationCache#close()}. */
    CLEARED
}
