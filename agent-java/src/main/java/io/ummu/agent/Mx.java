package io.ummu.agent;

import java.lang.instrument.Instrumentation;
import java.lang.management.ManagementFactory;
import java.util.function.Consumer;

import javax.management.MBeanServer;
import javax.management.ObjectName;

/** Registers {@link AgentMXBean}; a JVM without JMX just goes without. */
final class Mx implements AgentMXBean {
    static final String NAME = "io.ummu:type=Agent";

    private final Tracker t;

    private Mx(Tracker t) {
        this.t = t;
    }

    /**
     * Registers the MBean the first time anyone asks for the platform MBean
     * server (see {@link Installer#hookPlatformMBeanServer}), or now if
     * {@code java.management} is in use already.
     */
    static void registerWhenAsked(Tracker t, Instrumentation inst) {
        boolean hooked;
        try {
            hooked = Installer.hookPlatformMBeanServer(inst, new Registration(t));
        } catch (Throwable e) {
            Log.debug("MBean " + NAME + ": no hook on the platform MBean server (" + Log.brief(e)
                    + "), registering now");
            hooked = false;
        }
        if (!hooked) {
            register(t, null);
        }
    }

    /** A class, not a lambda: a lambda costs JVM start-up a class spun at run time. */
    private static final class Registration implements Consumer<Object> {
        private final Tracker t;

        Registration(Tracker t) {
            this.t = t;
        }

        @Override
        public void accept(Object server) {
            register(t, (MBeanServer) server);
        }
    }

    private static void register(Tracker t, MBeanServer server) {
        try {
            (server == null ? ManagementFactory.getPlatformMBeanServer() : server)
                    .registerMBean(new Mx(t), new ObjectName(NAME));
        } catch (Throwable e) {
            Log.warn("MBean " + NAME + " not registered: " + Log.brief(e));
        }
    }

    @Override
    public String getBackend() {
        return t.backendName();
    }

    @Override
    public int getLiveBuffers() {
        return t.liveCount();
    }

    @Override
    public long getTracked() {
        return t.stats.tracked;
    }

    @Override
    public long getReleased() {
        return t.stats.released;
    }

    @Override
    public long getReleasedWithKernelUnmap() {
        return t.stats.releasedWithUnmap;
    }

    @Override
    public long getUnmapped() {
        return t.stats.unmapped;
    }

    @Override
    public long getDangling() {
        return t.stats.dangling;
    }

    @Override
    public long getWatchFailures() {
        return t.stats.watchFailures;
    }

    @Override
    public long getListenerErrors() {
        return t.stats.listenerErrors;
    }

    @Override
    public String getStatus() {
        return AgentRuntime.status;
    }
}
