package io.ummu.jcstress;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE_INTERESTING;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import io.ummu.jcstress.support.EventRecord;
import io.ummu.jcstress.support.SimulatedBackend;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.III_Result;

/**
 * Control for {@link CounterFastPathTest}: the same protocol with a plain
 * store of the counter and a plain load, i.e. without the ordering ummu
 * relies on. The outcome that test forbids is merely interesting here. It
 * shows that the harness could tell the two apart; whether it actually shows
 * up depends on the hardware and the JIT: on x86 (TSO: stores are not
 * reordered with stores, loads not with loads) only a compiler reordering can
 * produce it, so it may never appear there; on Arm or POWER it does.
 */
@JCStressTest
@Description("Control for test 1: plain store and load; counter-moved-record-missing is allowed (may never show on x86, which is TSO)")
@Outcome(id = {"0, 0, 0", "0, 1, 0", "0, 0, 1", "0, 1, 1"}, expect = ACCEPTABLE,
        desc = "counter not moved yet; any part of the record may be visible")
@Outcome(id = "1, 1, 1", expect = ACCEPTABLE, desc = "counter moved and the whole record is visible")
@Outcome(id = {"1, 0, 0", "1, 1, 0", "1, 0, 1"}, expect = ACCEPTABLE_INTERESTING,
        desc = "counter moved but (part of) the record is missing: possible without release/acquire"
                + " (may never appear on x86, which is TSO)")
@Outcome(expect = FORBIDDEN, desc = "a torn value: an aligned 64-bit store was split")
@State
public class CounterFastPathPlainControlTest {
    private final SimulatedBackend backend = new SimulatedBackend();
    private final EventRecord record = new EventRecord();

    @Actor
    public void producer() {
        record.write();
        backend.counterSetPlain(1);
    }

    @Actor
    public void reader(III_Result r) {
        r.r1 = (int) backend.counterGetPlain();
        r.r2 = record.cookieSeen();
        r.r3 = record.hintEndSeen();
    }
}
