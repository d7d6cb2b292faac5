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
import org.openjdk.jcstress.infra.results.III_Result;

/**
 * Test 2b: concurrent {@link MemoryNotifier#drain()} calls hand every event
 * out exactly once (the notifier reuses one native read buffer and keeps
 * events read for listeners; both must stay consistent under concurrent
 * drains).
 *
 * <p>One actor makes the backend ({@link SimulatedBackend}) queue an
 * invalidation and then drains; the other drains concurrently; the arbiter
 * drains once more. The first actor's drain began after the event was queued,
 * so either it or the concurrent drain must have returned it: the arbiter
 * finding it, or nobody, is a lost event.
 *
 * <p>Result: (events the producer's drain returned, events the concurrent
 * drain returned, events the arbiter's drain returned); -1 for an event that
 * does not describe the unmap.
 */
@JCStressTest
@Description("Test 2b: concurrent drain() calls of the real notifier hand each event out exactly once")
@Outcome(id = "1, 0, 0", expect = ACCEPTABLE, desc = "the producer's own drain got the event")
@Outcome(id = "0, 1, 0", expect = ACCEPTABLE, desc = "the concurrent drain got the event first")
@Outcome(id = "0, 0, 1", expect = FORBIDDEN,
        desc = "a drain that began after the event was queued returned nothing, and no concurrent drain had it")
@Outcome(id = "0, 0, 0", expect = FORBIDDEN, desc = "event lost")
@Outcome(expect = FORBIDDEN, desc = "an event handed out twice, or one that does not describe the unmap")
@State
public class DrainExactlyOnceTest {
    private final SimulatedBackend backend = new SimulatedBackend();
    private final MemoryNotifier notifier = backend.open();
    private final long start = Region.fresh(1);
    private final Watch watch = notifier.watch(start, Region.PAGE);

    @Actor
    public void producerThenDrain(III_Result r) {
        backend.invalidate(start, start + Region.PAGE);
        r.r1 = count(notifier.drain());
    }

    @Actor
    public void drain(III_Result r) {
        r.r2 = count(notifier.drain());
    }

    @Arbiter
    public void arbiter(III_Result r) {
        r.r3 = count(notifier.drain());
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
