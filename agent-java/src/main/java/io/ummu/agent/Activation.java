package io.ummu.agent;

import java.lang.instrument.Instrumentation;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import io.ummu.Backend;
import io.ummu.BufferKind;
import io.ummu.MemoryNotifier;
import io.ummu.agent.bootstrap.UmmuHooks;

/** Everything after the bridge is on the bootstrap path (see {@link UmmuAgent} for why it is a separate class). */
final class Activation {
    private Activation() {
    }

    static void activate(Options o, Instrumentation inst, boolean late) {
        String[] why = new String[1];
        KernelSource src = openBackend(o, why);
        Tracker t = new Tracker(o, src);
        List<String> hooks;
        try {
            t.start();
            UmmuHooks.sink = t;
            hooks = Installer.install(inst, o);
        } catch (Throwable e) {
            UmmuHooks.sink = null;
            t.stop();
            try {
                src.close();
            } catch (RuntimeException ignored) {
                // already failing; the first error is the one to report
            }
            throw e;
        }
        if (!Installer.segmentsUsable) {
            t.disable(BufferKind.NATIVE_SEGMENT);
        }
        t.disable(BufferKind.JNI); // no hook yet (see Installer)
        AgentRuntime.tracker = t;
        List<String> skipped = new ArrayList<>();
        for (String h : hooks) {
            if (h.endsWith("skipped")) {
                skipped.add(h);
                Log.info(h);
                // A kind without its hook is not tracked, and the status line must not claim it.
                if (h.startsWith("hook " + Installer.DEALLOCATOR + " ")) {
                    t.disable(BufferKind.DIRECT);
                } else if (h.startsWith("hook " + Installer.UNMAPPER + " ")) {
                    t.disable(BufferKind.MAPPED);
                }
            } else {
                Log.debug(h);
            }
        }
        if (o.jmx) {
            Mx.registerWhenAsked(t, inst);
        }
        if (o.exitReport) {
            Runtime.getRuntime().addShutdownHook(new Thread(() -> ExitReport.print(t), "ummu-exit-report"));
        }
        // Concatenated, not String.format: a Formatter loads the locale machinery at JVM start-up.
        String line = "agent on (" + (late ? "attached late" : "premain") + "): backend " + src.name()
                + (src.choice() == null ? "" : " (" + src.choice() + ")")
                + ", tracking " + t.trackedKinds() + (o.minSize > 0 ? " >= " + o.minSize + " bytes" : "")
                + ", " + (hooks.size() - skipped.size()) + " of " + hooks.size() + " hooks in place";
        AgentRuntime.status = line + (why[0] == null ? "" : "; " + why[0]);
        Log.info(line);
        if (why[0] != null) {
            Log.info(why[0]);
        }
    }

    private static KernelSource openBackend(Options o, String[] why) {
        if ("jvm".equals(o.backend)) {
            why[0] = "kernel backend off (backend=jvm): only RELEASED events will be delivered";
            return new KernelSource.JvmOnly();
        }
        boolean auto = "auto".equals(o.backend);
        try {
            MemoryNotifier n = auto ? MemoryNotifier.open()
                    : MemoryNotifier.open(Backend.valueOf(o.backend.toUpperCase(Locale.ROOT)));
            // The first line says why this backend, unless it is simply the best one.
            String choice = auto ? n.backendChoice() : "set by the agent's option backend=" + o.backend;
            return new KernelSource.Notifier(n, "the first choice".equals(choice) ? null : choice);
        } catch (Throwable e) {
            why[0] = "no kernel backend (" + (e.getMessage() == null ? e.toString() : e.getMessage())
                    + (auto ? "" : "; set by the agent's option backend=" + o.backend)
                    + "): only RELEASED events will be delivered";
            return new KernelSource.JvmOnly();
        }
    }
}
