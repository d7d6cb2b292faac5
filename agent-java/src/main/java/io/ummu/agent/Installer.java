package io.ummu.agent;

import java.io.IOException;
import java.io.InputStream;
import java.lang.instrument.ClassFileTransformer;
import java.lang.instrument.Instrumentation;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.security.ProtectionDomain;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;

import net.bytebuddy.jar.asm.ClassReader;
import net.bytebuddy.jar.asm.ClassVisitor;
import net.bytebuddy.jar.asm.ClassWriter;
import net.bytebuddy.jar.asm.FieldVisitor;
import net.bytebuddy.jar.asm.MethodVisitor;
import net.bytebuddy.jar.asm.Opcodes;

import io.ummu.BufferKind;
import io.ummu.agent.bootstrap.UmmuHooks;

/**
 * Installs the hooks: a {@link ClassFileTransformer} that rewrites the few
 * fixed hook sites with ASM ({@link Advices}, {@link SegmentCallSites}), and
 * retransformation of the classes that are already loaded. Deliberately not
 * Byte Buddy's {@code AgentBuilder}: for three fixed sites it loaded about
 * 1,100 classes, which cost over a second of CPU at every JVM start; ASM's
 * reader and writer are about 30.
 *
 * <p>The transformer stays registered only while it may still have work:
 * while native segments are tracked (a {@code jdk.internal.foreign} class
 * loaded later is rewritten as it loads, although on JDK 25 only
 * {@code SegmentFactories} and {@code SegmentFactories$1}, both loaded here,
 * call {@code Unsafe.allocateMemory} or {@code freeMemory}), and until
 * {@code ManagementFactory} has been hooked and asked for the platform MBean
 * server ({@link #hookPlatformMBeanServer}). Every class load calls it then,
 * which returns at once for anything else (no difference measurable in the
 * start-up of a JVM loading 1,200 classes).
 */
final class Installer {
    static final String DEALLOCATOR = "java.nio.DirectByteBuffer$Deallocator";
    static final String UNMAPPER = "sun.nio.ch.FileChannelImpl$Unmapper";
    /** Where native segment call sites are looked for, by shape (see SegmentCallSites). */
    static final String FOREIGN = "jdk.internal.foreign.";
    /** Nest hosts whose anonymous classes are loaded eagerly so that the hook is in place and can be reported. */
    static final String[] FOREIGN_HOSTS = {"jdk.internal.foreign.SegmentFactories",
        "jdk.internal.foreign.NativeMemorySegmentImpl"};
    static final String MANAGEMENT_FACTORY = "java.lang.management.ManagementFactory";

    /** The registered transformer, or null. Guarded by Installer.class. */
    private static Weaver registered;

    private Installer() {
    }

    /**
     * For the tests only: a hook target class to treat as absent, so that the
     * path a JDK without it takes (one line, the other hooks unaffected) runs
     * on JDKs that have it. Not an option: undocumented on purpose.
     */
    static final String ABSENT_FOR_TEST = System.getProperty("ummu.test.absentHookClass", "");

    /** False when the segment hook found only one half of its call sites: then segments are not tracked. */
    static volatile boolean segmentsUsable = true;

    /** @return one line per hook saying whether it is in place */
    static List<String> install(Instrumentation inst, Options o) {
        boolean direct = o.kinds.contains(BufferKind.DIRECT);
        boolean mapped = o.kinds.contains(BufferKind.MAPPED);
        boolean segment = o.kinds.contains(BufferKind.NATIVE_SEGMENT);
        // Loaded before the transformer is added, so that their hooks go in by
        // retransformation, which leaves a class as it was if the JVM refuses the new bytes.
        boolean directPresent = direct && present(DEALLOCATOR);
        boolean mappedPresent = mapped && present(UNMAPPER);

        Weaver weaver = new Weaver(directPresent, mappedPresent, segment);
        List<String> report = new ArrayList<>();
        inst.addTransformer(weaver, true);
        boolean keep = false;
        try {
            if (directPresent) {
                retransform(inst, weaver, find(DEALLOCATOR));
            }
            if (mappedPresent) {
                retransform(inst, weaver, find(UNMAPPER));
            }
            if (segment) {
                // Late attach (or a JDK that uses FFM itself early): rewrite what is loaded already;
                // checkSegments then loads the rest, which the transformer rewrites as it loads.
                for (Class<?> c : inst.getAllLoadedClasses()) {
                    if (c.getClassLoader() == null && isForeign(c.getName()) && inst.isModifiableClass(c)
                            && mayHaveSegmentSites(c)) {
                        retransform(inst, weaver, c);
                    }
                }
            }
            if (direct) {
                report.add(check(DEALLOCATOR, "direct buffers", weaver.transformed));
            }
            if (mapped) {
                report.add(check(UNMAPPER, "mapped buffers and segments", weaver.transformed));
            }
            if (segment) {
                report.add(checkSegments());
                keep = segmentsUsable;
            }
        } finally {
            synchronized (Installer.class) {
                if (keep) {
                    registered = weaver;
                } else {
                    inst.removeTransformer(weaver);
                }
            }
        }
        if (o.kinds.contains(BufferKind.JNI)) {
            // Memory wrapped by NewDirectByteBuffer belongs to native code and is never freed by the
            // JDK: there is no release hook to pair with, so the kind is accepted but not tracked yet.
            report.add("hook java.nio.DirectByteBuffer(long, long|int) (JNI NewDirectByteBuffer): not"
                    + " implemented in this version, skipped");
        }
        return report;
    }

    /**
     * Makes {@code ManagementFactory.getPlatformMBeanServer()} run
     * {@code register} with the server the first time it returns, so that the
     * agent's MBean is there for whoever looks (a JMX client, jconsole through
     * the attach mechanism, the application) without building the platform
     * MBean server (about 500 classes and 0.1-0.2 s of CPU) in a JVM nobody
     * monitors.
     *
     * @return false if {@code ManagementFactory} is loaded already: its
     *         platform MBean server may exist, so the caller registers now
     */
    static synchronized boolean hookPlatformMBeanServer(Instrumentation inst, Consumer<Object> register) {
        UmmuHooks.onPlatformMBeanServer = new ServerAsked(inst, register);
        Weaver w = registered;
        if (w == null) {
            w = new Weaver(false, false, false);
        }
        w.management = true;
        if (w != registered) {
            inst.addTransformer(w, true);
            registered = w;
        }
        if (!w.seen.contains(MANAGEMENT_FACTORY) && loaded(inst, MANAGEMENT_FACTORY)) {
            UmmuHooks.onPlatformMBeanServer = null;
            managementDone(inst);
            return false;
        }
        return true;
    }

    /** A class, not a lambda: a lambda costs JVM start-up a class spun at run time. */
    private static final class ServerAsked implements Consumer<Object> {
        private final Instrumentation inst;
        private final Consumer<Object> register;

        ServerAsked(Instrumentation inst, Consumer<Object> register) {
            this.inst = inst;
            this.register = register;
        }

        @Override
        public void accept(Object server) {
            try {
                register.accept(server);
            } finally {
                managementDone(inst);
            }
        }
    }

    /** The MBean hook has done its work (or is not wanted): drop the transformer unless segments need it. */
    private static synchronized void managementDone(Instrumentation inst) {
        Weaver w = registered;
        if (w != null) {
            w.management = false;
            if (!w.segments) {
                inst.removeTransformer(w);
                registered = null;
            }
        }
    }

    private static boolean loaded(Instrumentation inst, String name) {
        for (Class<?> c : inst.getAllLoadedClasses()) {
            if (c.getName().equals(name) && c.getClassLoader() == null) {
                return true;
            }
        }
        return false;
    }

    /** One class per retransformation: a class the JVM refuses must not take the others with it. */
    private static void retransform(Instrumentation inst, Weaver weaver, Class<?> c) {
        if (c == null || weaver.seen.contains(c.getName())) {
            return; // absent, or rewritten as it loaded
        }
        try {
            inst.retransformClasses(c);
        } catch (Throwable t) {
            weaver.refused(c.getName());
            Log.warn("retransformation of [" + c + "] refused: " + Log.brief(t));
        }
    }

    /**
     * Whether the class file of an already loaded {@code jdk.internal.foreign}
     * class, as the runtime image holds it, names {@code allocateMemory} or
     * {@code freeMemory}: only such a class can have a call site to wrap.
     * Retransforming one redefines it even when the transformer leaves it as
     * it was, a VM operation that walks every loaded class; on JDK 22+ the
     * agent's own FFM use (the counter page) has loaded nine such classes
     * before this runs, one or two of which have call sites. True when the
     * class file cannot be read, so that the transformer decides.
     */
    static boolean mayHaveSegmentSites(Class<?> c) {
        String entry = c.getName().replace('.', '/') + ".class";
        // Class files are never encapsulated, so the module hands out its own.
        try (InputStream in = c.getModule().getResourceAsStream(entry)) {
            if (in == null) {
                return true;
            }
            // Latin-1 maps each byte to one char: a search of the raw constant pool.
            String text = new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
            return text.contains("allocateMemory") || text.contains("freeMemory");
        } catch (IOException | RuntimeException e) {
            return true;
        }
    }

    private static boolean isForeign(String name) {
        return name.startsWith(FOREIGN) && name.indexOf('.', FOREIGN.length()) < 0;
    }

    /** Rewrites the hook sites of the bootstrap classes it is asked about; leaves every other class alone. */
    static final class Weaver implements ClassFileTransformer {
        private static final String DEALLOCATOR_INTERNAL = DEALLOCATOR.replace('.', '/');
        private static final String UNMAPPER_INTERNAL = UNMAPPER.replace('.', '/');
        private static final String FOREIGN_INTERNAL = FOREIGN.replace('.', '/');

        private static final String MANAGEMENT_INTERNAL = MANAGEMENT_FACTORY.replace('.', '/');

        private final boolean direct;
        private final boolean mapped;
        final boolean segments;
        /** Whether ManagementFactory is to be hooked (see hookPlatformMBeanServer). */
        volatile boolean management;
        /** Binary names of the classes this transformer has been shown. */
        final Set<String> seen = ConcurrentHashMap.newKeySet();
        /** Binary names of the classes whose hook it wove. */
        final Set<String> transformed = ConcurrentHashMap.newKeySet();
        /**
         * The segment call sites woven per class, {allocation, release}: what
         * {@link #refused} takes back out of SegmentCallSites' totals when the
         * JVM turns the woven class down after the transformer returned.
         */
        private final Map<String, int[]> segmentSitesByClass = new ConcurrentHashMap<>();

        Weaver(boolean direct, boolean mapped, boolean segments) {
            this.direct = direct;
            this.mapped = mapped;
            this.segments = segments;
        }

        @Override
        public byte[] transform(ClassLoader loader, String name, Class<?> redefined, ProtectionDomain pd,
                                byte[] bytes) {
            if (loader != null || name == null) {
                return null;
            }
            try {
                byte[] out;
                if (direct && name.equals(DEALLOCATOR_INTERNAL)) {
                    out = hook(bytes, name, UmmuHooks.DIRECT, "run", 3);
                } else if (mapped && name.equals(UNMAPPER_INTERNAL)) {
                    out = hook(bytes, name, UmmuHooks.MAPPED, "unmap", -1);
                } else if (segments && name.startsWith(FOREIGN_INTERNAL)
                        && name.indexOf('/', FOREIGN_INTERNAL.length()) < 0) {
                    out = segmentSites(bytes, name.replace('/', '.'));
                } else if (management && name.equals(MANAGEMENT_INTERNAL)) {
                    out = managementHook(bytes);
                } else {
                    return null;
                }
                String binary = name.replace('/', '.');
                seen.add(binary);
                if (out != null) {
                    transformed.add(binary);
                }
                return out;
            } catch (Throwable t) {
                Log.warn("hook on " + name.replace('/', '.') + " not installed: " + Log.brief(t));
                if (management && name.equals(MANAGEMENT_INTERNAL)) {
                    // Without the hook, register as soon as ManagementFactory, loading now, can be used.
                    Thread th = new Thread(() -> UmmuHooks.platformMBeanServer(
                            ManagementFactory.getPlatformMBeanServer()), "ummu-mbean");
                    th.setDaemon(true);
                    th.start();
                }
                return null;
            }
        }

        private static byte[] managementHook(byte[] bytes) {
            ClassReader r = new ClassReader(bytes);
            ClassWriter w = new ClassWriter(r, 0);
            int[] found = new int[1];
            r.accept(new ClassVisitor(Opcodes.ASM9, w) {
                @Override
                public MethodVisitor visitMethod(int access, String name, String descriptor, String signature,
                                                 String[] exceptions) {
                    MethodVisitor mv = super.visitMethod(access, name, descriptor, signature, exceptions);
                    if (name.equals("getPlatformMBeanServer") && descriptor.equals("()Ljavax/management/MBeanServer;")
                            && (access & Opcodes.ACC_STATIC) != 0) {
                        found[0]++;
                        return new Advices.ServerReturned(mv);
                    }
                    return mv;
                }
            }, 0);
            if (found[0] != 1) {
                throw new IllegalStateException("no static getPlatformMBeanServer()");
            }
            return w.toByteArray();
        }

        /**
         * The allocation hook on the constructor taking (long address, long
         * size, ...) (with exactly {@code ctorArgs} arguments unless -1), the
         * release hook on {@code release()}, which must read a long field
         * {@code address}. All three must be there, or the class is left alone.
         */
        private static byte[] hook(byte[] bytes, String owner, int kind, String release, int ctorArgs) {
            ClassReader r = new ClassReader(bytes);
            ClassWriter w = new ClassWriter(r, 0);
            int[] found = new int[3]; // constructors, release methods, address fields
            r.accept(new ClassVisitor(Opcodes.ASM9, w) {
                @Override
                public FieldVisitor visitField(int access, String name, String descriptor, String signature,
                                               Object value) {
                    if (name.equals("address") && descriptor.equals("J") && (access & Opcodes.ACC_STATIC) == 0) {
                        found[2]++;
                    }
                    return super.visitField(access, name, descriptor, signature, value);
                }

                @Override
                public MethodVisitor visitMethod(int access, String name, String descriptor, String signature,
                                                 String[] exceptions) {
                    MethodVisitor mv = super.visitMethod(access, name, descriptor, signature, exceptions);
                    if (name.equals("<init>") && descriptor.startsWith("(JJ")
                            && (ctorArgs < 0 || argumentCount(descriptor) == ctorArgs)) {
                        found[0]++;
                        return new Advices.Allocated(mv, kind);
                    }
                    if (name.equals(release) && descriptor.equals("()V") && (access & Opcodes.ACC_STATIC) == 0
                            && found[2] == 1) {
                        found[1]++;
                        return new Advices.Released(mv, owner, kind);
                    }
                    return mv;
                }
            }, ClassReader.EXPAND_FRAMES);
            if (found[0] != 1 || found[1] != 1) {
                throw new IllegalStateException("expected one constructor (long, long, ...) and one " + release
                        + "() reading a long field address; found " + found[0] + " and " + found[1]);
            }
            return w.toByteArray();
        }

        private static int argumentCount(String descriptor) {
            int n = 0;
            for (int i = 1; descriptor.charAt(i) != ')'; i++, n++) {
                char c = descriptor.charAt(i);
                while (c == '[') {
                    c = descriptor.charAt(++i);
                }
                if (c == 'L') {
                    i = descriptor.indexOf(';', i);
                }
            }
            return n;
        }

        /** @return the class with its Unsafe call sites wrapped, or null if it has none */
        private byte[] segmentSites(byte[] bytes, String binaryName) {
            ClassReader r = new ClassReader(bytes);
            ClassWriter w = new ClassWriter(r, 0);
            SegmentCallSites sites = new SegmentCallSites(w);
            r.accept(sites, 0);
            if (!sites.changed) {
                return null;
            }
            byte[] out = w.toByteArray();
            SegmentCallSites.ALLOCATION_SITES.addAndGet(sites.allocationSites);
            SegmentCallSites.RELEASE_SITES.addAndGet(sites.releaseSites);
            int[] before = segmentSitesByClass.put(binaryName, new int[] {sites.allocationSites, sites.releaseSites});
            if (before != null) { // woven again (a retransformation): count its sites once
                SegmentCallSites.ALLOCATION_SITES.addAndGet(-before[0]);
                SegmentCallSites.RELEASE_SITES.addAndGet(-before[1]);
            }
            return out;
        }

        /**
         * The JVM refused the bytes woven for this class (retransformClasses
         * threw): the class runs as it was, so neither its hook nor its
         * segment call sites count.
         */
        void refused(String binaryName) {
            transformed.remove(binaryName);
            int[] sites = segmentSitesByClass.remove(binaryName);
            if (sites != null) {
                SegmentCallSites.ALLOCATION_SITES.addAndGet(-sites[0]);
                SegmentCallSites.RELEASE_SITES.addAndGet(-sites[1]);
            }
        }
    }

    private static boolean present(String target) {
        return !target.equals(ABSENT_FOR_TEST) && load(target);
    }

    private static String check(String target, String what, Set<String> transformed) {
        if (!present(target)) {
            return "hook " + target + " (" + what + "): class not present on this JDK, skipped";
        }
        return transformed.contains(target) ? "hook " + target + " (" + what + "): installed"
                : "hook " + target + " (" + what + "): NOT installed (see the warning above), skipped";
    }

    /**
     * Loads the candidate classes (without initialising them) while the
     * transformer is registered, so that their call sites are rewritten now
     * and the outcome can be reported.
     */
    private static String checkSegments() {
        int found = 0;
        for (String host : FOREIGN_HOSTS) {
            if (load(host)) {
                found++;
                for (int i = 1; i < 16; i++) {
                    load(host + "$" + i);
                }
            }
        }
        int a = SegmentCallSites.ALLOCATION_SITES.get();
        int f = SegmentCallSites.RELEASE_SITES.get();
        if (found == 0) {
            segmentsUsable = false;
            return "hook jdk.internal.foreign (native segments): no FFM implementation in this runtime, skipped";
        }
        if (a == 0 || f == 0) {
            segmentsUsable = false;
            return "hook jdk.internal.foreign (native segments): found " + a + " allocation and " + f
                    + " release call sites of Unsafe; need both, skipped";
        }
        return "hook jdk.internal.foreign (native segments): installed (" + a + " allocation, " + f
                + " release call sites)";
    }

    private static boolean load(String name) {
        return find(name) != null;
    }

    /** Loads (without initialising) a bootstrap class. @return it, or null if absent */
    private static Class<?> find(String name) {
        try {
            return Class.forName(name, false, null);
        } catch (ClassNotFoundException | LinkageError e) {
            return null;
        }
    }
}
