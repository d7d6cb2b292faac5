package io.ummu;

import java.util.Collections;
import java.util.EnumSet;
import java.util.Objects;
import java.util.Set;

/**
 * The kernel changed the mapping of (part of) a watched range.
 *
 * <p>Events are coalesced per watch: the first invalidation since the watch
 * was last reported is {@linkplain #exact() exact}; if more hit it before it
 * was read, the event reports the whole watched range instead. Immutable and
 * thread-safe.
 *
 * @param watch the watch that was hit
 * @param start first invalidated byte address (the watch's start when not exact)
 * @param end one past the last invalidated byte address (the watch's end when not exact)
 * @param exact true when {@code [start, end)} is the precise invalidated part
 *     (the native HINT flag); false when the whole watched range must be assumed changed
 * @param causes the causes of every invalidation folded into this event; empty
 *     when the backend does not report causes (see {@link Capability#EVENT_CAUSE})
 */
public record Invalidation(Watch watch, long start, long end, boolean exact, Set<Cause> causes) {
    /**
     * Validates and freezes the components.
     *
     * @throws NullPointerException if watch or causes is null
     * @throws IllegalArgumentException if end is not above start (unsigned)
     */
    public Invalidation {
        Objects.requireNonNull(watch, "watch");
        Objects.requireNonNull(causes, "causes");
        if (Long.compareUnsigned(start, end) >= 0) {
            throw new IllegalArgumentException(String.format(
                    "end: 0x%x is not above start 0x%x", end, start));
        }
        causes = Collections.unmodifiableSet(
                causes.isEmpty() ? EnumSet.noneOf(Cause.class) : EnumSet.copyOf(causes));
    }

    /**
     * Whether the memory behind the range is gone (unmapped, moved away,
     * contents discarded), judged from the causes. False when the backend
     * reports no cause: without a cause this never guesses. Thread-safe.
     *
     * @return true if any cause {@linkplain Cause#mappingGone() means the mapping is gone}
     */
    public boolean mappingGone() {
        for (Cause c : causes) {
            if (c.mappingGone()) {
                return true;
            }
        }
        return false;
    }

    /**
     * Thread-safe.
     *
     * @return {@code end - start}, the number of bytes reported
     */
    public long length() {
        return end - start;
    }

    @Override
    public String toString() {
        return String.format("Invalidation[cookie=%d, 0x%x..0x%x, %s, causes=%s]",
                watch.cookie(), start, end, exact ? "exact" : "whole watch", causes);
    }
}
