package io.ummu.examples;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;

import io.ummu.BufferEvent;
import io.ummu.BufferKind;
import io.ummu.TrackedBuffer;

/** JDK 22+: native segments, and the bug ummu exists for. */
final class Segments {
    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle MUNMAP = LINKER.downcallHandle(
            LINKER.defaultLookup().find("munmap").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
    private static final MethodHandle GETPAGESIZE = LINKER.downcallHandle(
            LINKER.defaultLookup().find("getpagesize").orElseThrow(), FunctionDescriptor.of(ValueLayout.JAVA_INT));

    private Segments() {
    }

    static void run(Walkthrough w, Path file, boolean kernel) throws Throwable {
        w.step("native segments: Arena.ofConfined(), allocate 4 KiB and 40 MiB, then close the arena");
        List<TrackedBuffer> segs;
        try (Arena arena = Arena.ofConfined()) {
            arena.allocate(4 << 10);
            arena.allocate(40 << 20);
            w.settle();
            segs = w.showTracked();
            w.say("closing the arena");
        }
        w.settle();
        for (TrackedBuffer s : segs) {
            w.expect(BufferEvent.Type.RELEASED, s, "RELEASED for the " + s.size() + " byte native segment");
        }
        if (segs.isEmpty()) {
            w.expect(BufferEvent.Type.RELEASED, null, "RELEASED for native segments");
        }

        long page = (int) GETPAGESIZE.invokeExact();
        w.step("the bug ummu catches: map 3 pages of the file into a segment, take a ByteBuffer view of it,"
                + " then munmap the middle page from native code (an FFM downcall to munmap) while the JVM"
                + " still holds both");
        try (Arena arena = Arena.ofShared();
             FileChannel fc = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            MemorySegment seg = fc.map(FileChannel.MapMode.READ_WRITE, 0, 3 * page, arena);
            ByteBuffer view = seg.asByteBuffer();
            view.put(0, (byte) 42);
            w.settle();
            TrackedBuffer mapped = Walkthrough.find(w.showTracked(), BufferKind.MAPPED, 3 * page);
            MemorySegment middle = seg.asSlice(page, page);
            w.say(String.format("calling munmap(0x%x, %d) from native code ...", middle.address(), page));
            int rc = (int) MUNMAP.invokeExact(middle, page);
            w.settle();
            w.say("munmap returned " + rc + ". Reading view.get(" + page + ") now would crash the JVM with"
                    + " SIGSEGV: the demo does not.");
            if (kernel) {
                w.expect(BufferEvent.Type.DANGLING, mapped, "DANGLING for the mapped segment");
            }
            w.say("closing the arena (the JDK's own munmap of the segment):");
        }
        w.settle();
    }
}
