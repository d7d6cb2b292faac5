package io.ummu.jcstress;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import io.ummu.MemoryNotifier;
import io.ummu.jcstress.support.EventRecord;
import io.ummu.jcstress.support.SimulatedBackend;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.III_Result;

/**
 * Test 1: the counter fast path on off-heap memory.
 *
 * <p>The producer does what a backend does: it writes an event record
 * (plain stores into a direct buffer), then bumps the 64-bit counter of the
 * counter page with a release store. The reader does what a user of ummu
 * does: {@link MemoryNotifier#generationAcquire()} (ummu's own code, over the
 * simulated counter page of {@link SimulatedBackend}), then looks at the record.
 * The record is written and read with plain accesses, as the backend's queue
 * is: the order can only come from the counter's release/acquire pair.
 *
 * <p>Result: (generation, cookie there, hint end there), each 1 when seen, 0
 * when not yet, -1 for a torn value. Once the reader sees generation 1 the
 * whole record must be visible: anything else is a false negative of the
 * fast path (a drain() would come back empty and the stale registration
 * would be used).
 */
@JCStressTest
@Description("Test 1: counter published with a release store, read with ummu's generationAcquire(): no counter-moved-record-missing")
@Outcome(id = "0, 0, 0", expect = ACCEPTABLE, desc = "counter not moved yet, record not visible yet")
@Outcome(id = {"0, 1, 0", "0, 0, 1"}, expect = ACCEPTABLE,
        desc = "counter not moved yet, part of the record already visible (plain stores, no order among them)")
@Outcome(id = "0, 1, 1", expect = ACCEPTABLE, desc = "counter not moved yet, record already visible")
@Outcome(id = "1, 1, 1", expect = ACCEPTABLE, desc = "counter moved and the whole record is visible")
@Outcome(expect = FORBIDDEN,
        desc = "counter moved but (part of) the record is missing, or a torn value: a false negative of the fast path")
@State
public class CounterFastPathTest {
    private final SimulatedBackend backend = new SimulatedBackend();
    private final MemoryNotifier notifier = backend.open();
    private final EventRecord record = new EventRecord();

    @Actor
    public void producer() {
        record.write();
        backend.counterSetRelease(1);
    }

    @Actor
    public void reader(III_Result r) {
        r.r1 = (int) notifier.generationAcquire();
        r.r2 = record.cookieSeen();
        r.r3 = record.hintEndSeen();
    }
}
