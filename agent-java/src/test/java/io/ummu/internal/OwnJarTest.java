package io.ummu.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

/**
 * Reading ummu.jar's own entries without the class loader: the same bytes
 * the class loader finds (the versioned entry of the multi-release jar on
 * 22+), nothing for a class that is not in a jar, and the notifier's
 * template read that way when the first notifier is made.
 */
class OwnJarTest {
    static final String TEMPLATE = "io/ummu/MemoryNotifier$Constant.class";

    @Test
    void readsTheSameVersionedEntryAsTheClassLoader() throws IOException {
        byte[][] got = OwnJar.read(CounterPage.class, TEMPLATE, "no/such/entry", NativeLibrary.resourcePath());
        assertNotNull(got, "CounterPage comes from ummu.jar in these tests");
        assertEquals(3, got.length);
        byte[] viaLoader;
        try (InputStream in = CounterPage.class.getClassLoader().getResourceAsStream(TEMPLATE)) {
            viaLoader = in.readAllBytes();
        }
        // ummu.jar has a base and a META-INF/versions/22 template that differ:
        // on 22+ this fails if the jar were read without versioning.
        assertArrayEquals(viaLoader, got[0]);
        assertNull(got[1], "a missing entry");
        assertNotNull(got[2], "the native library");
    }

    @Test
    void nothingForAClassNotLoadedFromAJar() {
        assertNull(OwnJar.read(String.class, TEMPLATE), "a JDK class");
        assertNull(OwnJar.read(OwnJarTest.class, TEMPLATE), "a class from a directory (test-classes)");
    }

    /** The notifier's class of its own is defined from a template read without searching the JDK's image. */
    @Test
    void counterPageTemplateDoesNotGoThroughAJarUrl() throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse(
                Paths.get(System.getProperty("java.home"), "bin", "java").toString()));
        if (Runtime.version().feature() >= 22) {
            cmd.add("--enable-native-access=ALL-UNNAMED");
        }
        cmd.addAll(List.of("-verbose:class", "-cp", System.getProperty("java.class.path"),
                LoaderProbe.class.getName(), "counterPage"));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "child JVM finished");
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("kind=constant-"), out);
        assertTrue(out.contains("io.ummu.MemoryNotifier$Constant/0x"), "the log lists the defined class: " + out);
        assertFalse(out.contains("sun.net.www.protocol.jar.JarURLConnection "), "read through a jar: URL");
    }
}
