package io.ummu.examples;

import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import io.ummu.BufferEvent;
import io.ummu.BufferKind;
import io.ummu.TrackedBuffer;
import io.ummu.Ummu;

/**
 * The demo's steps; {@link Segments} adds the JDK 22+ ones. Buffers are
 * released the way applications release them: they become unreachable and
 * the garbage collector runs their cleaners (the demo asks for a GC instead
 * of waiting for one).
 */
final class Walkthrough {
    private final Map<BufferEvent.Type, Integer> counts = new EnumMap<>(BufferEvent.Type.class);
    /** Buffer ids per event type, filled by the listener (dispatcher thread), read by the demo. */
    private final Map<BufferEvent.Type, Set<Long>> seen = new EnumMap<>(BufferEvent.Type.class);
    private final List<String> missing = new ArrayList<>();
    private long lastShownId;
    private int step;

    Walkthrough() {
        for (BufferEvent.Type t : BufferEvent.Type.values()) {
            seen.put(t, ConcurrentHashMap.newKeySet());
        }
    }

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
        boolean kernel = !"jvm".equals(Ummu.backend());
        System.out.println("backend: " + Ummu.backend() + (kernel ? " (the kernel reports unmaps)"
                : " (no kernel backend: only RELEASED events can be reported)"));
        System.out.println();
        System.out.println("Events arrive on ummu's own thread and are printed as they come, marked '<-':");
        System.out.println("  UNMAPPED  the kernel unmapped (part of) a buffer's memory");
        System.out.println("  RELEASED  the JVM freed or unmapped a buffer");
        System.out.println("  DANGLING  the memory behind a buffer the JVM still uses was unmapped: a crash waiting to happen");
        Ummu.addListener(this::onEvent);

        step("allocateDirect: 64 KiB, 1 MiB and 48 MiB");
        ByteBuffer small = ByteBuffer.allocateDirect(64 << 10);
        ByteBuffer[] dropped = {ByteBuffer.allocateDirect(1 << 20), ByteBuffer.allocateDirect(48 << 20)};
        settle();
        List<TrackedBuffer> direct = showTracked();
        TrackedBuffer large = find(direct, BufferKind.DIRECT, 48 << 20);

        step("drop the 1 MiB and 48 MiB buffers and let the GC release them. glibc gives chunks above its"
                + " mmap threshold back to the kernel, so the kernel reports the 48 MiB one UNMAPPED too;"
                + " the 1 MiB one may stay in the heap");
        dropped = null;
        awaitReleased(direct, 2);
        expect(BufferEvent.Type.RELEASED, large, "RELEASED for the 48 MiB direct buffer");
        if (kernel) {
            expect(BufferEvent.Type.UNMAPPED, large, "UNMAPPED (kernel) for the 48 MiB direct buffer");
        }

        step("map a 64 KiB file with FileChannel.map, drop it, let the GC unmap it");
        Path file = Files.createTempFile("ummu-demo-", ".bin");
        try {
            Files.write(file, new byte[64 << 10]);
            MappedByteBuffer mapped;
            try (FileChannel fc = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                mapped = fc.map(FileChannel.MapMode.READ_WRITE, 0, 64 << 10);
            }
            mapped.put(0, (byte) 1);
            settle();
            List<TrackedBuffer> maps = showTracked();
            mapped = null;
            awaitReleased(maps, 1);
            for (TrackedBuffer m : maps) {
                expect(BufferEvent.Type.RELEASED, m, "RELEASED for the mapped file");
                if (kernel) {
                    expect(BufferEvent.Type.UNMAPPED, m, "UNMAPPED (kernel) for the mapped file");
                }
            }

            Segments.run(this, file, kernel);
        } finally {
            Files.deleteIfExists(file);
        }

        step("still live: the 64 KiB buffer (reachable until here)");
        for (TrackedBuffer b : Ummu.liveBuffers()) {
            say("live " + describe(b));
        }
        small.put(0, (byte) 1);
        System.out.println();
        System.out.println("events: " + counts);
        if (!missing.isEmpty()) {
            System.out.println("NOT SEEN (the demo fails):");
            for (String m : missing) {
                System.out.println("  - " + m);
            }
            return 1;
        }
        if (!kernel) {
            System.out.println("Without a kernel backend the demo cannot show UNMAPPED or DANGLING (see the agent's"
                    + " first line for why): exit status 3.");
            return 3;
        }
        System.out.println("OK: every expected event was seen.");
        return 0;
    }

    private void onEvent(BufferEvent e) {
        synchronized (counts) {
            counts.merge(e.type(), 1, Integer::sum);
        }
        seen.get(e.type()).add(e.buffer().id());
        System.out.println("  <- " + e.message().replace("\n", "\n     "));
    }

    void expect(BufferEvent.Type type, TrackedBuffer b, String what) {
        if (b == null || !seen.get(type).contains(b.id())) {
            missing.add(what + (b == null ? " (the buffer was not even tracked)" : " (buffer #" + b.id() + ")"));
        }
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

    /** Asks for garbage collections until {@code n} of these buffers were released (or about 10 s passed). */
    void awaitReleased(List<TrackedBuffer> buffers, int n) throws InterruptedException {
        for (int i = 0; i < 100; i++) {
            long released = buffers.stream().filter(b -> seen.get(BufferEvent.Type.RELEASED).contains(b.id())).count();
            if (released >= n) {
                return;
            }
            System.gc();
            Thread.sleep(20);
            settle();
        }
    }

    /** Prints the buffers tracked since the last call and returns them. */
    List<TrackedBuffer> showTracked() {
        long max = lastShownId;
        List<TrackedBuffer> fresh = new ArrayList<>();
        for (TrackedBuffer b : Ummu.liveBuffers()) {
            if (b.id() > lastShownId) {
                fresh.add(b);
                max = Math.max(max, b.id());
            }
        }
        fresh.sort((a, b) -> Long.compare(a.id(), b.id()));
        for (TrackedBuffer b : fresh) {
            say("tracked " + describe(b));
        }
        lastShownId = max;
        return fresh;
    }

    static TrackedBuffer find(List<TrackedBuffer> l, BufferKind kind, long minSize) {
        for (TrackedBuffer b : l) {
            if (b.kind() == kind && b.size() >= minSize) {
                return b;
            }
        }
        return null;
    }

    static String describe(TrackedBuffer b) {
        return String.format("%s #%d [0x%x, 0x%x) %d bytes, watched by the kernel: %s", b.kind(), b.id(),
                b.address(), b.end(), b.size(), b.watch() != null ? "yes" : "no");
    }
}
