package io.ummu.agent;

import java.util.EnumMap;
import java.util.Map;

import io.ummu.BufferKind;

/** The optional report at JVM exit (option exitReport=true). */
final class ExitReport {
    private ExitReport() {
    }

    static void print(Tracker t) {
        Map<BufferKind, long[]> byKind = new EnumMap<>(BufferKind.class);
        for (Entry e : t.liveBuffers()) {
            long[] c = byKind.computeIfAbsent(e.kind, k -> new long[2]);
            c[0]++;
            c[1] += e.size;
        }
        Tracker.Stats s = t.stats;
        StringBuilder b = new StringBuilder();
        b.append("exit report: backend ").append(t.backendName())
                .append(", tracked ").append(s.tracked)
                .append(", released ").append(s.released).append(" (").append(s.releasedWithUnmap)
                .append(" with kernel-confirmed unmap)")
                .append(", unmapped events ").append(s.unmapped)
                .append(", DANGLING ").append(s.dangling)
                .append(", watch failures ").append(s.watchFailures)
                .append(", listener errors ").append(s.listenerErrors)
                .append("; live at exit:");
        if (byKind.isEmpty()) {
            b.append(" none");
        }
        for (Map.Entry<BufferKind, long[]> e : byKind.entrySet()) {
            b.append(' ').append(e.getKey()).append(' ').append(e.getValue()[0]).append(" (")
                    .append(e.getValue()[1]).append(" bytes)");
        }
        System.err.println("[ummu] " + b);
    }
}
