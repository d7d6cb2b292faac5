package io.ummu.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import org.junit.jupiter.api.Test;

/**
 * The segment hook's report counts the call sites of classes the JVM took.
 * With a late attach the weaver rewrites already loaded classes by
 * retransformation, and the JVM may still refuse the woven bytes after the
 * transformer returned: that class then runs unhooked, and its sites must
 * not count, or the agent would report (and rely on) a release hook that is
 * not there and track segments whose frees it never sees.
 */
class SegmentSiteCountJdk22Test {
    private static final String FACTORIES = "jdk.internal.foreign.SegmentFactories";

    @Test
    void aRefusedClassTakesItsCallSitesBackOutOfTheReport() throws Exception {
        byte[] bytes;
        try (InputStream in = ClassLoader.getSystemResourceAsStream(FACTORIES.replace('.', '/') + ".class")) {
            assertNotNull(in, FACTORIES + ".class");
            bytes = in.readAllBytes();
        }
        Installer.Weaver weaver = new Installer.Weaver(false, false, true);
        int allocations = SegmentCallSites.ALLOCATION_SITES.get();
        int releases = SegmentCallSites.RELEASE_SITES.get();

        byte[] woven = weaver.transform(null, FACTORIES.replace('.', '/'), null, null, bytes);
        assertNotNull(woven, "SegmentFactories allocates native memory on JDK 22 to 25: a site to wrap");
        int added = SegmentCallSites.ALLOCATION_SITES.get() - allocations;
        assertTrue(added > 0, "its allocation sites counted");
        assertTrue(weaver.transformed.contains(FACTORIES));

        // Woven again (another retransformation of the same class): its sites count once.
        weaver.transform(null, FACTORIES.replace('.', '/'), null, null, bytes);
        assertEquals(allocations + added, SegmentCallSites.ALLOCATION_SITES.get());

        weaver.refused(FACTORIES);
        assertEquals(allocations, SegmentCallSites.ALLOCATION_SITES.get(), "allocation sites taken back");
        assertEquals(releases, SegmentCallSites.RELEASE_SITES.get(), "release sites taken back");
        assertFalse(weaver.transformed.contains(FACTORIES));
    }
}
