package io.ummu.agent;

/** The agent's counters as JMX attributes, under {@code io.ummu:type=Agent}. */
public interface AgentMXBean {
    String getBackend();

    int getLiveBuffers();

    long getTracked();

    long getReleased();

    long getReleasedWithKernelUnmap();

    long getUnmapped();

    long getDangling();

    long getWatchFailures();

    long getListenerErrors();

    String getStatus();
}
