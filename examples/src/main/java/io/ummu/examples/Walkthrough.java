package io.ummu.examples;

import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.EnumMap;
import java.util.Map;

import io.ummu.BufferEvent;
import io.ummu.TrackedBuffer;
import io.ummu.Ummu;

/** The demo's steps; {@link Segments} adds the JDK 22+ ones. */
final class Walkthrough {
    private final Map<BufferEvent.Type, Integer> counts = new EnumMap<>(BufferEvent.Type.class);
    private long lastShownId;
    private int step;

    static int run() throws Exception {
        return new Walkthrough().go();
    }

    private int go() throws Exception {
        System.out.println("ummu demo on JDK " + Runtime.version());
        System.out.println("agent:   " + Ummu.status());
        if (!Ummu.isActive()) {
            System.out.println("The agent is not running, so nothing will be reported. Start the demo with\n"
                    + "  java -javaagent:agent-java/target/ummu.jar -jar examples/target/ummu-demo.jar");
            return 2;
        }
        System.out.println("backend: " + Ummu.backend()
                + ("jvm".equals(Ummu.backend()) ? " (no kernel backend: only RELEASED events can be reported)" : ""));
        Ummu.addListener(this::onEvent);

        step("allocateDirect: 64 KiB, 1 MiB and 48 MiB");
        ByteBuffer small = ByteBuffer.allocateDirect(64 << 10);
        ByteBuffer medium = ByteBuffer.allocateDirect(1 << 20);
        ByteBuffer large = ByteBuffer.allocateDirect(48 << 20);
        settle();
        showTracked();

        step("release the 1 MiB and 48 MiB buffers (their Cleaner runs, as after a GC)."
                + " glibc returns a chunk above its mmap threshold to the kernel, so the 48 MiB one is also"
                + " reported UNMAPPED by the kernel; the 1 MiB one may stay in the heap");
        free(medium);
        free(large);
        settle();

        step("map a 64 KiB file with FileChannel.map, then unmap it");
        Path file = Files.createTempFile("ummu-demo-", ".bin");
        try {
            Files.write(file, new byte[64 << 10]);
            MappedByteBuffer mapped;
            try (FileChannel fc = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                mapped = fc.map(FileChannel.MapMode.READ_WRITE, 0, 64 << 10);
            }
            mapped.put(0, (byte) 1);
            settle();
            showTracked();
            free(mapped);
            settle();

            Segments.run(this, file);
        } finally {
            Files.deleteIfExists(file);
        }

        step("still live: the 64 KiB buffer (reachable until here)");
        showLive();
        small.put(0, (byte) 1);
        System.out.println();
        System.out.println("events: " + counts);
        return 0;
    }

    private void onEvent(BufferEvent e) {
        counts.merge(e.type(), 1, Integer::sum);
        System.out.println("  <- " + e.message().replace("\n", "\n     "));
    }

    void step(String what) {
        System.out.println();
        System.out.println("[" + (++step) + "] " + what);
    }

    void say(String what) {
        System.out.println("    " + what);
    }

    /** Waits until every event caused so far has been printed. */
    void settle() throws InterruptedException {
        if (!Ummu.flush(Duration.ofSeconds(10))) {
            say("(ummu did not catch up within 10 s)");
        }
    }

    void showTracked() {
        long max = lastShownId;
        for (TrackedBuffer b : Ummu.liveBuffers()) {
            if (b.id() > lastShownId) {
                say("tracked " + describe(b));
                max = Math.max(max, b.id());
            }
        }
        lastShownId = max;
    }

    private void showLive() {
        for (TrackedBuffer b : Ummu.liveBuffers()) {
            say("live " + describe(b));
        }
    }

    static String describe(TrackedBuffer b) {
        return String.format("%s #%d [0x%x, 0x%x) %d bytes, watched: %s", b.kind(), b.id(), b.address(), b.end(),
                b.size(), b.watch() != null ? "yes" : "no");
    }

    /** Runs a direct or mapped buffer's Cleaner now instead of waiting for a GC. */
    static void free(ByteBuffer b) throws ReflectiveOperationException {
        Class<?> unsafeClass = Class.forName("sun.misc.Unsafe");
        Field f = unsafeClass.getDeclaredField("theUnsafe");
        f.setAccessible(true);
        Method invokeCleaner = unsafeClass.getMethod("invokeCleaner", ByteBuffer.class);
        invokeCleaner.invoke(f.get(null), b);
    }

    static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // a temp file; the OS cleans up
        }
    }
}
