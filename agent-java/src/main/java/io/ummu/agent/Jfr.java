package io.ummu.agent;

import io.ummu.BufferEvent;

/**
 * Emits {@link JfrEvents} when JFR exists in this runtime (a jlinked image may
 * lack jdk.jfr). The events are disabled by default ({@code @Enabled(false)});
 * enable them in a JFR settings file or with
 * {@code jcmd <pid> JFR.start settings=... } ({@code io.ummu.Unmapped#enabled=true}).
 */
final class Jfr {
    private static final boolean AVAILABLE;

    static {
        boolean ok;
        try {
            Class.forName("jdk.jfr.Event", false, Jfr.class.getClassLoader());
            ok = true;
        } catch (Throwable t) {
            ok = false;
        }
        AVAILABLE = ok;
    }

    private static volatile boolean broken;

    private Jfr() {
    }

    static void emit(BufferEvent ev, boolean on) {
        if (!on || !AVAILABLE || broken) {
            return;
        }
        try {
            JfrEvents.emit(ev);
        } catch (Throwable t) {
            broken = true;
            Log.warn("JFR events disabled: " + Log.brief(t));
        }
    }
}
