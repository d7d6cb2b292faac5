package io.ummu.bench;

import java.lang.reflect.Field;
import java.nio.ByteBuffer;

/**
 * Frees a direct or mapped buffer now, through the JDK's own release path
 * (the buffer's cleaner: {@code Deallocator.run()} for direct buffers,
 * {@code Unmapper.unmap()} for mapped ones), which is exactly what the agent
 * hooks. {@code sun.misc.Unsafe.invokeCleaner} is the supported way to do
 * that on 17 and 25 without opening JDK internals.
 */
final class Buffers {
    private static final sun.misc.Unsafe UNSAFE;

    static {
        try {
            Field f = sun.misc.Unsafe.class.getDeclaredField("theUnsafe");
            f.setAccessible(true);
            UNSAFE = (sun.misc.Unsafe) f.get(null);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private Buffers() {
    }

    /** Releases the buffer's memory; the buffer must not be used afterwards. */
    static void free(ByteBuffer direct) {
        UNSAFE.invokeCleaner(direct);
    }
}
