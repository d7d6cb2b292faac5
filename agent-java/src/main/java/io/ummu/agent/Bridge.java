package io.ummu.agent;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.instrument.Instrumentation;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.CodeSource;
import java.security.ProtectionDomain;
import java.util.Map;
import java.util.Set;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.jar.JarOutputStream;

/**
 * Defines the one bridge class ({@code io.ummu.agent.bootstrap.UmmuHooks}) in
 * the bootstrap class loader: see that class for why. Refers to it by name
 * only.
 *
 * <p>How: {@code jdk.internal.misc.Unsafe.defineClass} with a null loader,
 * which defines the class in the boot loader's unnamed module, as a jar
 * appended to the bootstrap class path would. The package is made
 * accessible to the agent with {@link Instrumentation#redefineModule}, the
 * documented way for an agent to change what a module exports. Why not
 * {@link Instrumentation#appendToBootstrapClassLoaderSearch}: once the
 * bootstrap class path has been appended, the JVM stops using its class-data
 * sharing archive for every class outside the boot loader ("Sharing is only
 * supported for boot loader classes because bootstrap classpath has been
 * appended"), and each of the application's classes is then parsed and
 * verified from its jar: about as much start-up time again as a hello world.
 * The append is kept as the fallback for a JDK without that method.
 *
 * <p>The cost of the export: the application's class path (the unnamed
 * module the agent is in) can from then on link against
 * {@code jdk.internal.misc}, as with {@code --add-exports
 * java.base/jdk.internal.misc=ALL-UNNAMED}.
 */
final class Bridge {
    static final String NAME = "io.ummu.agent.bootstrap.UmmuHooks";
    private static final String ENTRY = NAME.replace('.', '/') + ".class";
    private static final String INTERNAL_MISC = "jdk.internal.misc";

    /**
     * For the tests only: take the fallback path (append to the bootstrap
     * class path) as a JDK without {@code Unsafe.defineClass} would. Not an
     * option: undocumented on purpose.
     */
    private static final boolean APPEND_FOR_TEST = Boolean.getBoolean("ummu.test.bridgeByAppend");

    private Bridge() {
    }

    static void install(Instrumentation inst) throws IOException, ReflectiveOperationException {
        if (onBootPath()) {
            return; // a previous load of the agent did it
        }
        byte[] bytes = readBridge();
        Throwable why;
        try {
            if (APPEND_FOR_TEST) {
                throw new UnsupportedOperationException("ummu.test.bridgeByAppend=true");
            }
            defineInBootLoader(inst, bytes);
            why = null;
        } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
            why = e;
        }
        if (why != null) {
            if (onBootPath()) {
                // Defined after all (or by a concurrent load): the failure came after the define.
                Log.debug("bridge: " + Log.brief(why) + "; the class is in the boot loader anyway");
            } else {
                Log.info("bridge: Unsafe.defineClass unusable (" + Log.brief(why)
                        + "); appending it to the bootstrap class path (class-data sharing then covers boot classes only)");
                appendToBootPath(inst, bytes);
            }
        }
        // The agent's own references must resolve to the bootstrap copy
        // (the application class loader delegates to its parents first).
        Class<?> seen = Class.forName(NAME, false, Bridge.class.getClassLoader());
        if (seen.getClassLoader() != null) {
            throw new IllegalStateException(NAME + " resolves to a copy in " + seen.getClassLoader()
                    + " instead of the bootstrap class loader");
        }
    }

    /**
     * The bridge's class file, read straight from ummu.jar when the agent was
     * loaded from a jar: {@code ClassLoader.getResourceAsStream} asks the
     * parent loaders first, and for a package in no module they search every
     * module of the JDK's image, which costs a JVM start-up some 50 classes
     * and their time.
     */
    private static byte[] readBridge() throws IOException {
        CodeSource cs = Bridge.class.getProtectionDomain().getCodeSource();
        URL where = cs == null ? null : cs.getLocation();
        if (where != null && where.getProtocol().equals("file") && where.getPath().endsWith(".jar")) {
            try (JarFile jar = new JarFile(new File(where.toURI()), false)) {
                JarEntry e = jar.getJarEntry(ENTRY);
                if (e != null) {
                    try (InputStream in = jar.getInputStream(e)) {
                        return in.readAllBytes();
                    }
                }
            } catch (IOException | URISyntaxException | IllegalArgumentException e) {
                Log.debug("bridge: reading " + where + ": " + Log.brief(e) + "; trying the class loader");
            }
        }
        try (InputStream in = Bridge.class.getClassLoader().getResourceAsStream(ENTRY)) {
            if (in == null) {
                throw new IOException("resource " + ENTRY + " missing from the agent jar");
            }
            return in.readAllBytes();
        }
    }

    private static void defineInBootLoader(Instrumentation inst, byte[] bytes) throws ReflectiveOperationException {
        Module base = Object.class.getModule();
        Module agent = Bridge.class.getModule();
        if (!base.isExported(INTERNAL_MISC, agent)) {
            inst.redefineModule(base, Set.of(), Map.of(INTERNAL_MISC, Set.of(agent)), Map.of(), Set.of(), Map.of());
        }
        Class<?> unsafeClass = Class.forName(INTERNAL_MISC + ".Unsafe", false, null);
        // Method handles called with their exact types rather than Method.invoke: on JDK 18+
        // reflection spins method-handle adapters on a first call, tens of milliseconds at start-up.
        MethodHandles.Lookup lookup = MethodHandles.lookup();
        Object unsafe;
        Class<?> c;
        try {
            MethodHandle getUnsafe = lookup.findStatic(unsafeClass, "getUnsafe", MethodType.methodType(unsafeClass))
                    .asType(MethodType.methodType(Object.class));
            unsafe = (Object) getUnsafe.invokeExact();
            MethodHandle define = lookup.findVirtual(unsafeClass, "defineClass", MethodType.methodType(Class.class,
                    String.class, byte[].class, int.class, int.class, ClassLoader.class, ProtectionDomain.class))
                    .bindTo(unsafe);
            c = (Class<?>) define.invokeExact(NAME, bytes, 0, bytes.length, (ClassLoader) null,
                    (ProtectionDomain) null);
        } catch (ReflectiveOperationException | RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        if (c.getClassLoader() != null) {
            throw new IllegalStateException(NAME + " was defined by " + c.getClassLoader());
        }
    }

    private static void appendToBootPath(Instrumentation inst, byte[] bytes)
            throws IOException, ReflectiveOperationException {
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
