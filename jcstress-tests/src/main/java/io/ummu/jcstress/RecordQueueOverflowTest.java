package io.ummu.jcstress;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import io.ummu.agent.RecordQueue;
import io.ummu.jcstress.support.RecordQueueHarness;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.II_Result;

/**
 * The agent's hook-record queue ({@link RecordQueue}), its overflow path: two producers each
 * offer one record, the second then drains as the consumer (the dispatcher's
 * role) while the first may still be offering; the arbiter drains the rest.
 * (Two actors: three would not be scheduled on the 2-CPU machines the bounded
 * run targets.)
 *
 * <p>The ring has two slots and starts full (two records queued, not taken),
 * so each producer's record goes either into a slot the consumer has just
 * freed (a plain store of the address word published by a release store of
 * the size word, which carries the record's lap) or, if the consumer has not said yet that it took the slot's last
 * record, onto the overflow stack; the consumer must take every record
 * exactly once, with every field as written, the two queued first.
 *
 * <p>Result: (records the consumer's drain took, 1 if all four records were
 * taken exactly once, intact, the queued two first, the producers' two in the
 * order of the sequence numbers their offers returned, else -1).
 */
@JCStressTest
@Description("RecordQueue, full ring: records handed from two producers to the consumer through the overflow (or a slot freed meanwhile), each exactly once and intact")
@Outcome(id = "3, 1", expect = ACCEPTABLE, desc = "the other producer's record was numbered after the drain began")
@Outcome(id = "4, 1", expect = ACCEPTABLE, desc = "the other producer's record was numbered before the drain began")
@Outcome(expect = FORBIDDEN, desc = "a record lost, taken twice, out of order, or with a field not as written")
@State
public class RecordQueueOverflowTest {
    private final RecordQueueHarness h = new RecordQueueHarness();
    /** The sequence numbers offer() gave each producer's record: the order the consumer must take them in. */
    private long seqA = -1;
    private long seqB = -1;

    @Actor
    public void producerA() {
        seqA = h.offerA();
    }

    @Actor
    public void producerBThenConsumer(II_Result r) {
        seqB = h.offerB();
        r.r1 = h.q.drain(h.sink); // the only consumer while the actors run: taken is its own
    }

    @Arbiter
    public void arbiter(II_Result r) {
        h.q.drain(h.sink);
        r.r2 = h.takenAsOffered(seqA, seqB) ? 1 : -1;
    }
}
