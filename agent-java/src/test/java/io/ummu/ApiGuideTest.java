package io.ummu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The code of agent-java/API.md. Every {@code ```java} block there must
 * appear, line for line (indentation aside), in this file or in
 * {@code ApiGuideJdk22Test}: so the guide's examples compile (on Java 17,
 * or 22 for the segment one), and the tests below run them against a real
 * backend.
 */
class ApiGuideTest {
    /** Above glibc's largest mmap threshold, so free() always unmaps it. */
    private static final int BIG = 40 << 20;

    // ---- API.md: "Is there a backend?" ------------------------------------

    static void whatCanISee() {
        if (!Backend.UMMUNOTIFY.isAvailable()) {
            System.out.println("no module: " + Backend.UMMUNOTIFY.unavailabilityCause());
        }
        try (MemoryNotifier notifier = MemoryNotifier.open()) {
            System.out.println(notifier.backend() + " sees " + notifier.capabilities());
        }
    }

    // ---- API.md: "The fast path" -------------------------------------------

    /** Buffers registered with a device, each valid until its memory changes. Single-threaded. */
    static final class PinnedBuffers {
        private final MemoryNotifier notifier;
        private final Set<Watch> valid = new HashSet<>();
        private long seen;

        PinnedBuffers(MemoryNotifier notifier) {
            this.notifier = notifier;
            this.seen = notifier.generationAcquire();
        }

        Watch pin(ByteBuffer buffer) {
            Watch watch = notifier.watch(buffer); // watch first, then register with the device
            valid.add(watch);
            return watch;
        }

        /** Call before every use of a pinned buffer's registration. */
        boolean stillValid(Watch watch) {
            if (notifier.changedSince(seen)) { // one acquire load, no system call
                Drain drain = notifier.drain();
                for (Invalidation inv : drain.invalidations()) {
                    if (valid.remove(inv.watch())) {
                        inv.watch().close(); // and deregister it from the device
                    }
                }
                seen = drain.generation();
            }
            return valid.contains(watch);
        }
    }

    // ---- API.md: "A drain loop" ------------------------------------------------

    /** Runs on its own thread until running is cleared; closes the notifier on the way out. */
    static void drainLoop(MemoryNotifier notifier, AtomicBoolean running, Consumer<Invalidation> handler) {
        try (notifier) {
            while (running.get()) {
                if (notifier.await(Duration.ofMillis(100))) { // false: timed out
                    for (Invalidation inv : notifier.drain().invalidations()) {
                        handler.accept(inv);
                    }
                }
            }
        }
    }

    // ---- API.md: "Listeners" -----------------------------------------------------

    static void listen(MemoryNotifier notifier) {
        notifier.addListener(inv -> {
            if (inv.mappingGone()) {
                System.err.println("memory behind " + inv.watch() + " is gone: " + inv);
            }
        });
    }

    // ---- the examples, run -------------------------------------------------------

    @Test
    void whatCanISeeRuns() {
        TestBackends.openAny().close(); // skips where no backend opens
        whatCanISee();
    }

    @Test
    void pinnedBuffersDropARegistrationOnceItsMemoryIsFreed() {
        try (MemoryNotifier n = TestBackends.openAny()) {
            PinnedBuffers pinned = new PinnedBuffers(n);
            ByteBuffer keep = ByteBuffer.allocateDirect(4096);
            Watch kept = pinned.pin(keep);
            Watch freed = pinned.pin(ByteBuffer.allocateDirect(BIG)); // unreachable from here on
            assertTrue(pinned.stillValid(kept));
            assertTrue(pinned.stillValid(freed));
            for (int i = 0; i < 1200 && pinned.stillValid(freed); i++) {
                System.gc(); // the cleaner frees (munmaps) the big buffer
                n.await(Duration.ofMillis(50));
            }
            assertFalse(pinned.stillValid(freed), "the freed buffer's registration must go");
            assertTrue(freed.isClosed());
            assertTrue(pinned.stillValid(kept), "the live buffer's stays");
            assertFalse(n.changedSince(pinned.seen), "caught up: the next check is one load");
            keep.put(0, (byte) 1);
        }
    }

    @Test
    void theDrainLoopDeliversAndClosesTheNotifierWhenStopped() throws Exception {
        MemoryNotifier n = TestBackends.openAny();
        List<Invalidation> seen = new CopyOnWriteArrayList<>();
        AtomicBoolean running = new AtomicBoolean(true);
        Watch w = n.watch(ByteBuffer.allocateDirect(BIG));
        Thread loop = new Thread(() -> drainLoop(n, running, seen::add), "drain-loop");
        loop.start();
        try {
            for (int i = 0; i < 1200 && seen.stream().noneMatch(inv -> inv.watch() == w); i++) {
                System.gc();
                Thread.sleep(50);
            }
            assertTrue(seen.stream().anyMatch(inv -> inv.watch() == w), "no invalidation reached the loop");
        } finally {
            running.set(false);
            loop.join(60_000);
        }
        assertFalse(loop.isAlive());
        assertTrue(w.isClosed(), "the loop closed the notifier, and with it every watch");
    }

    @Test
    void listenRegistersAListener() {
        try (MemoryNotifier n = TestBackends.openAny()) {
            listen(n);
            assertEquals(1, n.listenersView().size());
        }
    }

    // ---- the guide and this code stay one ------------------------------------------

    @Test
    void everyJavaBlockOfApiMdIsCompiledByATest() throws IOException {
        // Set by agent-java/pom.xml for both test runs.
        Path module = Path.of(System.getProperty("ummu.module.dir", "."));
        String md = Files.readString(module.resolve("API.md"), StandardCharsets.UTF_8);
        List<String> code = new ArrayList<>();
        code.addAll(normalized(Files.readString(module.resolve("src/test/java/io/ummu/ApiGuideTest.java"))));
        code.addAll(normalized(Files.readString(module.resolve("src/test/java22/io/ummu/ApiGuideJdk22Test.java"))));
        Matcher m = Pattern.compile("(?ms)^```java\\n(.*?)^```").matcher(md);
        int blocks = 0;
        while (m.find()) {
            blocks++;
            List<String> block = normalized(m.group(1));
            if (indexOf(code, block) < 0) {
                fail("API.md's java block #" + blocks + " is not in ApiGuideTest or ApiGuideJdk22Test"
                        + " (copy it there, or fix the guide):\n" + m.group(1));
            }
        }
        assertTrue(blocks >= 4, "API.md lost its examples: " + blocks + " java blocks");
    }

    /** Lines without indentation and trailing blanks; empty lines dropped. */
    private static List<String> normalized(String text) {
        List<String> out = new ArrayList<>();
        for (String line : text.split("\n")) {
            String t = line.strip();
            if (!t.isEmpty()) {
                out.add(t);
            }
        }
        return out;
    }

    private static int indexOf(List<String> haystack, List<String> needle) {
        outer:
        for (int i = 0; i + needle.size() <= haystack.size(); i++) {
            for (int j = 0; j < needle.size(); j++) {
                if (!haystack.get(i + j).equals(needle.get(j))) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
