package io.ummu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The Java 22+ example of agent-java/API.md (see {@link ApiGuideTest}), run. */
class ApiGuideJdk22Test {
    // ---- API.md: "Memory segments (Java 22 and later)" ---------------------------

    static List<Invalidation> watchAMappedFile(MemoryNotifier notifier, Path file) throws IOException {
        List<Invalidation> seen = new ArrayList<>();
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            Arena arena = Arena.ofShared();
            MemorySegment mapped = channel.map(FileChannel.MapMode.READ_WRITE, 0, 1 << 20, arena);
            Watch watch = notifier.watch(mapped);
            arena.close(); // munmap
            while (seen.isEmpty() && notifier.await(Duration.ofSeconds(10))) {
                for (Invalidation inv : notifier.drain().invalidations()) {
                    if (inv.watch() == watch) {
                        seen.add(inv); // inv.mappingGone() is true where causes are known
                    }
                }
            }
        }
        return seen;
    }

    @Test
    void watchAMappedFileSeesTheUnmap() throws IOException {
        Path file = Files.createTempFile("ummu-guide", ".bin");
        try (MemoryNotifier n = TestBackends.openAny()) {
            List<Invalidation> seen = watchAMappedFile(n, file);
            assertEquals(1, seen.size(), seen.toString());
            Invalidation inv = seen.get(0);
            assertEquals(1 << 20, inv.length(), inv.toString());
            if (n.capabilities().contains(Capability.EVENT_CAUSE)) {
                assertTrue(inv.mappingGone(), inv.toString());
            }
        } finally {
            Files.deleteIfExists(file);
        }
    }
}
