package io.ummu.examples;

import java.nio.file.Path;

/** JDK 17 to 21: no FFM. META-INF/versions/22 holds the real steps. */
final class Segments {
    private Segments() {
    }

    static void run(Walkthrough w, Path file, boolean kernel) {
        w.step("native segments and unmapping from native code need JDK 22+ (this is " + Runtime.version().feature()
                + "): skipped; run the demo on JDK 25 to see DANGLING");
    }
}
