package io.ummu;

import static org.junit.jupiter.api.Assertions.fail;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;

/**
 * Which backends the tests exercise, and opening them.
 *
 * <p>Without {@code -Dummu.test.backends} (the Maven build on the host), the
 * backend-parameterised tests run for every {@link Backend}; one that cannot
 * open here is skipped with the reason printed.
 *
 * <p>With {@code -Dummu.test.backends=ummunotify[,userfaultfd]} (set by
 * agent-java/src/test/vm/run-device-tests.sh inside the VM), they run for
 * exactly the listed backends, and each listed backend must open: a missing
 * one fails the test instead of skipping it, so a broken VM set-up cannot
 * pass as "all skipped". Tests of an unlisted backend have no invocation at
 * all (not a skip), so the VM run can demand zero skips.
 */
final class TestBackends {
    static final String BACKENDS_PROPERTY = "ummu.test.backends";
    /** The older name of {@link #BACKENDS_PROPERTY}, still honoured when that one is unset. */
    static final String REQUIRE_PROPERTY = "ummu.test.require";

    private TestBackends() {
    }

    /** @return true when {@link #BACKENDS_PROPERTY} is set, i.e. the listed backends are required */
    static boolean required() {
        return !property().isBlank();
    }

    private static String property() {
        String v = System.getProperty(BACKENDS_PROPERTY, "");
        return v.isBlank() ? System.getProperty(REQUIRE_PROPERTY, "") : v;
    }

    /** @return the backends under test, in preference order */
    static List<Backend> tested() {
        if (!required()) {
            return List.of(Backend.values());
        }
        List<Backend> out = new ArrayList<>();
        for (String name : property().split(",")) {
            String n = name.trim();
            if (n.isEmpty()) {
                continue;
            }
            out.add(Backend.valueOf(n.toUpperCase(Locale.ROOT)));
        }
        out.sort(null);
        return out;
    }

    /** {@code @MethodSource("io.ummu.TestBackends#all")}: every backend under test. */
    static Stream<Backend> all() {
        return tested().stream();
    }

    /** {@code @MethodSource("io.ummu.TestBackends#ummunotify")}: the module, when under test. */
    static Stream<Backend> ummunotify() {
        return all().filter(b -> b == Backend.UMMUNOTIFY);
    }

    /** {@code @MethodSource("io.ummu.TestBackends#userfaultfd")}: userfaultfd, when under test. */
    static Stream<Backend> userfaultfd() {
        return all().filter(b -> b == Backend.USERFAULTFD);
    }

    /** Skips (or fails, when backends are required) unless the backend can be opened here. */
    static void assumeAvailable(Backend b) {
        String why = b.unavailabilityCause();
        if (why == null) {
            return;
        }
        String msg = b + " is not available here: " + why;
        if (required()) {
            fail(msg + " (required by -D" + BACKENDS_PROPERTY + "=" + property() + ")");
        }
        System.out.println("SKIPPED: " + msg);
        Assumptions.assumeTrue(false, msg);
    }

    /**
     * Opens the best backend under test; skips when none is available (fails
     * instead when backends are required).
     */
    static MemoryNotifier openAny() {
        List<Backend> tested = tested();
        if (required()) {
            assumeAvailable(tested.get(0));
            return MemoryNotifier.open(tested.get(0));
        }
        for (Backend b : tested) {
            if (b.isAvailable()) {
                return MemoryNotifier.open(b);
            }
        }
        StringBuilder why = new StringBuilder("no backend is available here:");
        for (Backend b : tested) {
            why.append(' ').append(b).append(": ").append(b.unavailabilityCause()).append(';');
        }
        System.out.println("SKIPPED: " + why);
        Assumptions.assumeTrue(false, why.toString());
        throw new AssertionError("unreachable");
    }
}
