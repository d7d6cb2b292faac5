package io.ummu.internal;

import java.lang.reflect.Field;
import java.nio.Buffer;
import java.nio.ByteBuffer;

/**
 * The native address of a direct buffer's first element, on Java 17..21.
 *
 * <p>java.base does not export a way to ask, and reflection on
 * {@code Buffer.address} needs {@code --add-opens}; {@code sun.misc.Unsafe}
 * (module jdk.unsupported, open to everyone) reads the field without any
 * flag. Java 22 and later use the replacement of this class in
 * {@code META-INF/versions/22}, which asks {@code MemorySegment} instead and
 * so never triggers the Unsafe deprecation warnings of newer JDKs.
 */
public final class DirectAddress {
    /** Null where it cannot be had; CounterPage's unchecked load uses it too. */
    static final sun.misc.Unsafe UNSAFE;
    private static final long ADDRESS_OFFSET;
    private static final String FAILURE;

    static {
        sun.misc.Unsafe unsafe = null;
        long offset = -1;
        String failure = null;
        try {
            Field f = sun.misc.Unsafe.class.getDeclaredField("theUnsafe");
            f.setAccessible(true);
            unsafe = (sun.misc.Unsafe) f.get(null);
            offset = unsafe.objectFieldOffset(Buffer.class.getDeclaredField("address"));
        } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
            // LinkageError: NoClassDefFoundError for sun/misc/Unsafe in a runtime
            // without jdk.unsupported (jlink, --limit-modules); then only of()
            // fails, and the counter page falls back to the checked view.
            failure = e.toString();
        }
        UNSAFE = unsafe;
        ADDRESS_OFFSET = offset;
        FAILURE = failure;
    }

    private DirectAddress() {
    }

    /**
     * Thread-safe.
     *
     * @param buffer a direct buffer
     * @return the address of element 0 (independent of position and limit)
     * @throws UnsupportedOperationException when this JVM offers no way to ask
     */
    public static long of(ByteBuffer buffer) {
        if (UNSAFE == null) {
            throw new UnsupportedOperationException(
                    "buffer: cannot read a direct buffer's address on this JVM: " + FAILURE);
        }
        return UNSAFE.getLong(buffer, ADDRESS_OFFSET);
    }
}
