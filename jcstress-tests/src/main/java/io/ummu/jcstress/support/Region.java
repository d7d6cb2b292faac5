package io.ummu.jcstress.support;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Made-up address ranges for watches on a {@link SimulatedBackend}: nothing
 * is mapped there (the simulated backend never touches them), every range is
 * distinct, so an event of one state can never be taken for another's.
 */
public final class Region {
    public static final long PAGE = 4096;
    private static final long BASE = 0x7e00_0000_0000L;
    private static final AtomicLong NEXT = new AtomicLong();

    private Region() {
    }

    /** @return the start of a fresh range of {@code pages} pages */
    public static long fresh(int pages) {
        return BASE + NEXT.getAndAdd(pages) * PAGE;
    }
}
