package io.ummu.agent;

import static net.bytebuddy.matcher.ElementMatchers.isConstructor;
import static net.bytebuddy.matcher.ElementMatchers.nameStartsWith;
import static net.bytebuddy.matcher.ElementMatchers.named;
import static net.bytebuddy.matcher.ElementMatchers.none;
import static net.bytebuddy.matcher.ElementMatchers.takesArgument;
import static net.bytebuddy.matcher.ElementMatchers.takesArguments;

import java.lang.instrument.Instrumentation;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import net.bytebuddy.agent.builder.AgentBuilder;
import net.bytebuddy.asm.Advice;
import net.bytebuddy.description.type.TypeDescription;
import net.bytebuddy.dynamic.ClassFileLocator;
import net.bytebuddy.dynamic.DynamicType;
import net.bytebuddy.matcher.ElementMatcher;
import net.bytebuddy.utility.JavaModule;

import io.ummu.BufferKind;

/**
 * Installs the hooks with Byte Buddy. Kept apart from {@link UmmuAgent} so
 * that no Byte Buddy class is loaded before the agent has set Byte Buddy's
 * safe-mode property.
 */
final class Installer {
    static final String DEALLOCATOR = "java.nio.DirectByteBuffer$Deallocator";
    static final String UNMAPPER = "sun.nio.ch.FileChannelImpl$Unmapper";
    /** Where native segment call sites are looked for, by shape (see SegmentCallSites). */
    static final String FOREIGN = "jdk.internal.foreign.";
    /** Nest hosts whose anonymous classes are loaded eagerly so that the hook is in place and can be reported. */
    static final String[] FOREIGN_HOSTS = {"jdk.internal.foreign.SegmentFactories",
        "jdk.internal.foreign.NativeMemorySegmentImpl"};

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
        Set<String> transformed = ConcurrentHashMap.newKeySet();
        List<String> errors = new ArrayList<>();
        ClassFileLocator locator = ClassFileLocator.ForClassLoader.of(Installer.class.getClassLoader());

        AgentBuilder.Listener listener = new AgentBuilder.Listener.Adapter() {
            @Override
            public void onTransformation(TypeDescription type, ClassLoader loader, JavaModule module, boolean loaded,
                                         DynamicType dynamicType) {
                transformed.add(type.getName());
            }

            @Override
            public void onError(String typeName, ClassLoader loader, JavaModule module, boolean loaded,
                                Throwable throwable) {
                synchronized (errors) {
                    errors.add(typeName + ": " + Log.brief(throwable));
                }
                Log.warn("hook on " + typeName + " not installed: " + Log.brief(throwable));
            }
        };

        AgentBuilder builder = new AgentBuilder.Default()
                .disableClassFormatChanges()
                .with(AgentBuilder.RedefinitionStrategy.RETRANSFORMATION)
                // One class per retransformation: a class the JVM refuses must not take the others with it.
                .with(AgentBuilder.RedefinitionStrategy.BatchAllocator.ForFixedSize.ofSize(1))
                .with(new AgentBuilder.RedefinitionStrategy.Listener.Adapter() {
                    @Override
                    public Iterable<? extends List<Class<?>>> onError(int index, List<Class<?>> batch,
                                                                     Throwable throwable, List<Class<?>> types) {
                        Log.warn("retransformation of " + batch + " refused: " + Log.brief(throwable));
                        return java.util.Collections.emptyList();
                    }
                })
                .with(AgentBuilder.InitializationStrategy.NoOp.INSTANCE)
                .with(AgentBuilder.TypeStrategy.Default.REDEFINE_FROZEN)
                .with(listener)
                // The targets are bootstrap classes, which Byte Buddy ignores by default.
                .ignore(none());

        boolean direct = o.kinds.contains(BufferKind.DIRECT);
        boolean mapped = o.kinds.contains(BufferKind.MAPPED);
        boolean directPresent = direct && present(DEALLOCATOR);
        boolean mappedPresent = mapped && present(UNMAPPER);
        boolean segment = o.kinds.contains(BufferKind.NATIVE_SEGMENT);
        if (directPresent) {
            builder = builder.type(named(DEALLOCATOR)).transform((b, type, loader, module, pd) -> b
                    .visit(Advice.to(Advices.DirectAllocated.class, locator)
                            .on(isConstructor().and(takesArguments(3)).and(takesArgument(0, long.class))
                                    .and(takesArgument(1, long.class))))
                    .visit(Advice.to(Advices.DirectFreed.class, locator).on(named("run").and(takesArguments(0)))));
        }
        if (mappedPresent) {
            builder = builder.type(named(UNMAPPER)).transform((b, type, loader, module, pd) -> b
                    .visit(Advice.to(Advices.Mapped.class, locator)
                            .on(isConstructor().and(takesArgument(0, long.class)).and(takesArgument(1, long.class))))
                    .visit(Advice.to(Advices.Unmapped.class, locator).on(named("unmap").and(takesArguments(0)))));
        }
        if (segment) {
            ElementMatcher.Junction<TypeDescription> foreign = new ElementMatcher.Junction.AbstractBase<>() {
                @Override
                public boolean matches(TypeDescription t) {
                    String n = t.getName();
                    return n.startsWith(FOREIGN) && n.indexOf('.', FOREIGN.length()) < 0;
                }
            };
            builder = builder.type(nameStartsWith(FOREIGN).and(foreign))
                    .transform((b, type, loader, module, pd) -> b.visit(new SegmentCallSites()));
        }
        if (segment) {
            // Loaded before installOn, so that each is retransformed in a batch
            // of its own. A host class already loaded (the notifier's counter is
            // a MemorySegment on 22+, which loads SegmentFactories) is
            // retransformed, and verifying it loads its anonymous cleanup class
            // inside the transformer, where Byte Buddy's circularity lock lets
            // that class through untransformed: no release call site.
            loadForeignHosts();
        }
        builder.installOn(inst);

        List<String> report = new ArrayList<>();
        if (direct) {
            report.add(check(DEALLOCATOR, "direct buffers", transformed));
        }
        if (mapped) {
            report.add(check(UNMAPPER, "mapped buffers and segments", transformed));
        }
        if (segment) {
            report.add(checkSegments());
        }
        if (o.kinds.contains(BufferKind.JNI)) {
            // Memory wrapped by NewDirectByteBuffer belongs to native code and is never freed by the
            // JDK: there is no release hook to pair with, so the kind is accepted but not tracked yet.
            report.add("hook java.nio.DirectByteBuffer(long, long|int) (JNI NewDirectByteBuffer): not"
                    + " implemented in this version, skipped");
        }
        return report;
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
     * Reports the outcome for the candidate classes, loaded (without
     * initialising them) before installOn so that their call sites are
     * rewritten by then; classes loaded later are rewritten when they load.
     */
    private static String checkSegments() {
        int found = loadForeignHosts();
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

    /** @return how many of FOREIGN_HOSTS exist; loads them and their first nested classes */
    private static int loadForeignHosts() {
        int found = 0;
        for (String host : FOREIGN_HOSTS) {
            if (load(host)) {
                found++;
                for (int i = 1; i < 16; i++) {
                    load(host + "$" + i);
                }
            }
        }
        return found;
    }

    private static boolean load(String name) {
        try {
            Class.forName(name, false, null);
            return true;
        } catch (ClassNotFoundException | LinkageError e) {
            return false;
        }
    }
}
