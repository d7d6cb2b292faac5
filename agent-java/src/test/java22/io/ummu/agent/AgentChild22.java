package io.ummu.agent;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

import io.ummu.Ummu;

/** JDK 22+ child: native segments from arenas, and munmap through FFM behind a live mapped segment. */
public final class AgentChild22 {
    private AgentChild22() {
    }

    public static void main(String[] args) throws Throwable {
        System.out.println("BACKEND " + Ummu.backend());
        Ummu.addListener(AgentChild::print);
        System.out.println("LIVE0 " + Ummu.liveCount());
        try (Arena arena = Arena.ofConfined()) {
            arena.allocate(40 << 20);
            arena.allocate(4096);
            AgentChild.tracked();
        }
        try (Arena arena = Arena.ofShared()) {
            arena.allocate(40 << 20, 1 << 16); // over-aligned: the allocation is larger than asked
            AgentChild.tracked();
        }
        AgentChild.flush();
        System.out.println("SEGMENTS_RELEASED");

        Linker linker = Linker.nativeLinker();
        MethodHandle munmap = linker.downcallHandle(linker.defaultLookup().find("munmap").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
        Path file = Files.createTempFile(Path.of("."), "seg-", ".bin");
        Files.write(file, new byte[3 * 4096]);
        try (Arena arena = Arena.ofShared();
             FileChannel fc = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            MemorySegment seg = fc.map(FileChannel.MapMode.READ_WRITE, 0, 3 * 4096, arena);
            ByteBuffer view = seg.asByteBuffer();
            view.put(0, (byte) 1);
            AgentChild.tracked();
            // Printed before the call: the listener may print DANGLING before munmap has even returned.
            System.out.println("NATIVE_UNMAP " + Long.toHexString(seg.address() + 4096));
            int rc = (int) munmap.invokeExact(seg.asSlice(4096, 4096), 4096L);
            System.out.println("NATIVE_UNMAP_RC " + rc);
            AgentChild.flush();
            System.out.println("AFTER_NATIVE_UNMAP");
        }
        AgentChild.flush();
        System.out.println("LIVE " + Ummu.liveCount());
        System.out.println("DONE");
    }
}
