package io.ummu.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Volume and concurrency, in real JVMs with the agent. */
class AgentStressTest {
    @Test
    void aMillionAllocateReleaseCyclesLeaveTheRegistryAtItsStartingSize() throws Exception {
        ChildJvm.Result r = new ChildJvm().run("io.ummu.agent.AgentChild", "cycles", "1000000").await().assertOk();
        assertFalse(r.out.contains("FLUSH_TIMEOUT"), r.toString());
        assertEquals(r.value("LIVE0"), r.value("LIVE"), r.toString());
        assertTrue(r.out.contains("DONE"), r.toString());
    }

    @Test
    void manyThreadsWithAThrowingListenerNeitherDeadlockNorCrash() throws Exception {
        ChildJvm c = new ChildJvm();
        c.env.put("MALLOC_MMAP_THRESHOLD_", "65536"); // frees of larger chunks unmap: kernel events under load
        c.timeoutSeconds = 600;
        ChildJvm.Result r = c.run("io.ummu.agent.AgentChild", "threads", "4", "20000").await().assertOk();
        assertFalse(r.out.contains("FLUSH_TIMEOUT"), r.toString());
        long errors = Long.parseLong(r.value("LISTENER_ERRORS"));
        long released = Long.parseLong(r.value("RELEASED_SEEN"));
        long tracked = Long.parseLong(r.value("TRACKED_TOTAL"));
        long live = Long.parseLong(r.value("LIVE"));
        assertTrue(errors > 0, "the throwing listener was called and its exceptions counted\n" + r);
        assertTrue(released >= 4 * 20000, "every release delivered to the other listener: " + released);
        // Every buffer is released through the JDK: an unmap reported as DANGLING is a false one (on the
        // userfaultfd backend, an old mapping's event credited to a new buffer at the reused address).
        assertEquals("0", r.value("DANGLING_SEEN"), "no DANGLING for buffers the JDK released\n" + r);
        assertEquals(tracked, released + live, "every tracked buffer is either released or live\n" + r);
        assertEquals(1, count(r.err, "[ummu] WARN listener "), "the throwing listener is reported once\n" + r.err);
    }

    @Test
    void aReleaseAfterAnIdleSpellIsDeliveredWithoutAFlush() throws Exception {
        ChildJvm.Result r = new ChildJvm().run("io.ummu.agent.AgentChild", "idle").await().assertOk();
        assertEquals("7 of 7", r.value("IDLE_DELIVERED"), r.toString());
    }

    static int count(String s, String what) {
        int n = 0;
        for (int i = s.indexOf(what); i >= 0; i = s.indexOf(what, i + 1)) {
            n++;
        }
        return n;
    }
}
