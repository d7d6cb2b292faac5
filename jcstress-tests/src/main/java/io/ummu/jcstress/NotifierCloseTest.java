package io.ummu.jcstress;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import io.ummu.MemoryNotifier;
import io.ummu.jcstress.support.SimulatedBackend;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.IIII_Result;

/**
 * close() against the fast path of a notifier of its own class, which loads
 * nothing but the counter: it learns that the notifier is closed from the
 * value, because close retires the handle and the backend (here
 * {@link SimulatedBackend#retire}, as libummu does) makes the page read a
 * negative marker. A reader racing close sees the notifier open (a
 * generation) or closed (the exception), never the marker as a generation;
 * once it saw it closed it never sees it open again; and the thread that
 * closed, and everyone after, sees it closed.
 *
 * <p>Result: (reader's first call, reader's second call, closer's call right
 * after its close() returned, the arbiter's call): 0 a generation, 1
 * "notifier closed", 2 a negative generation (the marker leaked), 3 another
 * exception.
 */
@JCStressTest
@Description("close() vs the constant fast path: open or closed, never the marker as a generation, never open after closed")
@Outcome(id = {"0, 0, 1, 1", "0, 1, 1, 1", "1, 1, 1, 1"}, expect = ACCEPTABLE,
        desc = "the reader's calls before or after the page was switched; closed for the closer and after")
@Outcome(expect = FORBIDDEN,
        desc = "the marker returned as a generation, open again after closed, open after close() returned,"
                + " or another exception")
@State
public class NotifierCloseTest {
    private final MemoryNotifier notifier = new SimulatedBackend().open();

    @Actor
    public void closer(IIII_Result r) {
        notifier.close();
        r.r3 = state();
    }

    @Actor
    public void reader(IIII_Result r) {
        r.r1 = state();
        r.r2 = changedState();
    }

    @Arbiter
    public void after(IIII_Result r) {
        r.r4 = changedState();
    }

    private int state() {
        try {
            return notifier.generationAcquire() < 0 ? 2 : 0;
        } catch (IllegalStateException e) {
            return "notifier closed".equals(e.getMessage()) ? 1 : 3;
        }
    }

    /** changedSince with the marker itself as the generation: must still throw once closed. */
    private int changedState() {
        try {
            notifier.changedSince(Long.MIN_VALUE);
            return 0;
        } catch (IllegalStateException e) {
            return "notifier closed".equals(e.getMessage()) ? 1 : 3;
        }
    }
}
