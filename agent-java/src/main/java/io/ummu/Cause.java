package io.ummu;

import java.util.Collections;
import java.util.EnumSet;
import java.util.Set;

/**
 * Why the kernel invalidated a watched range. Codes 0..15 are the kernel
 * module's {@code UMMUNOTIFY_CAUSE_*} values; 16 and up come from the
 * userfaultfd backend ({@code UMMU_CAUSE_*} in {@code ummu_backend.h}).
 * An event carries cause n as bit {@code (8 + n)} of its flags.
 *
 * <p>Only {@link #mappingGone()} causes mean the memory behind the range is no
 * longer the memory that was watched. The others leave the range usable
 * (though any cached translation, such as a DMA registration, is stale).
 */
public enum Cause {
    /** {@code munmap}, {@code mremap} away, {@code mmap(MAP_FIXED)} over (module). */
    UNMAP(0),
    /**
     * Page table entries cleared: {@code MADV_DONTNEED}, but also reclaim,
     * KSM and migration (module). Ambiguous, so not a sign the mapping is gone.
     */
    CLEAR(1),
    /** {@code mprotect} (module). */
    PROTECTION_VMA(2),
    /** Per-page write protection, e.g. for copy-on-write after fork (module). */
    PROTECTION_PAGE(3),
    /** Soft-dirty tracking reset (module). */
    SOFT_DIRTY(4),
    /** The whole address space is going away (module). */
    RELEASE(5),
    /** Device-driven migration (module). */
    MIGRATE(6),
    /** A device took exclusive access to the pages (module). */
    EXCLUSIVE(7),
    /** A kernel event newer than this enum (module). */
    OTHER(15),
    /** The range was moved away by {@code mremap} (userfaultfd). */
    REMAP(16),
    /** {@code madvise(MADV_DONTNEED/MADV_REMOVE/MADV_FREE)} dropped the contents (userfaultfd). */
    REMOVE(17);

    /** Bit position of cause 0 in an event's flags ({@code UMMUNOTIFY_EVENT_CAUSE_SHIFT}). */
    static final int SHIFT = 8;

    private static final Cause[] BY_CODE = new Cause[24];
    private static final Set<Cause> NONE = Collections.unmodifiableSet(EnumSet.noneOf(Cause.class));

    static {
        for (Cause c : values()) {
            BY_CODE[c.code] = c;
        }
    }

    private final int code;

    Cause(int code) {
        this.code = code;
    }

    /**
     * Thread-safe (immutable).
     *
     * @return the native cause number
     */
    public int code() {
        return code;
    }

    /**
     * Whether this cause means the watched memory is gone: true only for
     * {@link #UNMAP}, {@link #REMAP} and {@link #REMOVE}. {@link #CLEAR} is
     * false on purpose: the kernel reports reclaim, KSM, migration and
     * {@code MADV_DONTNEED} alike as CLEAR, so it cannot tell a dangling
     * buffer from a healthy one. Thread-safe.
     *
     * @return true when the mapping behind the range no longer holds the watched memory
     */
    public boolean mappingGone() {
        return this == UNMAP || this == REMAP || this == REMOVE;
    }

    /**
     * The cause with this native number. Thread-safe.
     *
     * @param code a native cause number
     * @return the cause
     * @throws IllegalArgumentException if no cause has this number
     */
    public static Cause fromCode(int code) {
        Cause c = code >= 0 && code < BY_CODE.length ? BY_CODE[code] : null;
        if (c == null) {
            throw new IllegalArgumentException("code: no cause has number " + code);
        }
        return c;
    }

    /**
     * Decodes the cause bits of an event's flags. A set bit with no cause of
     * its own (a kernel newer than this library) reads as {@link #OTHER}, so
     * an event never loses the fact that it had a cause. Thread-safe.
     *
     * @param flags an event record's {@code flags} word
     * @return an unmodifiable set; empty when the backend reported no cause
     */
    public static Set<Cause> fromFlags(int flags) {
        int bits = flags >>> SHIFT;
        if (bits == 0) {
            return NONE;
        }
        EnumSet<Cause> set = EnumSet.noneOf(Cause.class);
        for (int code = 0; bits != 0; code++, bits >>>= 1) {
            if ((bits & 1) != 0) {
                Cause c = code < BY_CODE.length ? BY_CODE[code] : null;
                set.add(c != null ? c : OTHER);
            }
        }
        return Collections.unmodifiableSet(set);
    }
}
