package io.ummu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Backend availability, open() selection and its failure messages, against the real native library. */
class BackendSelectionTest {
    @AfterEach
    void clearProperty() {
        System.clearProperty("ummu.backend");
    }

    @Test
    void ordinalsAreTheNativeBackendIds() {
        assertEquals(0, Backend.UMMUNOTIFY.ordinal());
        assertEquals(1, Backend.USERFAULTFD.ordinal());
        assertEquals(2, Backend.values().length);
    }

    @Test
    void availabilityAndCauseAgree() {
        for (Backend b : Backend.values()) {
            String why = b.unavailabilityCause();
            assertEquals(why == null, b.isAvailable(), b.name());
            if (why != null) {
                assertFalse(why.isBlank(), b + ": an empty reason helps nobody");
            }
        }
    }

    @Test
    void nativeLibraryLoadsFromTheJar() {
        // The tests run against the packaged ummu.jar: its libummu.so must load
        // here, otherwise every backend reports the loader's failure instead.
        String why = Backend.UMMUNOTIFY.unavailabilityCause();
        assertFalse(why != null && why.startsWith("native library"), "libummu.so did not load: " + why);
    }

    @Test
    void ummunotifyIsAvailableExactlyWhenTheDeviceIsThere() {
        if (Files.exists(Path.of("/dev/ummunotify"))) {
            // In the VM (run-device-tests.sh), with the module loaded.
            assertNull(Backend.UMMUNOTIFY.unavailabilityCause());
            assertTrue(Backend.UMMUNOTIFY.isAvailable());
            try (MemoryNotifier n = MemoryNotifier.open(Backend.UMMUNOTIFY)) {
                assertEquals(Backend.UMMUNOTIFY, n.backend());
                assertTrue(n.capabilities().contains(Capability.KERNEL_INVALIDATIONS), n.capabilities().toString());
                assertTrue(n.capabilities().contains(Capability.EVENT_CAUSE),
                        "the feature exchange must grant event causes: " + n.capabilities());
            }
            try (MemoryNotifier n = MemoryNotifier.open()) {
                assertEquals(Backend.UMMUNOTIFY, n.backend(), "the module is the preferred backend");
            }
            return;
        }
        assertFalse(Backend.UMMUNOTIFY.isAvailable());
        String why = Backend.UMMUNOTIFY.unavailabilityCause();
        assertTrue(why.contains("ummunotify"), why);
        MemoryNotifierException e = assertThrows(MemoryNotifierException.class,
                () -> MemoryNotifier.open(Backend.UMMUNOTIFY));
        assertEquals("open(UMMUNOTIFY): ENOENT (No such file or directory): " + why, e.getMessage(),
                "operation, errno and the probe's reason, once each");
        assertEquals(2, e.errno(), "ENOENT: " + e.getMessage());
    }

    @Test
    void openPicksTheFirstAvailableBackendOrListsEveryReason() {
        Backend expected = null;
        for (Backend b : Backend.values()) {
            if (b.isAvailable()) {
                expected = b;
                break;
            }
        }
        if (expected != null) {
            try (MemoryNotifier n = MemoryNotifier.open()) {
                assertEquals(expected, n.backend());
                if (expected.ordinal() == 0) {
                    assertEquals("the first choice", n.backendChoice());
                } else {
                    // Every better backend is named with why it did not open.
                    String choice = n.backendChoice();
                    assertTrue(choice.startsWith("the first that opened; skipped "), choice);
                    for (Backend b : Backend.values()) {
                        if (b.ordinal() < expected.ordinal()) {
                            assertTrue(choice.contains(b + ": ") && choice.contains(b.unavailabilityCause()),
                                    "reason for " + b + " missing: " + choice);
                        }
                    }
                    assertFalse(choice.contains("open(" + Backend.UMMUNOTIFY + ")"), "operation said twice: " + choice);
                }
            }
        } else {
            MemoryNotifierException e = assertThrows(MemoryNotifierException.class, MemoryNotifier::open);
            String msg = e.getMessage();
            assertTrue(msg.startsWith("open(): no memory notifier backend is available:"), msg);
            for (Backend b : Backend.values()) {
                assertTrue(msg.contains(b + ": ") && msg.contains(b.unavailabilityCause()),
                        "reason for " + b + " missing: " + msg);
            }
        }
    }

    @Test
    void userfaultfdOnAKernelBefore67SaysWhatIsMissing() {
        // Runs for real in the VM's Linux 6.1 boot (run-device-tests.sh); on 6.7+
        // UserfaultfdBackendTest shows the backend working instead.
        String release = System.getProperty("os.version");
        String[] v = release.split("[.-]");
        int major = Integer.parseInt(v[0]);
        int minor = Integer.parseInt(v[1]);
        if (major > 6 || major == 6 && minor >= 7) {
            return;
        }
        String why = Backend.USERFAULTFD.unavailabilityCause();
        assertNotNull(why, "userfaultfd cannot work on " + release);
        assertTrue(why.contains("WP_ASYNC") && why.contains("needs Linux >= 6.7") && why.contains(release), why);
        MemoryNotifierException e = assertThrows(MemoryNotifierException.class,
                () -> MemoryNotifier.open(Backend.USERFAULTFD));
        assertTrue(e.getMessage().startsWith("open(USERFAULTFD): ") && e.getMessage().contains(why), e.getMessage());
    }

    @Test
    void propertyForcesABackend() {
        for (Backend b : Backend.values()) {
            System.setProperty("ummu.backend", b.name().toLowerCase(java.util.Locale.ROOT));
            if (b.isAvailable()) {
                try (MemoryNotifier n = MemoryNotifier.open()) {
                    assertEquals(b, n.backend());
                    assertEquals("forced by system property ummu.backend", n.backendChoice());
                }
                try (MemoryNotifier n = MemoryNotifier.open(b)) {
                    assertEquals("requested by open(" + b + ")", n.backendChoice());
                }
            } else {
                MemoryNotifierException e = assertThrows(MemoryNotifierException.class, MemoryNotifier::open);
                assertTrue(e.getMessage().startsWith("open(" + b + "): "), e.getMessage());
                assertTrue(e.getMessage().endsWith("(backend forced by system property ummu.backend)"),
                        e.getMessage());
            }
        }
    }

    @Test
    void unknownForcedBackendIsRejectedNamingTheProperty() {
        System.setProperty("ummu.backend", "jvm-magic");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, MemoryNotifier::open);
        assertTrue(e.getMessage().startsWith("system property ummu.backend: unknown backend 'jvm-magic'"),
                e.getMessage());
        assertTrue(e.getMessage().contains("ummunotify") && e.getMessage().contains("userfaultfd"), e.getMessage());
    }

    @Test
    void autoMeansTheDefaultOrder() {
        System.setProperty("ummu.backend", "AUTO");
        try (MemoryNotifier n = MemoryNotifier.open()) {
            assertNotNull(n.backend());
        } catch (MemoryNotifierException e) {
            assertTrue(e.getMessage().startsWith("open(): no memory notifier backend"), e.getMessage());
        }
    }

    @Test
    void openRejectsNull() {
        NullPointerException e = assertThrows(NullPointerException.class, () -> MemoryNotifier.open(null));
        assertEquals("backend", e.getMessage());
    }

    @Test
    void exceptionKeepsErrnoAndNamesIt() {
        MemoryNotifierException e = new MemoryNotifierException("watch(0x1000, 4096): ENOSPC", 28);
        assertEquals(28, e.errno());
        assertEquals("watch(0x1000, 4096): ENOSPC", e.getMessage());
        if (Backend.UMMUNOTIFY.unavailabilityCause() == null
                || !Backend.UMMUNOTIFY.unavailabilityCause().startsWith("native library")) {
            assertEquals("ENOSPC", e.errnoName());
            assertEquals("EINVAL", new MemoryNotifierException("x", 22).errnoName());
        } else {
            assertEquals("errno 28", e.errnoName());
        }
        assertNull(new MemoryNotifierException("no errno", 0).errnoName());
    }
}
