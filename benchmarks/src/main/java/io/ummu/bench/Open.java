package io.ummu.bench;

import io.ummu.Backend;
import io.ummu.MemoryNotifier;
import java.util.Locale;

/** Opens a notifier by the name the benchmark parameters use. */
final class Open {
    private Open() {
    }

    /**
     * @param backend "auto", "userfaultfd" or "ummunotify"
     * @throws IllegalArgumentException for another name
     */
    static MemoryNotifier notifier(String backend) {
        switch (backend.toLowerCase(Locale.ROOT)) {
            case "auto":
                return MemoryNotifier.open();
            case "userfaultfd":
                return MemoryNotifier.open(Backend.USERFAULTFD);
            case "ummunotify":
                return MemoryNotifier.open(Backend.UMMUNOTIFY);
            default:
                throw new IllegalArgumentException("backend: expected auto, userfaultfd or ummunotify, got '"
                        + backend + "'");
        }
    }
}
