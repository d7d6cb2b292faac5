package io.ummu.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;

/** JDK 22+: native segments are tracked by shape, and munmap through FFM behind a live segment is DANGLING. */
class AgentSegmentsJdk22Test {
    @Test
    void segmentsAreTrackedAndAnFfmMunmapBehindALiveMappedSegmentIsDangling() throws Exception {
        ChildJvm.Result r = new ChildJvm().run("io.ummu.agent.AgentChild22").await().assertOk();
        assertTrue(r.err.contains("NATIVE_SEGMENT"), "the segment hook is in place\n" + r);
        List<Events.Tracked> tracked = Events.tracked(r.out);
        List<Events.Ev> ev = Events.events(r.out);
        Events.Tracked big = Events.find(tracked, "NATIVE_SEGMENT", 40 << 20);
        Events.Tracked small = Events.find(tracked, "NATIVE_SEGMENT", 4096);
        Events.Tracked aligned = Events.find(tracked, "NATIVE_SEGMENT", (40 << 20) + (1 << 16) - 16);
        int segmentsReleased = Events.lineOf(r.out, "SEGMENTS_RELEASED");
        for (Events.Tracked t : List.of(big, small, aligned)) {
            List<Events.Ev> rel = Events.of(ev, "RELEASED", t.id);
            assertEquals(1, rel.size(), "#" + t.id + " released once\n" + r);
            assertTrue(rel.get(0).line < segmentsReleased, r.toString());
        }
        Events.Tracked mapped = Events.find(tracked, "MAPPED", 3 * 4096);
        List<Events.Ev> dangling = Events.of(ev, "DANGLING");
        if (AgentTrackingTest.kernelBackendHere()) {
            assertEquals(1, dangling.size(), "one DANGLING, for the FFM munmap only\n" + r);
            assertEquals(mapped.id, dangling.get(0).id, r.toString());
            // NATIVE_UNMAP is printed after munmap returned; the listener may print
            // DANGLING before it (the kernel reports the unmap while munmap runs).
            int native_ = Events.lineOf(r.out, "SEGMENTS_RELEASED");
            int after = Events.lineOf(r.out, "AFTER_NATIVE_UNMAP");
            assertEquals("0", r.value("NATIVE_UNMAP_RC"), "the native munmap succeeded\n" + r);
            assertTrue(dangling.get(0).line > native_ && dangling.get(0).line < after, r.toString());
            assertEquals(1, Events.of(ev, "UNMAPPED", big.id).size(), "the 40 MiB free unmaps\n" + r);
        } else {
            System.out.println("NOTE: no kernel backend here; DANGLING not checked");
            assertEquals(List.of(), dangling);
        }
        assertEquals(1, Events.of(ev, "RELEASED", mapped.id).size(), r.toString());
        assertEquals(r.value("LIVE0"), r.value("LIVE"), r.toString());
    }
}
