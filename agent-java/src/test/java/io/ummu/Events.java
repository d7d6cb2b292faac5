package io.ummu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/** Waiting for kernel events in tests: bounded retries, never a timing assertion. */
final class Events {
    private Events() {
    }

    /**
     * Drains until an invalidation of {@code w} arrives, running {@code nudge}
     * (e.g. System.gc()) before each wait; fails after about a minute.
     *
     * @return everything drained, in order
     */
    static List<Invalidation> until(MemoryNotifier n, Watch w, Runnable nudge) {
        List<Invalidation> got = new ArrayList<>();
        for (int i = 0; i < 1200; i++) {
            if (nudge != null) {
                nudge.run();
            }
            n.await(Duration.ofMillis(50));
            got.addAll(n.drain().invalidations());
            if (got.stream().anyMatch(inv -> inv.watch() == w)) {
                return got;
            }
        }
        return fail("no invalidation of " + w + " arrived; got " + got);
    }

    /** The single invalidation of {@code w} among {@code got}. */
    static Invalidation only(List<Invalidation> got, Watch w) {
        List<Invalidation> mine = got.stream().filter(i -> i.watch() == w).collect(Collectors.toList());
        assertEquals(1, mine.size(), "one coalesced event per watch per drain: " + got);
        return mine.get(0);
    }
}
