package io.ummu.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The hooks' record queue: slots, laps, overflow and order, with real threads.
 * A broken queue tends to make a drain wait for a record that never comes:
 * the time limit turns that into a failure instead of a hung build.
 */
@Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class RecordQueueTest {
    /** One taken record. */
    private static final class Got {
        final int op;
        final int kind;
        final long address;
        final long size;
        final Object ref;

        Got(int op, int kind, long address, long size, Object ref) {
            this.op = op;
            this.kind = kind;
            this.address = address;
            this.size = size;
            this.ref = ref;
        }
    }

    private static List<Got> drainAll(RecordQueue q) {
        List<Got> got = new ArrayList<>();
        q.drain((op, kind, a, s, r) -> got.add(new Got(op, kind, a, s, r)));
        return got;
    }

    @Test
    void capacityMustBeAPowerOfTwoOfAtLeastTwo() {
        for (int bad : new int[] {-4, 0, 1, 3, 12}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new RecordQueue(bad));
            assertTrue(e.getMessage().startsWith("capacity: " + bad), e.getMessage());
        }
    }

    @Test
    void everyFieldRoundTripsOverManyLapsOfASmallRing() {
        RecordQueue q = new RecordQueue(4);
        long n = 0;
        long taken = 0;
        // Batches of 0..4 records: the lap tags go around the ring
        // hundreds of times, at every offset.
        for (int round = 0; round < 1000; round++) {
            int batch = round % 5;
            for (int k = 0; k < batch; k++, n++) {
                assertEquals(n, q.offer((int) (n % 4), (int) (n % 32), 0x7f0000000000L + n, n * 7, "r" + n));
            }
            List<Got> got = drainAll(q);
            assertEquals(batch, got.size(), "round " + round);
            for (Got g : got) {
                long m = taken++;
                assertEquals(m % 4, g.op, "op of " + m);
                assertEquals(m % 32, g.kind, "kind of " + m);
                assertEquals(0x7f0000000000L + m, g.address, "address of " + m);
                assertEquals(m * 7, g.size, "size of " + m);
                assertEquals("r" + m, g.ref, "ref of " + m);
            }
            assertTrue(q.isEmpty());
            assertEquals(n, q.lvConsumerIndex());
        }
        assertEquals(0, q.overflowCount(), "a ring that is drained in time never overflows");
    }

    @Test
    void aFullRingTakesMoreWithoutWaitingAndGivesEverythingBackInOrder() {
        RecordQueue q = new RecordQueue(8);
        // Nobody drains: the ninth record onward finds its slot occupied.
        for (long n = 0; n < 100; n++) {
            q.offer(RecordQueue.OP_END, 1, n + 1, 0, null);
        }
        List<Got> got = drainAll(q);
        assertEquals(100, got.size());
        for (int n = 0; n < 100; n++) {
            assertEquals(n + 1, got.get(n).address, "record " + n);
        }
        assertEquals(92, q.overflowCount(), "all but one ring's worth overflowed");
        // The slots the overflowed records would have used were handed on: the ring works again.
        for (long n = 100; n < 120; n++) {
            q.offer(RecordQueue.OP_END, 1, n + 1, 0, null);
            got = drainAll(q);
            assertEquals(1, got.size());
            assertEquals(n + 1, got.get(0).address);
        }
        assertEquals(92, q.overflowCount(), "no overflow once the consumer keeps up");
    }

    /**
     * A slot packs the address into 56 bits and the size into 47: a record
     * with more (none in a Linux process, but the queue must not lose or
     * corrupt one) goes through the overflow as an object, in its place.
     */
    @Test
    void aRecordThatDoesNotFitASlotGoesWholeThroughTheOverflowInItsPlace() {
        RecordQueue q = new RecordQueue(16);
        long[][] records = {
            {0x7f0000001000L, 4096}, // fits
            {1L << 56, 1}, // address too wide
            {0x7f0000002000L, 8192},
            {-1L, 2}, // address too wide (and negative)
            {0x7f0000003000L, 1L << 47}, // size too wide
            {0x7f0000004000L, -1L}, // negative size
            {(1L << 56) - 1, (1L << 47) - 1}, // the widest that fit
            {Long.MIN_VALUE, Long.MAX_VALUE},
        };
        for (int lap = 0; lap < 3; lap++) {
            for (int n = 0; n < records.length; n++) {
                q.offer(n % 4, n, records[n][0], records[n][1], n % 2 == 0 ? "r" + n : null);
            }
            List<Got> got = drainAll(q);
            assertEquals(records.length, got.size(), "lap " + lap);
            for (int n = 0; n < records.length; n++) {
                Got g = got.get(n);
                assertEquals(n % 4, g.op, "op of " + n);
                assertEquals(n, g.kind, "kind of " + n);
                assertEquals(records[n][0], g.address, "address of " + n);
                assertEquals(records[n][1], g.size, "size of " + n);
                assertEquals(n % 2 == 0 ? "r" + n : null, g.ref, "ref of " + n);
            }
        }
        // Five records of eight do not fit, each lap; the ring itself never fills.
        assertEquals(15, q.overflowCount());
    }

    /**
     * A slot's size word carries the lap of its record, 16 bits of it; a
     * record number taken but not yet published must never be mistaken for
     * the slot's earlier content. In the first lap the slot holds 0 (the tag
     * of lap 0 is 1).
     */
    @Test
    void anUnpublishedRecordIsNotTakenForAnEmptySlot() {
        RecordQueue q = new RecordQueue(2);
        long hole = q.claimWithoutPublishing();
        assertEquals(0, q.drain((op, kind, a, s, r) -> { }, 1_000_000L), "nothing was published");
        assertEquals(hole, q.stuckAt());
    }

    /**
     * Nobody drains for 65536 laps: every record after the first lap goes
     * through the overflow and no slot is written again, so a slot still
     * holding its first-lap record would carry the tag of the record 65536
     * laps later (16 bits wrap). The consumer marks a slot with the tag of
     * each overflowed record it takes, so every record comes out once, as
     * offered, and the ring works again afterwards.
     */
    @Test
    void aSlotLeftUnwrittenFor65536LapsIsNotTakenForALaterRecord() {
        RecordQueue q = new RecordQueue(2);
        long n = 2L * 65536 + 4;
        for (long k = 0; k < n; k++) {
            q.offer(RecordQueue.OP_END, 1, k + 1, k, null);
        }
        long[] due = {0};
        int taken = q.drain((op, kind, a, s, r) -> {
            assertEquals(due[0] + 1, a, "address of record " + due[0]);
            assertEquals(due[0], s, "size of record " + due[0]);
            due[0]++;
        }, 1_000_000_000L);
        assertEquals(n, taken, "stuck at " + q.stuckAt());
        assertEquals(-1, q.stuckAt());
        for (long k = n; k < n + 10; k++) {
            q.offer(RecordQueue.OP_BEGIN, 2, k + 1, 7, null);
            List<Got> got = drainAll(q);
            assertEquals(1, got.size(), "record " + k);
            assertEquals(k + 1, got.get(0).address, "record " + k);
        }
    }

    /**
     * The consumer leaves a thread's name in the ring (one write fewer to a
     * shared line) and a producer stores the name only when the slot does not
     * hold it already: a record without a reference that lands on such a
     * slot must still come out without one, and one with a name with it.
     */
    @Test
    void aRecordWithoutAReferenceDoesNotPickUpANameLeftInItsSlot() {
        RecordQueue q = new RecordQueue(4);
        String name = "allocating-thread";
        for (int round = 0; round < 2000; round++) {
            int batch = round % 11; // more than a ring now and then: some go through the overflow
            for (int k = 0; k < batch; k++) {
                q.offer(RecordQueue.OP_ALLOC, 0, 0x1000 + k, 1, (round + k) % 3 == 0 ? null : name);
            }
            List<Got> got = drainAll(q);
            assertEquals(batch, got.size());
            for (int k = 0; k < batch; k++) {
                assertSame((round + k) % 3 == 0 ? null : name, got.get(k).ref, "round " + round + " record " + k);
            }
        }
    }

    @Test
    void aRecordWhoseSinkThrowsIsTakenAndNotHandedOverAgain() {
        RecordQueue q = new RecordQueue(4);
        for (long n = 1; n <= 6; n++) {
            q.offer(RecordQueue.OP_BEGIN, 0, n, 0, null);
        }
        List<Long> seen = new ArrayList<>();
        assertThrows(IllegalStateException.class, () -> q.drain((op, kind, a, s, r) -> {
            seen.add(a);
            if (a == 3) {
                throw new IllegalStateException("sink fails on 3");
            }
        }));
        assertEquals(List.of(1L, 2L, 3L), seen);
        assertEquals(3, q.lvConsumerIndex());
        q.drain((op, kind, a, s, r) -> seen.add(a));
        assertEquals(List.of(1L, 2L, 3L, 4L, 5L, 6L), seen);
    }

    @Test
    void drainTakesOnlyWhatWasQueuedBeforeItAndReleasesRefsFromTheRing() {
        RecordQueue q = new RecordQueue(4);
        Object latch = new CountDownLatch(1);
        q.offer(RecordQueue.OP_FLUSH, 0, 0, 0, latch);
        List<Got> got = new ArrayList<>();
        int n = q.drain((op, kind, a, s, r) -> {
            got.add(new Got(op, kind, a, s, r));
            if (got.size() == 1) {
                q.offer(RecordQueue.OP_END, 0, 42, 0, null); // queued during the drain: the next one's
            }
        });
        assertEquals(1, n);
        assertSame(latch, got.get(0).ref);
        assertTrue(!q.isEmpty());
        assertEquals(1, drainAll(q).size());
        // Slot 0 held the latch; the ring must not keep it reachable after it was taken.
        Object[] refs = (Object[]) field(q, "ref");
        assertNull(refs[0]);
    }

    /**
     * Producers on several threads, a consumer draining at the same time, a
     * ring small enough to lap and overflow all the time. Checks: every record
     * exactly once with its fields intact, each producer's records in its own
     * order, and across threads: a record comes after every record whose offer
     * had returned before its own offer began.
     */
    @Test
    void concurrentProducersAndAConsumerKeepEveryRecordAndTheOrderOfCompletedOffers() throws Exception {
        RecordQueue q = new RecordQueue(64);
        int producers = 4;
        int perProducer = 200_000;
        AtomicLong completed = new AtomicLong();
        Thread[] ts = new Thread[producers];
        for (int p = 0; p < producers; p++) {
            int id = p;
            ts[p] = new Thread(() -> {
                for (int i = 0; i < perProducer; i++) {
                    long before = completed.get(); // offers that had returned: all must be taken first
                    long a = ((long) id << 40) | i;
                    // The size carries both: its low bits check the field, the rest the order.
                    q.offer(RecordQueue.OP_ALLOC, id, a, before << 16 | (i & 0xffff), null);
                    completed.incrementAndGet();
                }
            }, "producer-" + p);
        }
        AtomicReference<Throwable> failure = new AtomicReference<>();
        long total = (long) producers * perProducer;
        long[] nextOf = new long[producers];
        long[] taken = {0};
        Thread consumer = new Thread(() -> {
            try {
                while (taken[0] < total) {
                    q.drain((op, kind, a, s, r) -> {
                        int id = (int) (a >>> 40);
                        long i = a & ((1L << 40) - 1);
                        long before = s >>> 16;
                        if (op != RecordQueue.OP_ALLOC || kind != id || (s & 0xffff) != (i & 0xffff)) {
                            throw new AssertionError("record " + taken[0] + " corrupted: op " + op + " kind " + kind
                                    + " address 0x" + Long.toHexString(a) + " size 0x" + Long.toHexString(s));
                        }
                        if (i != nextOf[id]) {
                            throw new AssertionError("producer " + id + ": record " + i + " taken when "
                                    + nextOf[id] + " was due");
                        }
                        if (before > taken[0]) {
                            throw new AssertionError("record " + taken[0] + " taken before " + before
                                    + " offers that had returned before it began");
                        }
                        nextOf[id]++;
                        taken[0]++;
                    });
                }
            } catch (Throwable e) {
                failure.set(e);
            }
        }, "consumer");
        consumer.start();
        for (Thread t : ts) {
            t.start();
        }
        for (Thread t : ts) {
            t.join();
        }
        consumer.join(120_000);
        if (failure.get() != null) {
            throw new AssertionError(failure.get().getMessage(), failure.get());
        }
        assertTrue(!consumer.isAlive(), "consumer finished");
        assertEquals(total, taken[0]);
        for (int p = 0; p < producers; p++) {
            assertEquals(perProducer, nextOf[p], "records of producer " + p);
        }
        assertEquals(total, q.lvProducerIndex());
        assertEquals(total, q.lvConsumerIndex());
        assertTrue(q.isEmpty());
    }

    private static Object field(Object o, String name) {
        try {
            java.lang.reflect.Field f = o.getClass().getDeclaredField(name);
            f.setAccessible(true);
            return f.get(o);
        } catch (ReflectiveOperationException e) {
            throw new AssertionError(e);
        }
    }
}
