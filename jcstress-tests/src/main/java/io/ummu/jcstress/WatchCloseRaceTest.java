package io.ummu.jcstress;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import io.ummu.Drain;
import io.ummu.Invalidation;
import io.ummu.MemoryNotifier;
import io.ummu.Watch;
import io.ummu.jcstress.support.Region;
import io.ummu.jcstress.support.SimulatedBackend;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.IIII_Result;

/**
 * Test 4a: {@link Watch#close()} racing an invalidation of that watch, with
 * the events taken by {@link MemoryNotifier#drain()}.
 *
 * <p>The contract, from Watch's javadoc: once close() has returned (in any
 * thread), no invalidation of the watch is returned by drain() or given to a
 * listener, even one the backend reported before the close. Before that, it
 * is handed out at most once, and a drain that began before the close either
 * returns it or (the watch being closed meanwhile) drops it.
 *
 * <p>The real notifier over a simulated backend. One actor makes the backend
 * report an unmap of the watched page, then looks at a volatile flag the
 * closer sets once close() has returned, then drains. The other closes the
 * watch, sets the flag, and drains. The arbiter drains once more.
 *
 * <p>Result: (events the first actor's drain returned, 1 if that drain began
 * after close() had returned, events the closer's later drain returned,
 * events the arbiter's drain returned); -1 for an event that does not
 * describe the unmap.
 */
@JCStressTest
@Description("Test 4a: Watch.close() vs an invalidation, drain(): nothing handed out after close() returned, at most once before")
@Outcome(id = "1, 0, 0, 0", expect = ACCEPTABLE, desc = "the drain began before close() returned and got the event")
@Outcome(id = "0, 0, 0, 0", expect = ACCEPTABLE,
        desc = "the drain began before close() returned, but the watch was closed by the time the event was"
                + " handed out: dropped, as documented")
@Outcome(id = "0, 1, 0, 0", expect = ACCEPTABLE, desc = "the drain began after close() returned: nothing, as documented")
@Outcome(id = "1, 1, 0, 0", expect = FORBIDDEN,
        desc = "a drain that began after close() returned handed the closed watch's event out")
@Outcome(expect = FORBIDDEN,
        desc = "the closer's or the arbiter's drain (both after close() returned) handed the event out,"
                + " it was handed out twice, or it does not describe the unmap")
@State
public class WatchCloseRaceTest {
    private final SimulatedBackend backend = new SimulatedBackend();
    private final MemoryNotifier notifier = backend.open();
    private final long start = Region.fresh(1);
    private final Watch watch = notifier.watch(start, Region.PAGE);
    private volatile boolean closeReturned;

    @Actor
    public void producerThenDrain(IIII_Result r) {
        backend.invalidate(start, start + Region.PAGE);
        r.r2 = closeReturned ? 1 : 0;
        r.r1 = count(notifier.drain());
    }

    @Actor
    public void closer(IIII_Result r) {
        watch.close();
        closeReturned = true;
        r.r3 = count(notifier.drain());
    }

    @Arbiter
    public void arbiter(IIII_Result r) {
        r.r4 = count(notifier.drain());
    }

    private int count(Drain d) {
        int n = 0;
        for (Invalidation inv : d.invalidations()) {
            if (!SimulatedBackend.describes(inv, watch, start, start + Region.PAGE)) {
                return -1;
            }
            n++;
        }
        return n;
    }
}
