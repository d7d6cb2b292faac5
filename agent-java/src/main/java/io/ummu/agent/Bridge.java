package io.ummu.agent;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.instrument.Instrumentation;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.CodeSource;
import java.util.Map;
import java.util.Set;
import java.util.function.BiFunction;
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
 * appended to the bootstrap class path would. Why not
 * {@link Instrumentation#appendToBootstrapClassLoaderSearch}: once the
 * bootstrap class path has been appended, the JVM stops using its class-data
 * sharing archive for every class outside the boot loader ("Sharing is only
 * supported for boot loader classes because bootstrap classpath has been
 * appended"), and each of the application's classes is then parsed and
 * verified from its jar: about as much start-up time again as a hello world.
 * The append is kept as the fallback for a JDK where the define fails.
 *
 * <p>Who gets access to {@code jdk.internal.misc}: not the agent. The agent's
 * classes are in the application class loader's unnamed module, the module of
 * the whole class path, so exporting the package to the agent would export it
 * to every class of the application (as {@code --add-exports
 * java.base/jdk.internal.misc=ALL-UNNAMED} does). Instead one small class,
 * {@code io.ummu.agent.definer.BootDefiner}, is defined from its bytes in
 * ummu.jar in a class loader made for it alone (parent: the bootstrap loader,
 * no class path), {@link Instrumentation#redefineModule} exports the package
 * to that loader's unnamed module only, and the agent calls the class through
 * {@link BiFunction}. The loader and the class are unreachable once the bridge
 * is defined; nothing else can ever be defined in that module.
 */
final class Bridge {
    static final String NAME = "io.ummu.agent.bootstrap.UmmuHooks";
    private static final String ENTRY = NAME.replace('.', '/') + ".class";
    /** Defined only in a {@link DefinerLoader}; by name only, so that the agent's own loader never loads it. */
    static final String DEFINER = "io.ummu.agent.definer.BootDefiner";
    private static final String DEFINER_ENTRY = DEFINER.replace('.', '/') + ".class";
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
        byte[][] read = readClasses(ENTRY, DEFINER_ENTRY);
        byte[] bytes = read[0];
        Throwable why;
        try {
            if (APPEND_FOR_TEST) {
                throw new UnsupportedOperationException("ummu.test.bridgeByAppend=true");
            }
            defineInBootLoader(inst, bytes, read[1]);
            why = null;
        } catch (RuntimeException | LinkageError e) {
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
     * The class files named (bridge, definer), read straight from ummu.jar when the agent was
     * loaded from a jar: {@code ClassLoader.getResourceAsStream} asks the
     * parent loaders first, and for a package in no module they search every
     * module of the JDK's image, which costs a JVM start-up some 50 classes
     * and their time.
     */
    private static byte[][] readClasses(String... entries) throws IOException {
        byte[][] bytes = new byte[entries.length][];
        CodeSource cs = Bridge.class.getProtectionDomain().getCodeSource();
        URL where = cs == null ? null : cs.getLocation();
        if (where != null && where.getProtocol().equals("file") && where.getPath().endsWith(".jar")) {
            try (JarFile jar = new JarFile(new File(where.toURI()), false)) {
                for (int i = 0; i < entries.length; i++) {
                    JarEntry e = jar.getJarEntry(entries[i]);
                    if (e != null) {
                        try (InputStream in = jar.getInputStream(e)) {
                            bytes[i] = in.readAllBytes();
                        }
                    }
                }
            } catch (IOException | URISyntaxException | IllegalArgumentException e) {
                Log.debug("bridge: reading " + where + ": " + Log.brief(e) + "; trying the class loader");
            }
        }
        for (int i = 0; i < entries.length; i++) {
            if (bytes[i] == null) {
                try (InputStream in = Bridge.class.getClassLoader().getResourceAsStream(entries[i])) {
                    if (in == null) {
                        throw new IOException("resource " + entries[i] + " missing from the agent jar");
                    }
                    bytes[i] = in.readAllBytes();
                }
            }
        }
        return bytes;
    }

    /**
     * Defines the bridge with a {@code BootDefiner} alone in its own loader:
     * only that loader's unnamed module gets {@code jdk.internal.misc}.
     */
    private static void defineInBootLoader(Instrumentation inst, byte[] bridge, byte[] definerBytes) {
        Class<?> definer = new DefinerLoader().define(definerBytes);
        inst.redefineModule(Object.class.getModule(), Set.of(), Map.of(INTERNAL_MISC, Set.of(definer.getModule())),
                Map.of(), Set.of(), Map.of());
        BiFunction<String, byte[], Class<?>> define;
        try {
            // A method handle rather than Constructor.newInstance: on JDK 18+ core reflection
            // spins method-handle adapters on a first call, milliseconds at start-up.
            @SuppressWarnings("unchecked")
            BiFunction<String, byte[], Class<?>> f = (BiFunction<String, byte[], Class<?>>) MethodHandles.lookup()
                    .findConstructor(definer, MethodType.methodType(void.class))
                    .asType(MethodType.methodType(BiFunction.class)).invokeExact();
            define = f;
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t.toString(), t);
        }
        Class<?> c = define.apply(NAME, bridge);
        if (c.getClassLoader() != null) {
            throw new IllegalStateException(NAME + " was defined by " + c.getClassLoader());
        }
    }

    /**
     * The one-class loader of the {@code BootDefiner}: parent the bootstrap
     * loader (the definer references {@code java.base} only), no class path,
     * nothing else ever defined in it.
     */
    private static final class DefinerLoader extends ClassLoader {
        DefinerLoader() {
            super("ummu-bridge-definer", null);
        }

        Class<?> define(byte[] bytes) {
            return defineClass(DEFINER, bytes, 0, bytes.length);
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
