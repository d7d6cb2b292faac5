package io.ummu.jcstress.device;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import io.ummu.Backend;
import io.ummu.Drain;
import io.ummu.Invalidation;
import io.ummu.MemoryNotifier;
import io.ummu.Watch;
import io.ummu.jcstress.support.Pages;
import java.nio.MappedByteBuffer;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.III_Result;

/**
 * Test 1's protocol against the real {@code /dev/ummunotify} counter page.
 * Needs the module: it runs in the VM (jcstress-tests/run-in-vm.sh); without
 * the device every sample is an error, so run-bounded.sh leaves it out.
 *
 * <p>Each state has a notifier on {@link Backend#UMMUNOTIFY} to itself, watching
 * only its own page, so the counter moves only for that page; the state reports
 * whether it moved from the value it had when the state was made. Notifiers
 * come from a pool and go back, drained and without watches, in the arbiter:
 * opening and closing a file per sample would measure the module's
 * registration and teardown (an SRCU grace period each), not the protocol.
 * The producer unmaps the watched page
 * for real: the module queues the event, then bumps the counter with a release
 * store. The consumer loads the counter with
 * {@link MemoryNotifier#generationAcquire()}, then drains and remembers
 * {@link Drain#generation()}. The arbiter drains again only if
 * {@code changedSince(remembered)}, as a user would; the event must come out
 * exactly once.
 *
 * <p>Result: (counter the consumer saw, events of this watch its drain
 * returned, events the arbiter's conditional drain returned); the counter
 * is reported as 0 or 1 (moved), a foreign or malformed event counts 100.
 */
@JCStressTest
@Description("Test 1 on the real device: counter acquire, then drain; no false negative, no duplicate")
@Outcome(id = "0, 0, 1", expect = ACCEPTABLE,
        desc = "consumer ran before the unmap; changedSince(its generation) was true and the arbiter got it")
@Outcome(id = "0, 1, 0", expect = ACCEPTABLE,
        desc = "the event was queued between the consumer's counter load and its drain: the drain got it")
@Outcome(id = "1, 1, 0", expect = ACCEPTABLE, desc = "consumer saw the counter move and its drain got the event")
@Outcome(id = {"1, 0, 0", "1, 0, 1"}, expect = FORBIDDEN,
        desc = "counter moved but the drain that followed was empty: a false negative of the fast path")
@Outcome(id = "0, 0, 0", expect = FORBIDDEN, desc = "event lost")
@Outcome(expect = FORBIDDEN, desc = "a duplicate, a foreign or malformed event")
@State
public class DeviceCounterDrainTest {
    /** Quiescent notifiers: drained, no watch. As many as states were alive at once. */
    private static final ConcurrentLinkedQueue<MemoryNotifier> POOL = new ConcurrentLinkedQueue<>();

    private final MemoryNotifier notifier = take();
    private final long before = notifier.generationAcquire();
    private final MappedByteBuffer page = Pages.map();
    private final Watch watch = notifier.watch(page);
    private long remembered;

    private static MemoryNotifier take() {
        MemoryNotifier n = POOL.poll();
        return n != null ? n : MemoryNotifier.open(Backend.UMMUNOTIFY);
    }

    @Actor
    public void producer() {
        Pages.unmap(page);
    }

    @Actor
    public void consumer(III_Result r) {
        long g = notifier.generationAcquire();
        Drain d = notifier.drain();
        remembered = d.generation();
        // Moved or not: one munmap may reach the notifier more than once.
        r.r1 = g == before ? 0 : 1;
        r.r2 = count(d);
    }

    @Arbiter
    public void arbiter(III_Result r) {
        r.r3 = notifier.changedSince(remembered) ? count(notifier.drain()) : 0;
        watch.close();
        notifier.drain(); // nothing of this watch can come any more (Watch's contract): quiescent
        POOL.offer(notifier);
    }

    private int count(Drain d) {
        int n = 0;
        for (Invalidation inv : d.invalidations()) {
            long start = watch.address();
            long end = start + watch.length();
            // The unmap covers the whole watched page, exact or coalesced alike.
            n += inv.watch() == watch && inv.start() == start && inv.end() == end ? 1 : 100;
        }
        return n;
    }
}
