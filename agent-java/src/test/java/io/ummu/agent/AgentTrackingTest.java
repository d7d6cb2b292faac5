package io.ummu.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import io.ummu.Backend;

/** Real JVMs with the agent: each kind tracked and released, unmaps reported once, DANGLING only when it should. */
class AgentTrackingTest {
    static boolean kernelBackendHere() {
        return Backend.UMMUNOTIFY.isAvailable() || Backend.USERFAULTFD.isAvailable();
    }

    @Test
    void everyKindIsTrackedAndReleasedAndTheKernelUnmapIsReportedOnce() throws Exception {
        ChildJvm c = new ChildJvm();
        ChildJvm.Result r = c.run("io.ummu.agent.AgentChild", "kinds").await().assertOk();
        List<Events.Tracked> tracked = Events.tracked(r.out);
        List<Events.Ev> ev = Events.events(r.out);
        Events.Tracked big = Events.find(tracked, "DIRECT", 40 << 20);
        Events.Tracked small = Events.find(tracked, "DIRECT", 4096);
        Events.Tracked mapped = Events.find(tracked, "MAPPED", 64 << 10);
        for (Events.Tracked t : List.of(big, small, mapped)) {
            assertEquals(1, Events.of(ev, "RELEASED", t.id).size(), "one RELEASED for #" + t.id + "\n" + r);
        }
        assertEquals(List.of(), Events.of(ev, "DANGLING"), "ordinary releases are never DANGLING\n" + r);
        assertEquals(r.value("LIVE0"), r.value("LIVE"), "the registry is back at its starting size\n" + r);
        if (kernelBackendHere()) {
            assertNotEquals("jvm", r.value("BACKEND"), r.toString());
            assertTrue(big.watched && mapped.watched, "watched by the kernel backend\n" + r);
            // 40 MiB is above glibc's largest mmap threshold: free() munmaps it.
            for (Events.Tracked t : List.of(big, mapped)) {
                List<Events.Ev> unmapped = Events.of(ev, "UNMAPPED", t.id);
                assertEquals(1, unmapped.size(), "the release's munmap reported exactly once for #" + t.id + "\n" + r);
                assertTrue(unmapped.get(0).causes.contains("UNMAP"), r.toString());
                Events.Ev rel = Events.of(ev, "RELEASED", t.id).get(0);
                assertTrue(rel.kernelUnmapped, "RELEASED says the kernel confirmed the unmap\n" + r);
                assertTrue(unmapped.get(0).line < rel.line, "UNMAPPED comes before RELEASED\n" + r);
            }
        } else {
            System.out.println("NOTE: no kernel backend here; checked the jvm-only mode");
            assertEquals("jvm", r.value("BACKEND"));
            assertEquals(List.of(), Events.of(ev, "UNMAPPED"), r.toString());
        }
        assertFalse(r.err.contains("Exception"), "no exception on stderr\n" + r);
    }

    @Test
    void danglingFiresForANativeUnmapBehindALiveBufferAndNotForReleases() throws Exception {
        if (!kernelBackendHere()) {
            System.out.println("SKIPPED: DANGLING needs a kernel backend (ummunotify or userfaultfd)");
            Assumptions.assumeTrue(false, "no kernel backend");
        }
        ChildJvm c = new ChildJvm();
        c.agentArgs = "stackSampling=1";
        ChildJvm.Result r = c.run("io.ummu.agent.AgentChild", "dangling").await().assertOk();
        List<Events.Ev> ev = Events.events(r.out);
        Events.Tracked mapped = Events.find(Events.tracked(r.out), "MAPPED", 3 * 4096);
        // The child prints NATIVE_UNMAP after munmap returned, and the listener
        // (another thread) may print DANGLING before that: the kernel reports
        // the unmap while munmap runs. The lower bound is the last line before it.
        int nativeUnmap = Events.lineOf(r.out, "ORDINARY_RELEASED");
        int after = Events.lineOf(r.out, "AFTER_NATIVE_UNMAP");
        assertEquals("0", r.value("NATIVE_UNMAP_RC"), "the native munmap succeeded\n" + r);
        List<Events.Ev> dangling = Events.of(ev, "DANGLING");
        assertEquals(1, dangling.size(), "exactly one DANGLING\n" + r);
        Events.Ev d = dangling.get(0);
        assertEquals(mapped.id, d.id, r.toString());
        assertTrue(d.line > nativeUnmap && d.line < after, "reported after the native unmap, before flush returned\n" + r);
        assertTrue(d.causes.contains("UNMAP"), r.toString());
        if (d.exact) {
            assertEquals(mapped.address + 4096, d.start, "the exact page\n" + r);
            assertEquals(mapped.address + 8192, d.end, "the exact page\n" + r);
        }
        assertTrue(r.err.contains("DANGLING MAPPED buffer #" + mapped.id), "one actionable line on stderr\n" + r);
        assertTrue(r.err.contains("Allocated at:") && r.err.contains("at io.ummu.agent.AgentChild.map("),
                "the sampled allocation stack, down to the application's frame\n" + r.err);
        Events.Ev rel = Events.of(ev, "RELEASED", mapped.id).get(0);
        assertTrue(rel.line > after && rel.kernelUnmapped, r.toString());
    }
}
