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
 * The agent's hook-record queue ({@link RecordQueue}), its slots: two producers each
 * offer one record, the second then drains as the consumer (the dispatcher's
 * role) while the first may still be offering; the arbiter drains the rest.
 * (Two actors: three would not be scheduled on the 2-CPU machines the bounded
 * run targets.)
 *
 * <p>The ring has two slots, both free for a second lap (two records were
 * queued and taken first), so each producer writes its record into a slot
 * with a plain store of the address word and publishes it with a release
 * store of the size word (which carries the record's lap) while the consumer
 * may be reading that slot: the consumer
 * must take every record exactly once, with every field as written (a field
 * read before its publication would show the first lap's value), the two
 * earlier ones first. {@code RecordQueueOverflowTest} is the same with the
 * ring full.
 *
 * <p>Result: (records the consumer's drain took, 1 if all four records were
 * taken exactly once, intact, the queued two first, the producers' two in the
 * order of the sequence numbers their offers returned, else -1).
 */
@JCStressTest
@Description("RecordQueue, free slots: records handed from two producers to the consumer through the slots, each exactly once and intact")
@Outcome(id = "3, 1", expect = ACCEPTABLE, desc = "the other producer's record was numbered after the drain began")
@Outcome(id = "4, 1", expect = ACCEPTABLE, desc = "the other producer's record was numbered before the drain began")
@Outcome(expect = FORBIDDEN, desc = "a record lost, taken twice, out of order, or with a field not as written")
@State
public class RecordQueueHandOffTest {
    private final RecordQueueHarness h = new RecordQueueHarness();
    /** The sequence numbers offer() gave each producer's record: the order the consumer must take them in. */
    private long seqA = -1;
    private long seqB = -1;

    public RecordQueueHandOffTest() {
        h.q.drain(h.sink); // taken: both slots are free for the producers' records (a second lap)
    }

    @Actor
    public void producerA() {
        seqA = h.offerA();
    }

    @Actor
    public void producerBThenConsumer(II_Result r) {
        seqB = h.offerB();
        r.r1 = h.q.drain(h.sink) + 2; // the only consumer while the actors run: taken is its own; + the first lap's two
    }

    @Arbiter
    public void arbiter(II_Result r) {
        h.q.drain(h.sink);
        r.r2 = h.takenAsOffered(seqA, seqB) ? 1 : -1;
    }
}
