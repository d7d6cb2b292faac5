package io.ummu.agent;

import jdk.jfr.Category;
import jdk.jfr.DataAmount;
import jdk.jfr.Description;
import jdk.jfr.Enabled;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

import io.ummu.BufferEvent;

/** JFR events. Names are stable (io.ummu.*); each is disabled unless a recording enables it. */
final class JfrEvents {
    private JfrEvents() {
    }

    @Category({"ummu", "Off-heap memory"})
    @Enabled(false)
    @StackTrace(false)
    abstract static class Base extends Event {
        @Label("Kind")
        String kind;
        @Label("Buffer id")
        long bufferId;
        @Label("Address")
        long address;
        @Label("Size")
        @DataAmount
        long size;
        @Label("Start")
        long start;
        @Label("End")
        long end;
        @Label("Causes")
        String causes;
        @Label("Backend")
        String backend;
    }

    @Name("io.ummu.Unmapped")
    @Label("Buffer memory invalidated")
    @Description("The kernel invalidated (part of) a tracked off-heap buffer's range")
    static final class Unmapped extends Base {
    }

    @Name("io.ummu.Released")
    @Label("Buffer released")
    @Description("The JDK freed or unmapped a tracked off-heap buffer")
    static final class Released extends Base {
        @Label("Kernel confirmed unmap")
        boolean kernelUnmapped;
    }

    @Name("io.ummu.Dangling")
    @Label("Dangling buffer")
    @Description("Memory behind an off-heap buffer the JVM still considers live was unmapped or discarded")
    static final class Dangling extends Base {
        @Label("Allocating thread")
        String thread;
    }

    private static final Unmapped UNMAPPED_PROBE = new Unmapped();
    private static final Released RELEASED_PROBE = new Released();
    private static final Dangling DANGLING_PROBE = new Dangling();

    static void emit(BufferEvent ev) {
        Base e;
        switch (ev.type()) {
            case UNMAPPED:
                if (!UNMAPPED_PROBE.isEnabled()) {
                    return;
                }
                e = new Unmapped();
                break;
            case RELEASED:
                if (!RELEASED_PROBE.isEnabled()) {
                    return;
                }
                Released r = new Released();
                r.kernelUnmapped = ev.kernelUnmapped();
                e = r;
                break;
            default:
                if (!DANGLING_PROBE.isEnabled()) {
                    return;
                }
                Dangling d = new Dangling();
                d.thread = ev.buffer().allocatingThread();
                e = d;
                break;
        }
        e.kind = ev.buffer().kind().name();
        e.bufferId = ev.buffer().id();
        e.address = ev.buffer().address();
        e.size = ev.buffer().size();
        e.start = ev.start();
        e.end = ev.end();
        e.causes = ev.causes().toString();
        e.backend = ev.backend();
        e.commit();
    }
}
