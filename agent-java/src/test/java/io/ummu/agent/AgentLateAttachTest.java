package io.ummu.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;

import org.junit.jupiter.api.Test;

import com.sun.tools.attach.VirtualMachine;

/** The agent loaded into a running JVM with the Attach API. */
class AgentLateAttachTest {
    @Test
    void lateAttachTracksBuffersAllocatedAfterwards() throws Exception {
        ChildJvm c = new ChildJvm();
        c.agent = false;
        if (ChildJvm.FEATURE >= 21) {
            c.arg("-XX:+EnableDynamicAgentLoading"); // else JDK 21+ warns about the dynamic load
        }
        ChildJvm.Result r = c.run("io.ummu.agent.AgentChild", "late");
        String pid = null;
        for (int i = 0; i < 600 && pid == null; i++) {
            for (String l : Files.readAllLines(r.outFile)) {
                if (l.startsWith("READY ")) {
                    pid = l.substring(6);
                }
            }
            if (pid == null) {
                if (!r.process.isAlive()) {
                    r.await();
                    fail("child died before it was ready\n" + r);
                }
                Thread.sleep(100);
            }
        }
        assertTrue(pid != null, "child never printed READY");
        VirtualMachine vm = VirtualMachine.attach(pid);
        try {
            vm.loadAgent(ChildJvm.agentJar().toString(), "logLevel=info");
        } finally {
            vm.detach();
        }
        try (OutputStream in = r.process.getOutputStream()) {
            in.write("go\n".getBytes(StandardCharsets.US_ASCII));
        }
        r.await().assertOk();
        assertEquals("true", r.value("ACTIVE"), r.toString());
        assertTrue(r.value("STATUS").contains("attached late"), r.toString());
        List<Events.Ev> ev = Events.events(r.out);
        List<Events.Tracked> tracked = Events.tracked(r.out);
        for (Events.Tracked t : List.of(Events.find(tracked, "DIRECT", 40 << 20), Events.find(tracked, "MAPPED", 64 << 10))) {
            assertEquals(1, Events.of(ev, "RELEASED", t.id).size(), r.toString());
        }
        assertEquals(r.value("LIVE0"), r.value("LIVE"), r.toString());
    }
}
