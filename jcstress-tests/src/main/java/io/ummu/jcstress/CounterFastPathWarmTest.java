package io.ummu.jcstress;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import io.ummu.MemoryNotifier;
import io.ummu.jcstress.support.EventRecord;
import io.ummu.jcstress.support.SimulatedBackend;
import java.util.concurrent.atomic.AtomicLong;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.III_Result;

/**
 * Test 1 again, on one notifier shared by every sample of the JVM: the fast
 * path as the JIT compiles it for an application.
 *
 * <p>{@link CounterFastPathTest} opens a notifier per @State, so each sample
 * has a new hidden class and its {@code generationAcquire()} runs once,
 * through a call site that sees a new class every time: the constant load
 * of a warmed, inlined call is never what it tests. Here the notifier (one
 * hidden class) is static: the reader's call site sees only that class, and
 * once jcstress compiles the actor loop the call is inlined and the counter
 * is loaded from a constant address, which is the code under test (checked
 * with {@code -XX:+PrintInlining} under C2 on JDK 25: the reader's
 * {@code MemoryNotifier$Constant/0x...::generationAcquire} "inline (hot)",
 * and {@code CounterPage::getAcquire} inside it).
 *
 * <p>On x86 this test cannot tell the acquire load from a plain one: loads
 * are not reordered with loads there, so only a compiler reordering could
 * show, and with the template's load made plain it still passed (every
 * mode, C2's stress flags included). On Arm or POWER it can.
 *
 * <p>The counter can then only rise across samples: state {@code i} (numbered
 * from 1 as the states are made) has its own record; its producer writes
 * that record with plain stores, then stores generation {@code i} with a
 * release store. Only that producer ever stores {@code i}, so a reader that
 * loads exactly {@code i} with {@code generationAcquire()} must see the whole
 * record of state {@code i}. A counter of another state says nothing about
 * this one's record and counts as "not this state's generation".
 *
 * <p>Result: (generation i seen, cookie there, hint end there), each 1 when
 * seen, 0 when not, -1 for a torn value.
 */
@JCStressTest
@Description("Test 1 on one warmed notifier (constant load, inlined): generation i seen -> state i's record visible")
@Outcome(id = {"0, 0, 0", "0, 1, 0", "0, 0, 1", "0, 1, 1"}, expect = ACCEPTABLE,
        desc = "another generation seen (earlier or later state); any part of this state's record may be visible")
@Outcome(id = "1, 1, 1", expect = ACCEPTABLE, desc = "this state's generation seen and its whole record visible")
@Outcome(expect = FORBIDDEN,
        desc = "this state's generation seen but (part of) its record missing, or a torn value: a false negative")
@State
public class CounterFastPathWarmTest {
    private static final SimulatedBackend BACKEND = new SimulatedBackend();
    /** Never closed: lives as long as the test's JVM, so its class is the only one the reader sees. */
    private static final MemoryNotifier NOTIFIER = BACKEND.open();
    private static final AtomicLong STATES = new AtomicLong();

    private final long generation = STATES.incrementAndGet();
    private final EventRecord record = new EventRecord();

    @Actor
    public void producer() {
        record.write();
        BACKEND.counterSetRelease(generation);
    }

    @Actor
    public void reader(III_Result r) {
        long g = NOTIFIER.generationAcquire();
        r.r2 = record.cookieSeen();
        r.r3 = record.hintEndSeen();
        r.r1 = g == generation ? 1 : 0;
    }
}
