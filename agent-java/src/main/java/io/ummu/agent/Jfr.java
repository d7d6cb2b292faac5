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

    /** Whether JfrEvents has been loaded, which registers the event types with JFR. */
    private static volatile boolean registered;

    private Jfr() {
    }

    static void emit(BufferEvent ev, boolean on) {
        if (!on || !AVAILABLE || broken) {
            return;
        }
        try {
            if (!registered) {
                // No recording can be running before JFR is initialised (a recording, jcmd
                // JFR.start or -XX:StartFlightRecording does that); until then, loading the
                // event classes would set up JFR's event machinery for events nobody records.
                // Types registered later still get the settings of the recordings running then.
                if (!jdk.jfr.FlightRecorder.isInitialized()) {
                    return;
                }
                registered = true;
            }
            JfrEvents.emit(ev);
        } catch (Throwable t) {
            broken = true;
            Log.warn("JFR events disabled: " + Log.brief(t));
        }
    }
}
