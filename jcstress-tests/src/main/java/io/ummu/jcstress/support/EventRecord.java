package io.ummu.jcstress.support;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * One {@code struct ummunotify_event} slot on off-heap memory, written and
 * read with plain accesses, as the backend's queue is: the ordering must come
 * from the counter alone.
 */
public final class EventRecord {
    public static final long COOKIE = 0x5eed_c00c_1e00_0001L;
    public static final long HINT_START = 0x7f00_0000_0000L;
    public static final long HINT_END = 0x7f00_0000_1000L;

    private static final int TYPE = 0;
    private static final int FLAGS = 4;
    private static final int START = 8;
    private static final int END = 16;
    private static final int COOKIE_OFF = 24;

    private final ByteBuffer slot = ByteBuffer.allocateDirect(32).order(ByteOrder.nativeOrder());

    /** Producer: queue an INVAL event with a hint, plain stores. */
    public void write() {
        slot.putInt(TYPE, 0);
        slot.putInt(FLAGS, 1);
        slot.putLong(START, HINT_START);
        slot.putLong(END, HINT_END);
        slot.putLong(COOKIE_OFF, COOKIE);
    }

    /** @return 1 if the cookie is there, 0 if not yet, -1 if it is garbage */
    public int cookieSeen() {
        long c = slot.getLong(COOKIE_OFF);
        return c == COOKIE ? 1 : c == 0 ? 0 : -1;
    }

    /** @return 1 if the hint's end is there, 0 if not yet, -1 if it is garbage */
    public int hintEndSeen() {
        long e = slot.getLong(END);
        return e == HINT_END ? 1 : e == 0 ? 0 : -1;
    }
}
