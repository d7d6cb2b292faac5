package io.ummu.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.ummu.Backend;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** The agent's first line names its backend and, unless it is the best one, why. */
class AgentBackendChoiceTest {
    private static String firstLine(ChildJvm.Result r) {
        r.assertOk();
        List<String> on = r.err.lines().filter(x -> x.startsWith("[ummu] agent on (premain)"))
                .collect(Collectors.toList());
        assertEquals(1, on.size(), r.toString());
        return on.get(0);
    }

    @Test
    void autoSaysWhyABetterBackendWasSkipped() throws Exception {
        String line = firstLine(new ChildJvm().run("io.ummu.agent.AgentChild", "kinds").await());
        if (Backend.UMMUNOTIFY.isAvailable()) {
            assertTrue(line.contains(": backend ummunotify, tracking "), "the best backend needs no reason: " + line);
        } else if (Backend.USERFAULTFD.isAvailable()) {
            // The host without the module: userfaultfd, and the module's absence said.
            assertTrue(line.contains(": backend userfaultfd (the first that opened; skipped UMMUNOTIFY: "), line);
            assertTrue(line.contains(Backend.UMMUNOTIFY.unavailabilityCause()), line);
        } else {
            assertTrue(line.contains(": backend jvm, "), line);
        }
    }

    @Test
    void aBackendSetByOptionSaysSo() throws Exception {
        ChildJvm c = new ChildJvm();
        c.agentArgs = "backend=userfaultfd";
        ChildJvm.Result r = c.run("io.ummu.agent.AgentChild", "kinds").await();
        String line = firstLine(r);
        if (Backend.USERFAULTFD.isAvailable()) {
            assertTrue(line.contains(": backend userfaultfd (set by the agent's option backend=userfaultfd), "), line);
        } else {
            assertTrue(r.err.contains("; set by the agent's option backend=userfaultfd): only RELEASED events"),
                    r.toString());
        }
    }

    @Test
    void anUnavailableBackendSetByOptionSaysWhyAndThatItWasSet() throws Exception {
        if (Backend.UMMUNOTIFY.isAvailable()) {
            return; // in the VM with the module: nothing to refuse
        }
        ChildJvm c = new ChildJvm();
        c.agentArgs = "backend=ummunotify";
        ChildJvm.Result r = c.run("io.ummu.agent.AgentChild", "kinds").await();
        assertTrue(firstLine(r).contains(": backend jvm, "), r.toString());
        assertTrue(r.err.contains("no kernel backend (open(UMMUNOTIFY): ENOENT"), r.toString());
        assertTrue(r.err.contains("; set by the agent's option backend=ummunotify): only RELEASED events"),
                r.toString());
    }
}
