package io.ummu.jcstress.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Pages that a test maps and unmaps for real, so that the kernel produces the
 * invalidation. Each {@link #map()} is one fresh {@code mmap} of one page of a
 * temporary file (a new mapping every time, whatever the file); {@link
 * #unmap(MappedByteBuffer)} {@code munmap}s it at once, through the buffer's
 * own cleaner ({@code sun.misc.Unsafe.invokeCleaner}, the only way on Java 17
 * to unmap a mapped buffer on demand; run with
 * {@code --sun-misc-unsafe-memory-access=allow} on 24+ to keep its warning out
 * of the reports).
 */
public final class Pages {
    public static final int PAGE = 4096;

    private static final FileChannel FILE;
    private static final Object UNSAFE;
    private static final Method INVOKE_CLEANER;

    static {
        try {
            Path dir = Path.of(System.getProperty("java.io.tmpdir"));
            Path f = Files.createTempFile(dir, "ummu-jcstress-", ".page");
            FILE = FileChannel.open(f, StandardOpenOption.READ, StandardOpenOption.WRITE,
                    StandardOpenOption.DELETE_ON_CLOSE);
            FILE.write(ByteBuffer.allocate(PAGE), 0);
            Files.deleteIfExists(f); // the open channel keeps it
            Class<?> unsafeClass = Class.forName("sun.misc.Unsafe");
            Field theUnsafe = unsafeClass.getDeclaredField("theUnsafe");
            theUnsafe.setAccessible(true);
            UNSAFE = theUnsafe.get(null);
            INVOKE_CLEANER = unsafeClass.getMethod("invokeCleaner", ByteBuffer.class);
        } catch (IOException | ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private Pages() {
    }

    /** @return a new shared mapping of one page, touched so that it is populated */
    public static MappedByteBuffer map() {
        try {
            MappedByteBuffer b = FILE.map(FileChannel.MapMode.READ_WRITE, 0, PAGE);
            b.put(0, (byte) 1);
            return b;
        } catch (IOException e) {
            throw new UncheckedIOException("mmap of one page of the test file", e);
        }
    }

    /** munmap now; the buffer must not be touched afterwards. */
    public static void unmap(MappedByteBuffer b) {
        try {
            INVOKE_CLEANER.invoke(UNSAFE, b);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("munmap through Unsafe.invokeCleaner", e);
        }
    }
}
