package io.ummu;

/**
 * Receives {@link BufferEvent}s, on ummu's own dispatcher thread, one at a
 * time, in the order they were established. A listener should return
 * quickly: while it runs, later events wait. An exception it throws is
 * counted and reported once, and never reaches the application.
 */
@FunctionalInterface
public interface BufferListener {
    void onEvent(BufferEvent event);
}
