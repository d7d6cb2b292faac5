package io.ummu.agent;

import java.lang.instrument.Instrumentation;

/**
 * The {@code -javaagent} entry point (manifest Premain-Class and
 * Agent-Class). premain and agentmain share one method; the JDK
 * classes to hook are already loaded either way, so the hooks are applied by
 * retransformation.
 *
 * <p>This class must stay free of references to the bridge
 * ({@code io.ummu.agent.bootstrap.UmmuHooks}) and to the classes that extend
 * it: verifying it must not load any of them, because the bridge has to be
 * defined in the boot loader before anything resolves it (or the application
 * class loader would define its own copy from ummu.jar).
 *
 * <p>Fail open: any Throwable ends up as one line on stderr saying what is
 * off; the application then runs as it would without the agent.
 */
public final class UmmuAgent {
    private static boolean started; // guarded by UmmuAgent.class

    private UmmuAgent() {
    }

    public static void premain(String args, Instrumentation inst) {
        start(args, inst, false);
    }

    public static void agentmain(String args, Instrumentation inst) {
        start(args, inst, true);
    }

    private static synchronized void start(String args, Instrumentation inst, boolean late) {
        String stage = "reading options";
        try {
            Options o = Options.parse(args, System.getenv(), System.getProperties());
            Log.level = o.logLevel;
            for (String w : o.warnings) {
                Log.warn(w);
            }
            if (!o.enabled) {
                Log.info("agent disabled by option enabled=false; nothing is tracked");
                AgentRuntime.status = "disabled by option enabled=false";
                return;
            }
            if (started) {
                Log.info("agent already running; this load (" + (late ? "late attach" : "-javaagent")
                        + ") changes nothing");
                return;
            }
            stage = "checking the JVM";
            if (!inst.isRetransformClassesSupported()) {
                throw new IllegalStateException("this JVM cannot retransform classes"
                        + " (the manifest of ummu.jar asks for Can-Retransform-Classes)");
            }
            stage = "defining the bridge class in the boot loader";
            Bridge.install(inst);
            stage = "starting";
            Activation.activate(o, inst, late);
            started = true;
        } catch (Throwable t) {
            AgentRuntime.status = "ummu agent off: " + stage + " failed: " + Log.brief(t);
            Log.error("agent off, the application runs without it: " + stage + " failed: " + Log.brief(t));
            if (Log.on(Log.DEBUG)) {
                t.printStackTrace();
            }
        }
    }
}
