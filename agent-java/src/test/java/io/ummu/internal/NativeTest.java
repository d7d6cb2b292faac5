package io.ummu.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.ummu.MemoryNotifierException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The raw JNI surface of libummu.so ({@link Native}), below the public API:
 * argument checks in native code, errno helpers, the open failure exception,
 * the await/wakeup primitive. Handle-based cases need a backend that opens
 * here (the ummunotify module in the VM, userfaultfd on a kernel that has
 * it); without one they are skipped with the reasons.
 */
class NativeTest {
    private static final int EINVAL = 22;
    private static final int EBADF = 9;
    private static final int ENOENT = 2;
    private static final int UMMUNOTIFY = 0;
    private static final int BACKEND_COUNT = 2;

    @BeforeAll
    static void loaded() {
        assertNull(NativeLibrary.loadFailure(), () -> "libummu.so not loaded: " + NativeLibrary.loadFailure());
        System.out.println("ummu.test.jdk=" + System.getProperty("ummu.test.jdk") + " running on "
                + Runtime.version());
    }

    @Test
    void abiVersionMatchesTheJar() {
        assertEquals(Native.ABI_VERSION, Native.abiVersion());
    }

    @Test
    void errnoNamesAreSymbolicAndTotal() {
        assertEquals("ENOSPC", Native.errnoName(28));
        assertEquals("EINVAL", Native.errnoName(-22), "negative returns are accepted");
        assertEquals("ENOTTY", Native.errnoName(25));
        assertEquals("EPERM", Native.errnoName(1));
        assertEquals("E0", Native.errnoName(0));
        assertEquals("E9999", Native.errnoName(9999));
        assertEquals("E2147483648", Native.errnoName(Integer.MIN_VALUE));
    }

    @Test
    void strerrorIsTheCLibraryText() {
        assertEquals("No such file or directory", Native.strerror(ENOENT));
        assertEquals("No such file or directory", Native.strerror(-ENOENT));
        assertTrue(Native.strerror(9999).contains("9999"), Native.strerror(9999));
    }

    @Test
    void noopReturnsItsArgument() {
        assertEquals(42L, Native.noop(42L));
        assertEquals(Long.MIN_VALUE, Native.noop(Long.MIN_VALUE));
    }

    @Test
    void unknownBackendIdsAreRefused() {
        for (int id : new int[] {-1, BACKEND_COUNT, 99, Integer.MIN_VALUE}) {
            assertEquals("unknown backend id " + id, Native.probe(id));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Native.open(id));
            assertTrue(e.getMessage().contains("unknown backend id"), e.getMessage());
        }
    }

    @Test
    void ummunotifyProbeAndOpenFollowTheDevice() {
        if (Files.exists(Paths.get("/dev/ummunotify"))) {
            // In the VM (run-device-tests.sh), with the module loaded.
            assertNull(Native.probe(UMMUNOTIFY));
            long h = Native.open(UMMUNOTIFY);
            try {
                assertTrue(h != 0);
            } finally {
                Native.close(h);
            }
            return;
        }
        String why = Native.probe(UMMUNOTIFY);
        assertEquals("module not loaded: /dev/ummunotify missing (load ummunotify.ko, see kmod/README.md)", why);
        MemoryNotifierException e = assertThrows(MemoryNotifierException.class, () -> Native.open(UMMUNOTIFY));
        assertEquals(ENOENT, e.errno());
        assertEquals("open(ummunotify): " + why, e.getMessage());
    }

    @Test
    void probeOfEveryBackendAnswers() {
        for (int id = 0; id < BACKEND_COUNT; id++) {
            String why = Native.probe(id);
            assertTrue(why == null || !why.isEmpty(), "backend " + id + ": empty reason");
        }
    }

    @Test
    void nullHandleIsRefusedWithoutACrash() {
        assertEquals(0, Native.capabilities(0));
        assertNull(Native.counterPage(0));
        assertEquals(-EBADF, Native.watch(0, 0, 4096, 1, null));
        assertEquals(-EBADF, Native.unwatch(0, 1));
        assertEquals(-EBADF, Native.read(0, ByteBuffer.allocateDirect(64), 1));
        assertEquals(-EBADF, Native.await(0, 0));
        Native.wakeup(0);
        Native.close(0);
    }

    /** Opens the first backend that works here, or skips with every reason. */
    private static long openAny() {
        StringBuilder why = new StringBuilder();
        for (int id = 0; id < BACKEND_COUNT; id++) {
            if (Native.probe(id) == null) {
                return Native.open(id);
            }
            why.append("backend ").append(id).append(": ").append(Native.probe(id)).append("; ");
        }
        assumeTrue(false, "no backend opens here: " + why);
        return 0;
    }

    @Test
    void counterPageIsOnePageStartingWithTheGeneration() {
        long h = openAny();
        try {
            ByteBuffer page = Native.counterPage(h);
            assertNotNull(page);
            assertTrue(page.isDirect());
            assertEquals(4096, page.capacity());
            assertTrue(page.order(ByteOrder.nativeOrder()).getLong(0) >= 0);
        } finally {
            Native.close(h);
        }
    }

    @Test
    void readChecksItsBuffer() {
        long h = openAny();
        try {
            ByteBuffer direct = ByteBuffer.allocateDirect(2 * Native.EVENT_SIZE);
            assertEquals(-EINVAL, Native.read(h, null, 1), "null buffer");
            assertEquals(-EINVAL, Native.read(h, ByteBuffer.allocate(64), 1), "heap buffer");
            assertEquals(-EINVAL, Native.read(h, direct, 3), "more records than fit");
            assertEquals(-EINVAL, Native.read(h, direct, -1), "negative max");
            assertEquals(-EINVAL, Native.read(h, direct.asReadOnlyBuffer(), 1), "read-only buffer");
            assertEquals(0, Native.read(h, direct, 0));
            assertEquals(0, Native.read(h, direct, 2), "nothing pending on a fresh handle");
        } finally {
            Native.close(h);
        }
    }

    @Test
    void watchRejectsAnInvertedRangeWithAReason() {
        long h = openAny();
        try {
            String[] why = new String[1];
            assertEquals(-EINVAL, Native.watch(h, 8192, 4096, 1, why));
            assertNotNull(why[0]);
            assertEquals(-EINVAL, Native.watch(h, 8192, 4096, 1, new String[0]), "empty why array is ignored");
            assertEquals(-EINVAL, Native.watch(h, 8192, 4096, 1, null));
        } finally {
            Native.close(h);
        }
    }

    @Test
    void awaitTimesOutThenWakeupReleasesWaitersForGood() throws Exception {
        long h = openAny();
        try {
            assertEquals(0, Native.await(h, 0));
            assertEquals(0, Native.await(h, 2_000_000L));
            CompletableFuture<Integer> waiter = CompletableFuture.supplyAsync(() -> Native.await(h, -1));
            // The waiter may or may not be inside epoll_wait yet: a sticky
            // wakeup must release it either way.
            Native.wakeup(h);
            assertEquals(2, waiter.get(30, TimeUnit.SECONDS));
            assertEquals(2, Native.await(h, -1), "a wakeup is sticky: close cannot be missed");
        } finally {
            Native.close(h);
        }
    }
}
