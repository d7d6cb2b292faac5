package io.ummu;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Bad input gets an exception naming the argument. The range checks run
 * everywhere; the rest needs an open notifier and so a backend.
 */
class ValidationTest {
    private static void assertIae(String argument, Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().startsWith(argument + ":"), "message should name " + argument + ": " + e.getMessage());
    }

    @Test
    void rangeChecksNameTheArgument() {
        assertIae("address", () -> AbstractMemoryNotifier.checkRange(0, 4096));
        assertIae("length", () -> AbstractMemoryNotifier.checkRange(0x10000, 0));
        assertIae("length", () -> AbstractMemoryNotifier.checkRange(0x10000, -1));
        assertIae("length", () -> AbstractMemoryNotifier.checkRange(0x10000, Long.MIN_VALUE));
        assertIae("length", () -> AbstractMemoryNotifier.checkRange(-4096L, 4096));
        assertIae("length", () -> AbstractMemoryNotifier.checkRange(-4096L, 8192));
        assertIae("length", () -> AbstractMemoryNotifier.checkRange(-4096L, Long.MAX_VALUE));
        assertDoesNotThrow(() -> AbstractMemoryNotifier.checkRange(0x10000, 1));
        assertDoesNotThrow(() -> AbstractMemoryNotifier.checkRange(-8192L, 4096), "ends just below 2^64");
        assertDoesNotThrow(() -> AbstractMemoryNotifier.checkRange(0x7fff_ffff_f000L, 0x1000));
        assertDoesNotThrow(() -> AbstractMemoryNotifier.checkRange(1, Long.MAX_VALUE));
    }

    @Test
    void overflowMessageShowsTheRange() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> AbstractMemoryNotifier.checkRange(0xffff_ffff_ffff_f000L, 0x2000));
        assertEquals("length: 0xfffffffffffff000 + 8192 wraps around the end of the address space", e.getMessage());
    }

    @Test
    void watchRejectsBadArgumentsBeforeAnyNativeCall() {
        try (MemoryNotifier n = TestBackends.openAny()) {
            assertIae("buffer", () -> n.watch(ByteBuffer.allocate(4096)));
            assertIae("buffer", () -> n.watch(ByteBuffer.allocate(4096).asReadOnlyBuffer()));
            assertIae("buffer", () -> n.watch(ByteBuffer.allocateDirect(0)));
            assertIae("address", () -> n.watch(0, 4096));
            assertIae("length", () -> n.watch(0x10000, 0));
            assertIae("length", () -> n.watch(0x10000, -4096));
            assertIae("length", () -> n.watch(-4096L, 8192));
            assertIae("timeout", () -> n.await(Duration.ofNanos(-1)));
            assertEquals("buffer", assertThrows(NullPointerException.class, () -> n.watch((ByteBuffer) null))
                    .getMessage());
            assertEquals("timeout", assertThrows(NullPointerException.class, () -> n.await(null)).getMessage());
            assertEquals("listener", assertThrows(NullPointerException.class, () -> n.addListener(null))
                    .getMessage());
            assertEquals("listener", assertThrows(NullPointerException.class, () -> n.removeListener(null))
                    .getMessage());
            assertEquals(0, n.watchCount(), "no failed watch may stay registered");
        }
    }

    @Test
    void everyMethodButCloseBackendAndCapabilitiesThrowsAfterClose() {
        MemoryNotifier n = TestBackends.openAny();
        Backend backend = n.backend();
        java.util.Set<Capability> caps = n.capabilities();
        ByteBuffer direct = ByteBuffer.allocateDirect(4096);
        n.close();
        Consumer<Executable> closed = call -> {
            IllegalStateException e = assertThrows(IllegalStateException.class, call);
            assertEquals("notifier closed", e.getMessage());
        };
        closed.accept(() -> n.watch(direct));
        closed.accept(() -> n.watch(0x10000, 4096));
        closed.accept(n::generationAcquire);
        closed.accept(() -> n.changedSince(0));
        closed.accept(n::drain);
        closed.accept(() -> n.await(Duration.ZERO));
        closed.accept(() -> n.addListener(inv -> { }));
        closed.accept(() -> n.removeListener(inv -> { }));
        assertDoesNotThrow(n::close, "close is idempotent");
        assertEquals(backend, n.backend());
        assertEquals(caps, n.capabilities());
        assertTrue(n.toString().contains("closed"), n.toString());
    }

    @ParameterizedTest(allowZeroInvocations = true)
    @MethodSource("io.ummu.TestBackends#userfaultfd")
    void nativeErrorsNameOperationArgumentAndErrno(Backend backend) {
        TestBackends.assumeAvailable(backend);
        try (MemoryNotifier n = MemoryNotifier.open(backend)) {
            // Above the 47-bit user address space: userfaultfd refuses it with an errno.
            // (The module accepts any range; its ENOSPC case is in DeviceEventsTest.)
            long kernelHalf = 0xffff_8000_0000_0000L;
            MemoryNotifierException e = assertThrows(MemoryNotifierException.class, () -> n.watch(kernelHalf, 4096));
            assertTrue(e.getMessage().startsWith("watch(0xffff800000000000, 4096): E"), e.getMessage());
            assertTrue(e.errno() > 0);
            assertTrue(e.getMessage().contains(e.errnoName()), e.getMessage());
            assertEquals(0, n.watchCount());
        }
    }
}
