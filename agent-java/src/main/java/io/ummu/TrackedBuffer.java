package io.ummu;

/**
 * One off-heap buffer the agent saw the JDK allocate or map. Immutable except
 * {@link #isLive()}; safe to keep and share between threads.
 *
 * <p>The range is the memory the JDK obtained, which can be a little larger
 * than the buffer's capacity (a page-aligned direct buffer, a mapping that
 * starts at a page boundary before the requested file position).
 */
public interface TrackedBuffer {
    /** @return a number unique to this buffer within this JVM, in allocation order */
    long id();

    BufferKind kind();

    /** @return first byte of the range */
    long address();

    /** @return length of the range in bytes */
    long size();

    /** @return address() + size() */
    default long end() {
        return address() + size();
    }

    /** @return the name of the thread that allocated it */
    String allocatingThread();

    /**
     * @return when it was allocated, in milliseconds since the epoch, as the agent's
     *     dispatcher saw it: never before the allocation, and after it by up to one
     *     of the dispatcher's rounds (about half a millisecond) while the dispatcher
     *     keeps up, more when it runs behind
     */
    long allocatedAtMillis();

    /**
     * @return the allocation stack when this buffer was sampled
     *         ({@code stackSampling} option), else an empty array
     */
    StackTraceElement[] allocationStack();

    /** @return false once the JDK has begun to free or unmap it */
    boolean isLive();

    /** @return the kernel watch behind this buffer, or null (no kernel backend, not watched yet, or watch failed) */
    Watch watch();
}
