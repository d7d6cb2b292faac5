package io.ummu.agent;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * The pre-check that keeps the agent from retransforming already loaded
 * {@code jdk.internal.foreign} classes that cannot have a segment call site
 * (each retransformation redefines the class, even unchanged). It must say
 * yes for the classes that allocate and free native segments on JDK 22-25,
 * or the hook would miss them when the agent's own FFM use loaded them first.
 */
class SegmentSiteScanJdk22Test {
    @Test
    void theAllocatingClassMayHaveSitesAndALayoutHelperHasNone() throws Exception {
        // SegmentFactories.allocateMemoryWrapper calls Unsafe.allocateMemory (JDK 22 to 25).
        assertTrue(Installer.mayHaveSegmentSites(Class.forName("jdk.internal.foreign.SegmentFactories")));
        assertFalse(Installer.mayHaveSegmentSites(Class.forName("jdk.internal.foreign.LayoutPath")));
        assertFalse(Installer.mayHaveSegmentSites(Class.forName("jdk.internal.foreign.GlobalSession")));
    }
}
