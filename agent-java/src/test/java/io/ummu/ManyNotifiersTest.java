package io.ummu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.ummu.internal.DirectAddress;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLongArray;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Several notifiers in one process, each of a class of its own whose fast
 * path loads its page's counter from a constant: polled hot through one
 * call site (which then sees more classes than the JIT inlines), each still
 * answers for its own counter only, and closing one while others are polled
 * fails only that one.
 */
class ManyNotifiersTest {
    /** Above glibc's largest mmap threshold, so free() always unmaps it. */
    static final int BIG = 40 << 20;
    static final int NOTIFIERS = 5;

    /** The one call site every notifier goes through. */
    private static boolean changedSince(MemoryNotifier n, long generation) {
        return n.changedSince(generation);
    }

    private static long generationAcquire(MemoryNotifier n) {
        return n.generationAcquire();
    }

    /**
     * Notifier j is opened after j unmaps that every notifier open at the
     * time watched, so the counters differ (n0's is the highest), on both
     * backends (the userfaultfd backend moves every notifier's counter on
     * each event, the module only those whose watches were hit). Each
     * notifier's constant load, through a call site that has seen them all,
     * must read its own page: the value its counter object loads from it.
     */
    @ParameterizedTest
    @MethodSource("io.ummu.TestBackends#all")
    void eachOfManyNotifiersPolledThroughOneCallSiteSeesItsOwnCounter(Backend backend) {
        TestBackends.assumeAvailable(backend);
        List<MemoryNotifier> ns = new ArrayList<>();
        try {
            Set<Class<?>> classes = new HashSet<>();
            Set<Long> pages = new HashSet<>();
            for (int j = 0; j < NOTIFIERS; j++) {
                MemoryNotifier n = MemoryNotifier.open(backend);
                ns.add(n);
                assertNotNull(n.constantKind(), "a class of its own, with the constant load");
                assertTrue(n.getClass().isHidden(), n.getClass().getName());
                classes.add(n.getClass());
                pages.add(DirectAddress.of(n.counterForTests().view()));
                ByteBuffer big = ByteBuffer.allocateDirect(BIG);
                List<Watch> ws = new ArrayList<>();
                for (MemoryNotifier m : ns) {
                    ws.add(m.watch(big));
                }
                big = null; // only the cleaner, after a GC, frees it
                for (int i = 0; i < ns.size(); i++) {
                    Events.until(ns.get(i), ws.get(i), System::gc);
                }
                // Not left watching the freed range: with the module, a later
                // mapping at that address (a JIT code heap, a GC region, the next
                // 40 MiB buffer) would move the counters read below.
                for (Watch w : ws) {
                    w.close();
                }
            }
            assertEquals(NOTIFIERS, classes.size(), "one class per notifier");
            assertEquals(NOTIFIERS, pages.size(), "one counter page per notifier");

            long[] own = new long[NOTIFIERS];
            Set<Long> values = new HashSet<>();
            for (int i = 0; i < NOTIFIERS; i++) {
                own[i] = ns.get(i).counterForTests().getAcquire();
                values.add(own[i]);
            }
            assertEquals(NOTIFIERS, values.size(), "the counters differ: " + java.util.Arrays.toString(own));
            // Hot enough to be compiled, with all five classes in the call's profile.
            for (int round = 0; round < 100_000; round++) {
                for (int i = 0; i < NOTIFIERS; i++) {
                    long g = generationAcquire(ns.get(i));
                    if (g != own[i] || changedSince(ns.get(i), g) || !changedSince(ns.get(i), g - 1)) {
                        fail("notifier " + i + " read " + g + ", its page has " + own[i]
                                + " (pages now " + java.util.Arrays.toString(now(ns)) + ")");
                    }
                }
            }
        } finally {
            for (MemoryNotifier n : ns) {
                n.close();
            }
        }
    }

    private static long[] now(List<MemoryNotifier> ns) {
        long[] out = new long[ns.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = ns.get(i).counterForTests().getAcquire();
        }
        return out;
    }

    @ParameterizedTest
    @MethodSource("io.ummu.TestBackends#all")
    void closingOneWhileOthersArePolledFailsOnlyThatOne(Backend backend) throws Exception {
        TestBackends.assumeAvailable(backend);
        List<MemoryNotifier> ns = new ArrayList<>();
        try {
            for (int i = 0; i < 4; i++) {
                ns.add(MemoryNotifier.open(backend));
            }
            long[] seen = new long[ns.size()];
            for (int i = 0; i < ns.size(); i++) {
                seen[i] = generationAcquire(ns.get(i));
            }
            AtomicBoolean closed = new AtomicBoolean();
            AtomicBoolean stop = new AtomicBoolean();
            // Reads of each notifier that completed after closed was set.
            AtomicLongArray readsAfterClose = new AtomicLongArray(ns.size());
            List<Throwable> unexpected = Collections.synchronizedList(new ArrayList<>());
            CountDownLatch running = new CountDownLatch(2);
            List<Thread> pollers = new ArrayList<>();
            for (int t = 0; t < 2; t++) {
                Thread th = new Thread(() -> {
                    running.countDown();
                    boolean[] gone = new boolean[ns.size()];
                    while (!stop.get()) {
                        for (int i = 0; i < ns.size(); i++) {
                            if (gone[i]) {
                                continue;
                            }
                            boolean after = closed.get();
                            try {
                                if (changedSince(ns.get(i), seen[i])) {
                                    unexpected.add(new AssertionError("notifier " + i + " moved"));
                                }
                                if (after) {
                                    readsAfterClose.incrementAndGet(i);
                                }
                            } catch (IllegalStateException e) {
                                if (i != 0 || !"notifier closed".equals(e.getMessage())) {
                                    unexpected.add(e);
                                }
                                gone[i] = true;
                            } catch (Throwable e) {
                                unexpected.add(e);
                                gone[i] = true;
                            }
                        }
                    }
                }, "poller-" + t);
                pollers.add(th);
                th.start();
            }
            running.await();
            Thread.sleep(50);
            ns.get(0).close();
            closed.set(true);
            for (int i = 0; i < 200 && minOthers(readsAfterClose) < 1000; i++) {
                Thread.sleep(10);
            }
            stop.set(true);
            for (Thread t : pollers) {
                t.join(TimeUnit.SECONDS.toMillis(60));
                assertFalse(t.isAlive());
            }
            assertTrue(unexpected.isEmpty(), "unexpected: " + unexpected);
            assertEquals(0, readsAfterClose.get(0), "the closed notifier answered after close() returned");
            assertTrue(minOthers(readsAfterClose) >= 1000, "the others kept answering: " + readsAfterClose);
            assertThrows(IllegalStateException.class, () -> generationAcquire(ns.get(0)));
            for (int i = 1; i < ns.size(); i++) {
                assertEquals(seen[i], generationAcquire(ns.get(i)));
            }
        } finally {
            for (MemoryNotifier n : ns) {
                n.close();
            }
        }
    }

    private static long minOthers(AtomicLongArray reads) {
        long min = Long.MAX_VALUE;
        for (int i = 1; i < reads.length(); i++) {
            min = Math.min(min, reads.get(i));
        }
        return min;
    }

    /**
     * Each notifier's class goes once the notifier does: closed, or dropped
     * unclosed (its cleaner releases the page; nothing else holds the class).
     * Defined with ClassOption.STRONG, or held by a cache, the classes would
     * stay as long as the class loader, one per notifier ever opened.
     */
    @ParameterizedTest
    @MethodSource("io.ummu.TestBackends#all")
    void eachNotifiersClassIsUnloadedOnceTheNotifierIsGone(Backend backend) throws InterruptedException {
        TestBackends.assumeAvailable(backend);
        List<java.lang.ref.WeakReference<Class<?>>> classes = openAndForget(backend, 20);
        for (int i = 0; i < 600 && live(classes) > 0; i++) {
            System.gc();
            Thread.sleep(10);
        }
        assertEquals(0, live(classes), "classes of notifiers that are gone still loaded (of " + classes.size() + ")");
    }

    /** Half closed, half dropped open; returns weak references to their classes only. */
    private static List<java.lang.ref.WeakReference<Class<?>>> openAndForget(Backend backend, int count) {
        List<java.lang.ref.WeakReference<Class<?>>> classes = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            MemoryNotifier n = MemoryNotifier.open(backend);
            assertTrue(n.getClass().isHidden(), n.getClass().getName());
            n.generationAcquire();
            classes.add(new java.lang.ref.WeakReference<>(n.getClass()));
            if (i % 2 == 0) {
                n.close();
            }
        }
        return classes;
    }

    private static int live(List<java.lang.ref.WeakReference<Class<?>>> classes) {
        int live = 0;
        for (java.lang.ref.WeakReference<Class<?>> c : classes) {
            if (c.get() != null) {
                live++;
            }
        }
        return live;
    }
}
