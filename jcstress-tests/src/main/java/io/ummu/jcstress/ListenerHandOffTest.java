package io.ummu.jcstress;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import io.ummu.Invalidation;
import io.ummu.InvalidationListener;
import io.ummu.jcstress.support.Listening;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.III_Result;

/**
 * Test 3: listener hand-off. A listener never sees a partially constructed
 * {@link Invalidation}, and neither does a thread it hands the event to
 * without any synchronization.
 *
 * <p>The real notifier with one {@link InvalidationListener} on ummu's
 * dispatcher thread, over a simulated backend (see {@link Listening}). The
 * producer makes the backend report an unmap of the state's watched page. The
 * listener checks the invalidation it is given (this watch, this page, exact,
 * cause UNMAP) and publishes it with a plain store; the reader actor loads it
 * with a plain load and checks it again. That racy read is safe only because
 * Invalidation is deeply immutable (a record of final fields, an unmodifiable
 * copy of the cause set): the test breaks if that changes. The arbiter waits
 * for the delivery (10 s limit).
 *
 * <p>Result: (what the reader saw: 0 nothing yet, 1 a complete event, -1 a
 * partial or wrong one; listener calls for the watch; what the listener saw:
 * 1 complete, -1 partial or wrong).
 */
@JCStressTest
@Description("Test 3: a listener, and a thread it hands the event to through a data race, never see a partial Invalidation")
@Outcome(id = "0, 1, 1", expect = ACCEPTABLE,
        desc = "not delivered yet when the reader looked; then delivered once, complete")
@Outcome(id = "1, 1, 1", expect = ACCEPTABLE, desc = "the reader saw the complete event; delivered once")
@Outcome(id = {"-1, 1, 1", "0, 1, -1", "1, 1, -1", "-1, 1, -1"}, expect = FORBIDDEN,
        desc = "a partial or wrong event, seen by the reader or by the listener")
@Outcome(id = {"0, 0, 0"}, expect = FORBIDDEN, desc = "never delivered within 10 s")
@Outcome(expect = FORBIDDEN, desc = "delivered twice, or anything else")
@State
public class ListenerHandOffTest {
    private final Listening.Probe probe = new Listening.Probe();

    @Actor
    public void producer() {
        probe.invalidate();
    }

    @Actor
    public void reader(III_Result r) {
        r.r1 = probe.check(probe.handedPlain);
    }

    @Arbiter
    public void arbiter(III_Result r) {
        probe.awaitDelivered();
        r.r2 = probe.delivered.get();
        r.r3 = probe.malformed.get() != 0 ? -1 : probe.check(probe.handedPlain);
        probe.retire();
    }
}
