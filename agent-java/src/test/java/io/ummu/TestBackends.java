package io.ummu;

import static org.junit.jupiter.api.Assertions.fail;

import org.junit.jupiter.api.Assumptions;

/** Opening a real backend in tests, or skipping (with the reason printed) where there is none. */
final class TestBackends {
    /**
     * Set to true where a backend must be there (the device run in the VM sets
     * -Dummu.test.require=ummunotify): a missing backend then fails instead of
     * skipping, so a broken VM set-up cannot pass as "all skipped".
     */
    static final String REQUIRE_PROPERTY = "ummu.test.require";

    private TestBackends() {
    }

    /** Skips (or fails, if required) unless the backend can be opened here. */
    static void assumeAvailable(Backend b) {
        String why = b.unavailabilityCause();
        if (why == null) {
            return;
        }
        String msg = b + " is not available here: " + why;
        if (b.configName().equalsIgnoreCase(System.getProperty(REQUIRE_PROPERTY, ""))) {
            fail(msg + " (required by -D" + REQUIRE_PROPERTY + ")");
        }
        System.out.println("SKIPPED: " + msg);
        Assumptions.assumeTrue(false, msg);
    }

    /** Opens the best backend, or skips when none is available. */
    static MemoryNotifier openAny() {
        for (Backend b : Backend.values()) {
            if (b.isAvailable()) {
                return MemoryNotifier.open(b);
            }
        }
        StringBuilder why = new StringBuilder("no backend is available here:");
        for (Backend b : Backend.values()) {
            why.append(' ').append(b).append(": ").append(b.unavailabilityCause()).append(';');
        }
        System.out.println("SKIPPED: " + why);
        Assumptions.assumeTrue(false, why.toString());
        throw new AssertionError("unreachable");
    }
}
