package io.ummu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;

/** watch(MemorySegment): present on 22+, and bad segments get exceptions naming the argument. */
class SegmentValidationJdk22Test {
    @Test
    void theJava22OverloadIsInTheJar() {
        // Libc's static initializer fails if ummu.jar lacks META-INF/versions/22.
        assertEquals(4096, Libc.PAGE);
    }

    @Test
    void badSegmentsAreRejected() {
        try (MemoryNotifier n = TestBackends.openAny(); Arena arena = Arena.ofConfined()) {
            IllegalArgumentException heap = assertThrows(IllegalArgumentException.class,
                    () -> Libc.watch(n, MemorySegment.ofArray(new byte[4096])));
            assertTrue(heap.getMessage().startsWith("segment:"), heap.getMessage());
            IllegalArgumentException empty = assertThrows(IllegalArgumentException.class,
                    () -> Libc.watch(n, arena.allocate(0)));
            assertTrue(empty.getMessage().startsWith("segment:"), empty.getMessage());
            IllegalArgumentException nul = assertThrows(IllegalArgumentException.class,
                    () -> Libc.watch(n, MemorySegment.NULL));
            assertTrue(nul.getMessage().startsWith("segment:"), nul.getMessage());
            assertEquals("segment", assertThrows(NullPointerException.class, () -> Libc.watch(n, null))
                    .getMessage());

            Arena closed = Arena.ofConfined();
            MemorySegment dead = closed.allocate(4096);
            closed.close();
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> Libc.watch(n, dead));
            assertTrue(e.getMessage().startsWith("segment:"), e.getMessage());

            MemorySegment ok = arena.allocate(8192, 4096);
            Watch w = Libc.watch(n, ok);
            assertEquals(ok.address(), w.address());
            assertEquals(8192, w.length());
        }
    }

    @Test
    void directBufferAddressesAgreeWithTheirSegments() {
        try (MemoryNotifier n = TestBackends.openAny()) {
            java.nio.ByteBuffer b = java.nio.ByteBuffer.allocateDirect(8192);
            Watch w = n.watch(b.position(100));
            assertEquals(MemorySegment.ofBuffer(b.position(0)).address(), w.address());
        }
    }
}
