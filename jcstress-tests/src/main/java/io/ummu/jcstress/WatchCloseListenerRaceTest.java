package io.ummu.jcstress;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import io.ummu.Watch;
import io.ummu.jcstress.support.Listening;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.III_Result;

/**
 * Test 4b: {@link Watch#close()} racing an invalidation of that watch, with
 * the events delivered to a listener (the dispatcher's side of the close
 * barrier).
 *
 * <p>Contract as in {@link WatchCloseRaceTest}: once close() has returned, the
 * listener is never called for the watch; before, at most once. The real
 * notifier with a listener over a simulated backend (see {@link Listening}).
 * One actor makes the backend report an unmap of the watched page and then of
 * a second, sentinel watch's page; the other closes the watch and then sets a
 * volatile flag that the listener checks when it is called. The backend's
 * queue is FIFO and the dispatcher delivers in order, so once the sentinel's
 * event is delivered, the watch's event has been delivered or dropped: the
 * arbiter waits for the sentinel (10 s limit), so a late delivery is judged
 * too.
 *
 * <p>Result: (listener calls for the watch, -1 if one did not describe the
 * unmap; calls made although close() had returned; calls for the sentinel).
 */
@JCStressTest
@Description("Test 4b: Watch.close() vs an invalidation, listener: no call after close() returned, at most one before")
@Outcome(id = "1, 0, 1", expect = ACCEPTABLE, desc = "delivered once, before close() returned")
@Outcome(id = "0, 0, 1", expect = ACCEPTABLE, desc = "closed first: the event was dropped, as documented")
@Outcome(id = {"1, 1, 1", "2, 1, 1", "2, 2, 1"}, expect = FORBIDDEN,
        desc = "the listener was called for the watch after its close() had returned")
@Outcome(id = {"0, 0, 0", "1, 0, 0"}, expect = FORBIDDEN, desc = "the sentinel was not delivered within 10 s")
@Outcome(expect = FORBIDDEN, desc = "delivered twice, or a wrong event")
@State
public class WatchCloseListenerRaceTest {
    private final Listening.Probe probe = new Listening.Probe();
    private final Listening.Probe sentinel = new Listening.Probe();

    @Actor
    public void producer() {
        probe.invalidate();
        sentinel.invalidate();
    }

    @Actor
    public void closer() {
        probe.close();
    }

    @Arbiter
    public void arbiter(III_Result r) {
        sentinel.awaitDelivered();
        r.r1 = probe.malformed.get() != 0 ? -1 : probe.delivered.get();
        r.r2 = probe.deliveredAfterClose.get();
        r.r3 = sentinel.delivered.get();
        probe.retire();
        sentinel.retire();
    }
}
