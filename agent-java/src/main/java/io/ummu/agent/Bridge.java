package io.ummu.agent;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.instrument.Instrumentation;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.jar.JarOutputStream;

/**
 * Puts the one bridge class ({@code io.ummu.agent.bootstrap.UmmuHooks}) on the
 * bootstrap class path: see that class for why. Refers to it by name only.
 */
final class Bridge {
    static final String NAME = "io.ummu.agent.bootstrap.UmmuHooks";
    private static final String ENTRY = NAME.replace('.', '/') + ".class";

    private Bridge() {
    }

    static void install(Instrumentation inst) throws IOException, ReflectiveOperationException {
        if (onBootPath()) {
            return; // a previous load of the agent did it
        }
        byte[] bytes;
        try (InputStream in = Bridge.class.getClassLoader().getResourceAsStream(ENTRY)) {
            if (in == null) {
                throw new IOException("resource " + ENTRY + " missing from the agent jar");
            }
            bytes = in.readAllBytes();
        }
        Path jar;
        try {
            jar = Files.createTempFile("ummu-bootstrap-", ".jar",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        } catch (IOException | UnsupportedOperationException e) {
            throw new IOException("cannot create a temporary file in java.io.tmpdir="
                    + System.getProperty("java.io.tmpdir") + " (" + Log.brief(e)
                    + "); point -Djava.io.tmpdir at a writable directory", e);
        }
        try {
            try (OutputStream os = Files.newOutputStream(jar); JarOutputStream jos = new JarOutputStream(os)) {
                jos.putNextEntry(new JarEntry(ENTRY));
                jos.write(bytes);
                jos.closeEntry();
            }
            inst.appendToBootstrapClassLoaderSearch(new JarFile(jar.toFile()));
            // Load it now, while the file exists; the JVM keeps the jar open.
            Class<?> c = Class.forName(NAME, true, null);
            if (c.getClassLoader() != null) {
                throw new IllegalStateException(NAME + " was defined by " + c.getClassLoader());
            }
        } finally {
            try {
                Files.deleteIfExists(jar);
            } catch (IOException e) {
                jar.toFile().deleteOnExit();
            }
        }
        // The agent's own references must resolve to the bootstrap copy
        // (the application class loader delegates to its parents first).
        Class<?> seen = Class.forName(NAME, false, Bridge.class.getClassLoader());
        if (seen.getClassLoader() != null) {
            throw new IllegalStateException(NAME + " resolves to a copy in " + seen.getClassLoader()
                    + " instead of the bootstrap class path");
        }
    }

    private static boolean onBootPath() {
        try {
            Class.forName(NAME, false, null);
            return true;
        } catch (ClassNotFoundException e) {
            return false;
        }
    }
}
