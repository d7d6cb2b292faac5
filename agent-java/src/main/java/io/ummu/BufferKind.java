package io.ummu;

/** What kind of off-heap memory a {@link TrackedBuffer} is. */
public enum BufferKind {
    /** {@code ByteBuffer.allocateDirect}: malloc'ed by the JDK, freed by its Cleaner. */
    DIRECT,
    /** {@code FileChannel.map}: a mapped {@code MappedByteBuffer} or mapped {@code MemorySegment}. */
    MAPPED,
    /** A native {@code MemorySegment} allocated from an {@code Arena} (JDK 22+). */
    NATIVE_SEGMENT,
    /** Memory wrapped by JNI {@code NewDirectByteBuffer}: the JDK never frees it (watch only). */
    JNI
}
