package io.ummu.internal;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.net.URISyntaxException;
import java.net.URL;
import java.security.CodeSource;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.zip.ZipFile;

/**
 * Reads entries of the jar a class was loaded from, without the class
 * loader. {@code Class.getResourceAsStream} asks the parent loaders first,
 * and for a package in no module the boot loader searches every module of
 * the JDK's image: at JVM start-up, with the agent, that is the jimage
 * reader and {@code JarURLConnection} (some 60 classes) and their
 * interpreted code, for a resource that can only be in ummu.jar.
 *
 * <p>The jar is opened as the class path opens it (multi-release, for this
 * runtime's version), so a name resolves to the same versioned entry the
 * class loader would find; opening it again is cheap because the JDK shares
 * one open zip file per path among its {@code ZipFile}s.
 *
 * <p>Thread-safety: stateless.
 */
final class OwnJar {
    private OwnJar() {
    }

    /**
     * @param anchor a class whose jar holds the entries
     * @param entries entry names, e.g. {@code io/ummu/internal/X.class} (no leading slash)
     * @return the entries' bytes, in order, null for an entry the jar does not
     *     have; or null as a whole when {@code anchor} was not loaded from a
     *     local jar or the jar cannot be read (then the caller asks the class loader)
     */
    static byte[][] read(Class<?> anchor, String... entries) {
        CodeSource cs = anchor.getProtectionDomain().getCodeSource();
        URL where = cs == null ? null : cs.getLocation();
        if (where == null || !where.getProtocol().equals("file") || !where.getPath().endsWith(".jar")) {
            return null;
        }
        try (JarFile jar = new JarFile(new File(where.toURI()), false, ZipFile.OPEN_READ, Runtime.version())) {
            byte[][] out = new byte[entries.length][];
            for (int i = 0; i < entries.length; i++) {
                JarEntry e = jar.getJarEntry(entries[i]);
                if (e != null) {
                    try (InputStream in = jar.getInputStream(e)) {
                        out[i] = in.readAllBytes();
                    }
                }
            }
            return out;
        } catch (IOException | URISyntaxException | RuntimeException e) {
            // The class loader gets to try, and reports its own failure.
            return null;
        }
    }
}
