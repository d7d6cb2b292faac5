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
 * Test 2a: {@link MemoryNotifier#changedSince(long)} and
 * {@link MemoryNotifier#drain()} of the real notifier never give a false
 * negative, while the backend ({@link SimulatedBackend}) queues an event
 * concurrently.
 *
 * <p>The consumer runs the documented polling loop once: load the counter,
 * drain, remember {@link Drain#generation()}. The arbiter, after both actors,
 * asks {@code changedSince(remembered)} and drains only if it says yes, as a
 * user would. The event must come out exactly once over the two drains.
 *
 * <p>What this pins down in the notifier: the generation a drain reports must
 * be loaded before its read of the backend (or taken from the LAST record).
 * Loaded after, it can include an event queued between the read and the load:
 * the drain returns nothing, claims the caller is up to date, and the arbiter's
 * {@code changedSince} says no: the event is lost for good.
 *
 * <p>Result: (counter the consumer saw, events its drain returned, events the
 * arbiter's conditional drain returned); -1 in place of a count for an event
 * that does not describe the unmap.
 */
@JCStressTest
@Description("Test 2a: counter load + drain() + changedSince(generation) of the real notifier: no false negative, no duplicate")
@Outcome(id = "0, 0, 1", expect = ACCEPTABLE,
        desc = "consumer ran before the event; changedSince(its generation) was true and the arbiter got it")
@Outcome(id = "0, 1, 0", expect = ACCEPTABLE,
        desc = "the event was queued between the consumer's counter load and its drain: the drain got it")
@Outcome(id = "1, 1, 0", expect = ACCEPTABLE, desc = "consumer saw the counter move and its drain got the event")
@Outcome(id = {"1, 0, 0", "1, 0, 1"}, expect = FORBIDDEN,
        desc = "counter moved but the drain that followed was empty: a false negative of the fast path")
@Outcome(id = "0, 0, 0", expect = FORBIDDEN,
        desc = "event lost: the drain's generation claimed it was seen, so changedSince said no")
@Outcome(expect = FORBIDDEN, desc = "an event handed out twice, or one that does not describe the unmap")
@State
public class DrainGenerationTest {
    private final SimulatedBackend backend = new SimulatedBackend();
    private final MemoryNotifier notifier = backend.open();
    private final long start = Region.fresh(1);
    private final Watch watch = notifier.watch(start, Region.PAGE);
    private long remembered;

    @Actor
    public void producer() {
        backend.invalidate(start, start + Region.PAGE);
    }

    @Actor
    public void consumer(III_Result r) {
        long g = notifier.generationAcquire();
        Drain d = notifier.drain();
        remembered = d.generation();
        r.r1 = (int) g;
        r.r2 = count(d);
    }

    @Arbiter
    public void arbiter(III_Result r) {
        r.r3 = notifier.changedSince(remembered) ? count(notifier.drain()) : 0;
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
