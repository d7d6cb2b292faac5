package io.ummu;

/**
 * Receives invalidations on the notifier's dispatcher thread
 * ({@code "ummu-dispatcher"}). See {@link MemoryNotifier#addListener(InvalidationListener)}.
 */
@FunctionalInterface
public interface InvalidationListener {
    /**
     * Called once per invalidation, on the dispatcher thread, never
     * concurrently with another call for the same notifier. May close
     * watches or the notifier. An exception thrown here is logged and does
     * not stop the other listeners.
     *
     * @param invalidation what changed
     */
    void onInvalidation(Invalidation invalidation);
}
