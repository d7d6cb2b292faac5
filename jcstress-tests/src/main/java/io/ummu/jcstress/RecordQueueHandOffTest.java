package io.ummu.jcstress;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import java.util.ArrayList;
import java.util.List;

import io.ummu.agent.RecordQueue;
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
 * with plain stores and publishes it with a release store of the slot's
 * sequence word while the consumer may be reading that slot: the consumer
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
    private final RecordQueue q = new RecordQueue(2);
    private final List<long[]> taken = new ArrayList<>();
    private final List<Object> refs = new ArrayList<>();
    /** The sequence numbers offer() gave each producer's record: the order the consumer must take them in. */
    private long seqA = -1;
    private long seqB = -1;
    private final RecordQueue.Sink sink = (op, kind, address, size, time, ref) -> {
        taken.add(new long[] {op, kind, address, size, time});
        refs.add(ref);
    };

    public RecordQueueHandOffTest() {
        q.offer(1, 1, 0x1000, 1, 10, null);
        q.offer(1, 1, 0x2000, 2, 20, null);
        q.drain(sink); // taken: both slots are free for the producers' records (a second lap)
    }

    @Actor
    public void producerA() {
        seqA = q.offer(0, 2, 0xA000, 0xA1, 0xA2, "a");
    }

    @Actor
    public void producerBThenConsumer(II_Result r) {
        seqB = q.offer(2, 3, 0xB000, 0xB1, 0xB2, null);
        r.r1 = q.drain(sink) + 2; // the only consumer while the actors run: taken is its own; + the first lap's two
    }

    @Arbiter
    public void arbiter(II_Result r) {
        q.drain(sink);
        r.r2 = check() ? 1 : -1;
    }

    private boolean check() {
        if (taken.size() != 4) { // the two of the first lap, then the producers' two
            return false;
        }
        if (!same(taken.get(0), 1, 1, 0x1000, 1, 10) || refs.get(0) != null
                || !same(taken.get(1), 1, 1, 0x2000, 2, 20) || refs.get(1) != null) {
            return false;
        }
        int a = -1;
        int b = -1;
        for (int i = 2; i < 4; i++) {
            long[] t = taken.get(i);
            if (same(t, 0, 2, 0xA000, 0xA1, 0xA2) && "a".equals(refs.get(i)) && a < 0) {
                a = i;
            } else if (same(t, 2, 3, 0xB000, 0xB1, 0xB2) && refs.get(i) == null && b < 0) {
                b = i;
            } else {
                return false;
            }
        }
        // Taken in the order offer() numbered them (the queue's sequence numbers
        // start at 0, so a record's place in taken is its number), not merely both.
        return a >= 0 && b >= 0 && a == seqA && b == seqB;
    }

    private static boolean same(long[] t, long op, long kind, long address, long size, long time) {
        return t[0] == op && t[1] == kind && t[2] == address && t[3] == size && t[4] == time;
    }
}
