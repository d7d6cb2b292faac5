package io.ummu.agent;

import java.lang.management.ManagementFactory;

import javax.management.ObjectName;

/** Registers {@link AgentMXBean}; a JVM without JMX just goes without. */
final class Mx implements AgentMXBean {
    static final String NAME = "io.ummu:type=Agent";

    private final Tracker t;

    private Mx(Tracker t) {
        this.t = t;
    }

    static void register(Tracker t) {
        try {
            ManagementFactory.getPlatformMBeanServer().registerMBean(new Mx(t), new ObjectName(NAME));
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
