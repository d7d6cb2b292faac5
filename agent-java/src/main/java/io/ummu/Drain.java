package io.ummu;

import java.util.List;
import java.util.Objects;

/**
 * What {@link MemoryNotifier#drain()} found. Immutable and thread-safe.
 *
 * @param invalidations the invalidations, oldest first, of watches still open
 * @param generation the generation counter value that these invalidations
 *     bring the caller up to: pass it to {@link MemoryNotifier#changedSince(long)}
 */
public record Drain(List<Invalidation> invalidations, long generation) {
    /**
     * Freezes the list.
     *
     * @throws NullPointerException if invalidations is null
     */
    public Drain {
        invalidations = List.copyOf(Objects.requireNonNull(invalidations, "invalidations"));
    }
}
