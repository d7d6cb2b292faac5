package io.ummu.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;

import org.junit.jupiter.api.Test;

/** What the agent says about its hooks, and what it must never print; the MBean, JFR events, exit report. */
class AgentHooksTest {
    static List<String> ummuLines(ChildJvm.Result r) {
        return Arrays.stream(r.err.split("\n")).filter(l -> l.startsWith("[ummu] ")).collect(Collectors.toList());
    }

    @Test
    void noUnsafeOrSharingWarningAndEveryHookIsInPlace() throws Exception {
        // The JVM verifies the JDK's own classes, so the woven code too, only when told to: a
        // hook with a broken stack map or operand stack is then refused ("NOT installed").
        ChildJvm c = new ChildJvm().arg("-XX:+UnlockDiagnosticVMOptions", "-XX:+BytecodeVerificationLocal");
        c.agentArgs = "logLevel=debug";
        ChildJvm.Result r = c.run("io.ummu.agent.AgentChild", "quiet").await().assertOk();
        assertEquals("true", r.value("GC_RELEASED"), "a buffer released by the GC is reported\n" + r);
        // JDK 24+ prints "WARNING: A terminally deprecated method in sun.misc.Unsafe has been called"
        // on the first use; this child never uses it, so any such line would be Byte Buddy's.
        assertFalse(r.err.contains("sun.misc.Unsafe"), "no sun.misc.Unsafe warning\n" + r.err);
        assertFalse(r.err.contains(CDS_LOST), "class-data sharing stays on\n" + r.err);
        List<String> ummu = ummuLines(r);
        for (String hook : new String[] {Installer.DEALLOCATOR, Installer.UNMAPPER}) {
            List<String> l = ummu.stream().filter(x -> x.contains("hook " + hook + " ")).collect(Collectors.toList());
            assertEquals(1, l.size(), "one line for " + hook + "\n" + r.err);
            assertTrue(l.get(0).endsWith("installed"), l.get(0));
        }
        List<String> seg = ummu.stream().filter(x -> x.contains("hook jdk.internal.foreign")).collect(Collectors.toList());
        assertEquals(1, seg.size(), r.err);
        if (ChildJvm.FEATURE >= 22) {
            assertTrue(seg.get(0).contains("installed ("), seg.get(0));
        }
        assertEquals(1, ummu.stream().filter(x -> x.startsWith("[ummu] agent on (premain)")).count(), r.err);
    }

    @Test
    void theBridgeLeavesJdkInternalMiscClosedToTheClassPath() throws Exception {
        // The agent's classes share the class path's unnamed module: had it exported jdk.internal.misc
        // to itself (to define the bridge), every application class could link against it.
        ChildJvm c = new ChildJvm();
        c.agentArgs = "logLevel=debug";
        ChildJvm.Result r = c.run("io.ummu.agent.BridgeAccessChild").await().assertOk();
        assertEquals("true", r.value("ACTIVE"), r.toString());
        assertEquals("null", r.value("BRIDGE_LOADER"), "the bridge is in the bootstrap class loader\n" + r);
        assertFalse(r.err.contains(CDS_LOST), "defined, not appended: class-data sharing stays on\n" + r.err);
        assertEquals("false", r.value("EXPORTED_TO_APP"), r.toString());
        assertEquals("false", r.value("EXPORTED_TO_PLATFORM"), r.toString());
        assertEquals("false", r.value("EXPORTED_TO_ALL"), r.toString());
        assertEquals("IllegalAccessException", r.value("LOOKUP"), r.toString());
        assertTrue(r.value("LINK").startsWith("IllegalAccessError ") && r.value("LINK").contains("jdk.internal.misc"),
                r.toString());
    }

    /** The JVM's warning when an agent appends to the bootstrap class path. */
    static final String CDS_LOST = "Sharing is only supported for boot loader classes";

    @Test
    void theFallbackBridgeWorksButCostsClassDataSharing() throws Exception {
        // The JVM warns on stderr; the same check above passes only because the bridge avoids the append.
        ChildJvm c = new ChildJvm().arg("-Dummu.test.bridgeByAppend=true");
        ChildJvm.Result r = c.run("io.ummu.agent.AgentChild", "kinds").await().assertOk();
        assertTrue(r.err.contains(CDS_LOST), r.err);
        assertEquals("true", r.value("ACTIVE"), r.toString());
        Events.Tracked big = Events.find(Events.tracked(r.out), "DIRECT", 40 << 20);
        assertEquals(1, Events.of(Events.events(r.out), "RELEASED", big.id).size(), r.toString());
    }

    @Test
    void startUpLoadsNeitherByteBuddysAgentBuilderNorJmx() throws Exception {
        // What made the agent's start-up cost over a second of CPU: about 1,100 Byte Buddy classes,
        // and the platform MBean server built for the agent's MBean although nobody looked.
        ChildJvm c = new ChildJvm().arg("-Xlog:class+load=info:file=classes.txt");
        ChildJvm.Result r = c.run("io.ummu.agent.AgentChild", "kinds").await();
        List<String> loaded = java.nio.file.Files.readAllLines(c.dir.resolve("classes.txt"));
        r.assertOk(); // deletes the child's directory
        assertTrue(loaded.stream().anyMatch(l -> l.contains(" io.ummu.agent.Installer ")), "control: the log works");
        long shaded = loaded.stream().filter(l -> l.contains(" io.ummu.shaded.")).count();
        assertTrue(shaded > 0 && shaded < 60, shaded + " classes of the shaded Byte Buddy jar (ASM only)");
        assertFalse(loaded.stream().anyMatch(l -> l.contains(" javax.management.MBeanServer ")),
                "no platform MBean server until someone asks for it");
        assertEquals("true", r.value("ACTIVE"), r.toString());
    }

    @Test
    void aHookWhoseClassIsAbsentIsSkippedWithOneLineAndTheOthersWork() throws Exception {
        ChildJvm c = new ChildJvm().arg("-Dummu.test.absentHookClass=" + Installer.DEALLOCATOR);
        ChildJvm.Result r = c.run("io.ummu.agent.AgentChild", "kinds").await().assertOk();
        List<String> about = ummuLines(r).stream().filter(x -> x.contains(Installer.DEALLOCATOR))
                .collect(Collectors.toList());
        assertEquals(1, about.size(), r.err);
        assertTrue(about.get(0).contains("class not present on this JDK, skipped"), about.get(0));
        assertFalse(r.value("STATUS").contains("DIRECT"), "the status does not claim direct buffers\n" + r);
        // On 17 the segment hook has nothing to hook either (FFM is an unresolved incubator module there).
        assertTrue(r.value("STATUS").contains((ChildJvm.FEATURE >= 22 ? 2 : 1) + " of 3 hooks"), r.toString());
        List<Events.Tracked> t = Events.tracked(r.out);
        assertTrue(t.stream().noneMatch(x -> x.kind.equals("DIRECT")), r.toString());
        Events.Tracked mapped = Events.find(t, "MAPPED", 64 << 10);
        assertEquals(1, Events.of(Events.events(r.out), "RELEASED", mapped.id).size(), r.toString());
    }

    @Test
    void theJniKindIsNotClaimed() throws Exception {
        ChildJvm c = new ChildJvm();
        c.agentArgs = "kinds=direct+jni";
        ChildJvm.Result r = c.run("io.ummu.agent.AgentChild", "kinds").await().assertOk();
        assertEquals(1, ummuLines(r).stream().filter(x -> x.contains("NewDirectByteBuffer") && x.endsWith("skipped"))
                .count(), r.err);
        assertFalse(r.value("STATUS").contains("JNI"), r.toString());
    }

    @Test
    void mbeanCountersJfrEventsAndExitReport() throws Exception {
        ChildJvm c = new ChildJvm();
        c.agentArgs = "exitReport=true";
        ChildJvm.Result r = c.run("io.ummu.agent.AgentChild", "observe").await().assertOk();
        // kinds(): three buffers tracked and released (40 MiB and 4 KiB direct, 64 KiB mapped).
        assertTrue(Long.parseLong(r.value("MX_Tracked")) >= 3, r.toString());
        assertTrue(Long.parseLong(r.value("MX_Released")) >= 3, r.toString());
        assertEquals(r.value("BACKEND"), r.value("MX_Backend"), r.toString());
        assertEquals(r.value("LIVE0"), r.value("MX_LiveBuffers"), r.toString());
        List<String> jfr = r.lines("JFR_RELEASED_KIND");
        assertTrue(jfr.contains("DIRECT " + (40 << 20)) && jfr.contains("MAPPED " + (64 << 10)),
                "a JFR io.ummu.Released event per release\n" + r);
        if (AgentTrackingTest.kernelBackendHere()) {
            assertTrue(Long.parseLong(r.value("MX_ReleasedWithKernelUnmap")) >= 2, r.toString());
            assertTrue(Long.parseLong(r.value("MX_Unmapped")) >= 2, r.toString());
            assertTrue(r.value("JFR").contains("io.ummu.Unmapped="), r.toString());
        }
        assertEquals("0", r.value("MX_Dangling"), r.toString());
        List<String> report = ummuLines(r).stream().filter(x -> x.startsWith("[ummu] exit report:"))
                .collect(Collectors.toList());
        assertEquals(1, report.size(), r.err);
        assertTrue(report.get(0).contains("DANGLING 0"), report.get(0));
    }
}
