package io.ummu.jcstress.support;

import java.util.ArrayList;
import java.util.List;

import io.ummu.agent.RecordQueue;

/**
 * What the two RecordQueue proofs share: a queue of two slots, whose first
 * lap carries two records of known content, a sink that keeps what the
 * consumer took, and the check of the four records taken.
 */
public final class RecordQueueHarness {
    public final RecordQueue q = new RecordQueue(2);
    private final List<long[]> taken = new ArrayList<>();
    private final List<Object> refs = new ArrayList<>();
    public final RecordQueue.Sink sink = (op, kind, address, size, ref) -> {
        taken.add(new long[] {op, kind, address, size});
        refs.add(ref);
    };

    /** Queues the first lap's two records. */
    public RecordQueueHarness() {
        q.offer(1, 1, 0x1000, 1, null);
        q.offer(1, 1, 0x2000, 2, null);
    }

    /** Producer A's record. */
    public long offerA() {
        return q.offer(0, 2, 0xA000, 0xA1, "a");
    }

    /** Producer B's record. */
    public long offerB() {
        return q.offer(2, 3, 0xB000, 0xB1, null);
    }

    /**
     * @param seqA the number offer() gave producer A's record
     * @param seqB the same for producer B's
     * @return true if the four records were taken exactly once, intact, the first
     *     lap's two first, then the producers' two in the order they were numbered
     */
    public boolean takenAsOffered(long seqA, long seqB) {
        if (taken.size() != 4) {
            return false;
        }
        if (!same(taken.get(0), 1, 1, 0x1000, 1) || refs.get(0) != null
                || !same(taken.get(1), 1, 1, 0x2000, 2) || refs.get(1) != null) {
            return false;
        }
        int a = -1;
        int b = -1;
        for (int i = 2; i < 4; i++) {
            long[] t = taken.get(i);
            if (same(t, 0, 2, 0xA000, 0xA1) && "a".equals(refs.get(i)) && a < 0) {
                a = i;
            } else if (same(t, 2, 3, 0xB000, 0xB1) && refs.get(i) == null && b < 0) {
                b = i;
            } else {
                return false;
            }
        }
        // Taken in the order offer() numbered them (the queue's sequence numbers
        // start at 0, so a record's place in taken is its number), not merely both.
        return a >= 0 && b >= 0 && a == seqA && b == seqB;
    }

    private static boolean same(long[] t, long op, long kind, long address, long size) {
        return t[0] == op && t[1] == kind && t[2] == address && t[3] == size;
    }
}
