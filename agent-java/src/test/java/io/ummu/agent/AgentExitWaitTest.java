package io.ummu.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * HotSpot's exit waits up to ~300 ms for every Java thread that is in native
 * code; the threads that wait in the backend's poll (the agent's kernel
 * waiter, a notifier's dispatcher, a thread in await()) must be back in Java
 * by then, and still see the events of shutdown hooks. HotSpot does not log
 * that wait, so the child's own hook looks at the threads' states (see
 * {@link ExitWaitChild}); nothing here measures time.
 */
class AgentExitWaitTest {
    @ParameterizedTest
    @ValueSource(strings = {"return", "exit"})
    void threadsWaitingInTheBackendLeaveNativeCodeWhenTheVmExits(String how) throws Exception {
        ChildJvm.Result r = new ChildJvm().run("io.ummu.agent.ExitWaitChild", how).await();
        r.assertOk();
        String backend = r.value("BACKEND");
        if (backend.equals("jvm")) {
            System.out.println("skipped: no kernel backend on this host, so no thread waits in the kernel");
        }
        assumeTrue(!backend.equals("jvm"), "no kernel backend here: " + r.err);
        // The premise: before exit all three really block in native code.
        assertEquals(1, r.lines("BLOCKED-IN-NATIVE").size(), r.toString());
        assertEquals(1, r.lines("OUT-OF-NATIVE-AT-EXIT").size(), "the waiting threads left native code at exit\n" + r);
        assertEquals("listener=true await=true", r.value("EVENT-AT-EXIT"),
                "an unmap made by a shutdown hook still reaches a listener and await()\n" + r);
        assertTrue(r.lines("PROBE-FAILED").isEmpty(), r.toString());
    }
}
