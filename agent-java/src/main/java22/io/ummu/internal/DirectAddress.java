package io.ummu.internal;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

/**
 * The native address of a direct buffer's first element, on Java 22 and
 * later: through the supported {@code MemorySegment} view instead of
 * {@code sun.misc.Unsafe}, whose memory-access methods newer JDKs warn about.
 */
public final class DirectAddress {
    private DirectAddress() {
    }

    /**
     * Thread-safe.
     *
     * @param buffer a direct buffer
     * @return the address of element 0 (independent of position and limit)
     */
    public static long of(ByteBuffer buffer) {
        // The segment view starts at the buffer's position.
        return MemorySegment.ofBuffer(buffer).address() - buffer.position();
    }
}
