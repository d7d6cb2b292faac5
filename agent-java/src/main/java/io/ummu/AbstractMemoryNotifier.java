package io.ummu;

import io.ummu.internal.BackendOps;
import io.ummu.internal.CounterPage;
import io.ummu.internal.DirectAddress;
import io.ummu.internal.Native;
import io.ummu.internal.NativeStatus;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import java.util.WeakHashMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Function;

/**
 * Everything of {@link MemoryNotifier} except its factories and, on Java 22
 * and later, {@code watch(MemorySegment)}. It exists only so that the Java 22
 * version of {@code MemoryNotifier} (in the multi-release part of
 * {@code ummu.jar}) can add that method without repeating the rest; use
 * {@link MemoryNotifier}. It cannot be subclassed outside this package.
 *
 * <h2>Two ways to learn about changes</h2>
 * <ul>
 *   <li>Polling: {@link #generationAcquire()} / {@link #changedSince(long)}
 *       (one memory load, no system call) tell whether anything changed;
 *       {@link #drain()} says what; {@link #await(Duration)} blocks until
 *       something did.</li>
 *   <li>Listeners: {@link #addListener(InvalidationListener)} starts one
 *       daemon thread, {@code "ummu-dispatcher"}, that waits for events and
 *       delivers them.</li>
 * </ul>
 * Every event goes to exactly one of the two: while at least one listener is
 * registered the dispatcher owns the event stream and {@link #drain()} returns
 * no invalidations; without listeners {@link #drain()} returns them. Events
 * read by the dispatcher when the last listener was just removed are kept for
 * the next {@link #drain()} (or the next listener); none is lost or handed out
 * twice.
 *
 * <h2>Closing</h2>
 * {@link #close()} closes every watch, wakes threads in {@link #await(Duration)}
 * and stops the dispatcher. Afterwards every method except {@code close},
 * {@code backend} and {@code capabilities} throws
 * {@code IllegalStateException("notifier closed")}; {@link #changedSince(long)}
 * throws whatever generation it is given. Native calls are counted and close
 * waits for them, then releases the native handle: its descriptors and the
 * kernel's context go at once. The counter page is read without any such
 * count (that is what makes the fast path fast), so close cannot unmap it:
 * it switches it, in place and in one step, to a read-only page that holds a
 * negative marker no generation takes, which is how the fast path (one load)
 * learns that the notifier is closed. That page stays mapped while the
 * notifier is reachable and is unmapped by a {@link java.lang.ref.Cleaner}
 * after the garbage collection that finds it unreachable. Should the kernel
 * refuse the switch (it should not: see agent-native/README.md), the old
 * page stays, a warning is logged, and the fast path of that notifier
 * returns its last generation instead of throwing; every other method, and
 * {@link #isClosed()}, still says closed, and the registration caches ask
 * {@code isClosed()} whenever the fast path says nothing changed.
 *
 * <h2>VM exit</h2>
 * Once the VM begins to shut down, threads in {@link #await(Duration)} and the
 * dispatcher no longer block in native code (the VM's exit would wait for
 * them): they look for events every 10 ms, parked in Java in between, so
 * events made by shutdown hooks are still delivered, with that latency.
 */
public abstract class AbstractMemoryNotifier implements AutoCloseable {
    /** Created on first use: System.getLogger sets up the JDK's logging (some 60 classes), which JVM start-up with the agent need not pay for. */
    private static final class Logging {
        static final System.Logger LOG = System.getLogger("io.ummu");
    }

    /** Records read per native call; the read buffer is reused under drainLock. */
    private static final int READ_BATCH = 256;
    private static final int TYPE_INVAL = 0;
    private static final int TYPE_LAST = 1;
    private static final int FLAG_HINT = 1;
    private static final int CLOSED = 1 << 30;
    private static final int EINTR = 4;
    /** {@link BackendOps#await} results. */
    private static final int AWAIT_READABLE = 1;
    private static final int AWAIT_WOKEN = 2;
    /**
     * How often a thread waiting on the backend looks for events once the VM
     * is exiting (see {@link VmExit}): the latency of an event then, and the
     * cost of a waiting thread (a non-blocking epoll_wait and a park) while
     * shutdown hooks run.
     */
    private static final long EXIT_POLL_NANOS = 10_000_000L;

    private final Backend backend;
    private final String backendChoice;
    private final Set<Capability> capabilities;
    private final BackendOps ops;
    private final long handle;

    /*
     * The counter is the first 8 bytes of a page the backend writes: the
     * kernel (or the userfaultfd reader thread) queues an event and only then
     * increments the counter with a release store. CounterPage loads it with
     * acquire order, which pairs with that release: if the load sees the new
     * value, every write the producer made before the increment, in
     * particular the queued event, is visible to what this thread does next,
     * so the drain() that follows is sure to find the event. A plain load
     * could be satisfied before the event is visible (a lost event on weakly
     * ordered CPUs, a hoisted load under the JIT).
     *
     * Lifetime. The page stays mapped at its address for as long as this
     * notifier is reachable: `page` holds its CounterPage for the notifier's
     * whole life, and that CounterPage's cleaner (Release) unmaps it. So a
     * fast path that keeps `this` reachable across its load (the fence in a
     * notifier's class of its own) or that loads through the CounterPage
     * (which fences itself) always loads from a mapped page. close() does not
     * unmap: it retires the handle (BackendOps.retire), which releases the
     * descriptors and the kernel's context at once and switches the page, in
     * place, to one that reads Native.COUNTER_CLOSED, a negative value no
     * generation takes. That is how the class-of-its-own fast path learns
     * that the notifier is closed without loading anything but the counter.
     */
    /** The plain class's fast path's counter; null once closed. */
    private volatile CounterPage counter;
    /** Keeps the page mapped while this notifier is reachable; its cleaner runs {@link #release}. Never null. */
    private final CounterPage page;
    /** What the page's cleaner releases: the whole handle, or only the page once close retired the handle. */
    private final Release release;
    /** Set, under dispatcherMonitor, once the first close() is done (has retired the handle, unless it threw). */
    private boolean retired;

    /** Native calls in flight, plus CLOSED once close began. */
    private final AtomicInteger users = new AtomicInteger();
    private volatile Thread closer;

    private final AtomicLong cookies = new AtomicLong();
    private final ConcurrentHashMap<Long, Watch> watches = new ConcurrentHashMap<>();

    /** Guards readBuffer, the native read and pending. Also the drain() side of the watch-close barrier. */
    private final ReentrantLock drainLock = new ReentrantLock();
    private final ByteBuffer readBuffer =
            ByteBuffer.allocateDirect(READ_BATCH * Native.EVENT_SIZE).order(ByteOrder.nativeOrder());
    /** Read from the backend but not yet handed out (only when the last listener left mid-delivery). */
    private final List<Invalidation> pending = new ArrayList<>();

    /** Held while one invalidation is delivered; the listener side of the watch-close barrier. */
    private final ReentrantLock deliveryLock = new ReentrantLock();
    private final CopyOnWriteArrayList<InvalidationListener> listeners = new CopyOnWriteArrayList<>();
    private final Object dispatcherMonitor = new Object();
    private Thread dispatcher; // guarded by dispatcherMonitor

    /** Set once this notifier is known to {@link VmExit}, before any thread blocks in the backend. */
    private volatile boolean exitWakeArmed;
    /** Threads in {@link #awaitWhileExiting}, parked in Java: close() unparks them. */
    private final Set<Thread> exitPollers = ConcurrentHashMap.newKeySet();

    /** The native half of a freshly opened notifier. */
    static final class Opened {
        final Backend backend;
        final long handle;
        final int capabilities;
        /** The counter page as the backend returned it: a root direct buffer, not a slice or view. */
        final ByteBuffer page;
        /** {@link BackendOps#NATIVE}; another only in jcstress-tests, which builds one reflectively. */
        final BackendOps ops;
        /**
         * Set once a CounterPage's cleaner owns the handle (it closes it);
         * until then {@link #newNotifier} closes it if making the notifier fails.
         */
        boolean pageRegistered;
        /** Why this backend: see {@link AbstractMemoryNotifier#backendChoice()}. */
        String choice;

        private Opened(Backend backend, long handle, int capabilities, ByteBuffer page, BackendOps ops) {
            this.backend = backend;
            this.handle = handle;
            this.capabilities = capabilities;
            this.page = page;
            this.ops = ops;
        }
    }

    AbstractMemoryNotifier(Opened opened) {
        this.backend = opened.backend;
        this.backendChoice = opened.choice != null ? opened.choice : "requested by open(" + opened.backend + ")";
        this.handle = opened.handle;
        this.ops = opened.ops;
        this.capabilities = Capability.fromBits(opened.capabilities);
        // Runs once the CounterPage, and so this notifier, is unreachable.
        this.release = new Release(opened.ops, opened.handle, opened.page);
        CounterPage c = CounterPage.open(opened.page, release);
        opened.pageRegistered = true;
        this.page = c;
        this.counter = c;
    }

    /**
     * The cleanup of a notifier's native half, by the cleaner of its
     * CounterPage, which only the notifier holds: so it runs once the
     * notifier is unreachable, when no thread can run its fast path. After
     * close() only the counter page is left (close retired the handle); a
     * notifier dropped unclosed still has its whole handle. Must not refer
     * to the notifier.
     */
    private static final class Release implements Runnable {
        private final BackendOps ops;
        private final long handle;
        private final ByteBuffer page;
        /** Set by close() once the handle is retired. */
        volatile boolean retired;

        Release(BackendOps ops, long handle, ByteBuffer page) {
            this.ops = ops;
            this.handle = handle;
            this.page = page;
        }

        @Override
        public void run() {
            if (retired) {
                ops.unmapCounterPage(page);
            } else {
                ops.close(handle);
            }
        }
    }

    /**
     * A notifier of a class of its own if it can be defined, else {@code plain}'s.
     *
     * <p>Why: the fast path's counter load is cheapest from a constant
     * address (see {@link CounterPage}), and a constant per page needs a
     * class per page. Were that class the counter's, every caller would reach
     * it through the one call in {@link #generationAcquire()}, whose type
     * profile is shared by all the notifiers of the process: with three of
     * them polled (the agent's, a RegistrationCache's and the
     * application's) it stops being inlined and becomes a virtual call,
     * about three times the cost. As a subclass of the notifier, the class
     * is what the caller's own call site sees: a call site that has seen
     * one or two of these classes over its life inlines the constant load,
     * whatever other notifiers the process has. One that has seen more (it
     * polls three notifiers, or notifiers opened and closed one after
     * another: each is a new class) makes a virtual call.
     *
     * @param lookup a full-privilege lookup on the notifier class, whose nest the new class joins
     * @param template the template's entry in ummu.jar: a subclass of the notifier class
     *     with a constructor taking {@link Opened}
     */
    static <T extends AbstractMemoryNotifier> T newNotifier(MethodHandles.Lookup lookup, String template,
            Opened opened, Function<Opened, T> plain) {
        try {
            return newNotifierOrThrow(lookup, template, opened, plain);
        } catch (Throwable e) {
            // Before a CounterPage's cleaner owns the handle (a Metaspace
            // OutOfMemoryError defining the class, an error initializing it, a
            // constructor that threw before CounterPage.open), nothing else
            // would ever close it: the descriptor and the mapped page would leak.
            if (!opened.pageRegistered) {
                try {
                    opened.ops.close(opened.handle);
                } catch (Throwable x) {
                    e.addSuppressed(x);
                }
            }
            if (e instanceof RuntimeException) {
                throw (RuntimeException) e;
            }
            if (e instanceof Error) {
                throw (Error) e;
            }
            throw new IllegalStateException(e);
        }
    }

    private static <T extends AbstractMemoryNotifier> T newNotifierOrThrow(MethodHandles.Lookup lookup,
            String template, Opened opened, Function<Opened, T> plain) throws Throwable {
        Class<?> own = CounterPage.defineConstantClass(lookup, template, opened.page);
        if (own == null) {
            logFallback(CounterPage.constantClassFailure());
            return plain.apply(opened);
        }
        MethodHandle ctor;
        try {
            ctor = lookup.findConstructor(own, MethodType.methodType(void.class, Opened.class));
        } catch (ReflectiveOperationException e) {
            // Fail open: a template out of step with this class is a build
            // error that tests catch; the user still gets a notifier.
            logFallback("no constructor (Opened) in the class from " + template + ": " + e);
            return plain.apply(opened);
        }
        @SuppressWarnings("unchecked")
        T n = (T) ctor.invoke(opened);
        return n;
    }

    private static final AtomicBoolean FALLBACK_LOGGED = new AtomicBoolean();

    /**
     * Once per process: the notifier works, with the slower instance-field
     * load, and whoever measures the fast path should be able to tell why.
     */
    private static void logFallback(String why) {
        if (FALLBACK_LOGGED.compareAndSet(false, true)) {
            Logging.LOG.log(System.Logger.Level.INFO, "ummu: notifiers use the instance-field counter load"
                    + " (slower fast path, same semantics): no class of their own: " + why);
        }
    }

    // ---------------------------------------------------------------- opening

    /** The property and environment variable that force a backend. */
    static final String BACKEND_PROPERTY = "ummu.backend";
    static final String BACKEND_ENV = "UMMU_BACKEND";

    static Opened openBest() {
        String forced = System.getProperty(BACKEND_PROPERTY);
        String source = "system property " + BACKEND_PROPERTY;
        if (forced == null || forced.isBlank()) {
            forced = System.getenv(BACKEND_ENV);
            source = "environment variable " + BACKEND_ENV;
        }
        if (forced != null && !forced.isBlank() && !forced.trim().equalsIgnoreCase("auto")) {
            Backend b = parseBackend(forced.trim(), source);
            Opened o;
            try {
                o = openBackend(b);
            } catch (MemoryNotifierException e) {
                throw new MemoryNotifierException(e.getMessage() + " (backend forced by " + source + ")",
                        e.errno(), e);
            }
            o.choice = "forced by " + source;
            return o;
        }
        // Each backend is tried by opening it, not by its availability probe
        // first: the open says why just as precisely, and the userfaultfd
        // probe is itself a whole open and close (reader thread, self test).
        StringBuilder reasons = new StringBuilder();
        int errno = 0;
        MemoryNotifierException first = null;
        for (Backend b : Backend.values()) {
            try {
                Opened o = openBackend(b);
                o.choice = reasons.length() == 0 ? "the first choice"
                        : "the first that opened; skipped" + reasons.substring(0, reasons.length() - 1);
                return o;
            } catch (MemoryNotifierException e) {
                if (first == null) {
                    first = e;
                    errno = e.errno();
                }
                String why = String.valueOf(e.getMessage());
                String op = "open(" + b + "): ";
                reasons.append(' ').append(b).append(": ")
                        .append(why.startsWith(op) ? why.substring(op.length()) : why).append(';');
            }
        }
        reasons.setLength(reasons.length() - 1);
        throw new MemoryNotifierException("open(): no memory notifier backend is available:" + reasons, errno, first);
    }

    private static Backend parseBackend(String value, String source) {
        for (Backend b : Backend.values()) {
            if (b.configName().equalsIgnoreCase(value)) {
                return b;
            }
        }
        StringBuilder known = new StringBuilder("auto");
        for (Backend b : Backend.values()) {
            known.append(", ").append(b.configName());
        }
        throw new IllegalArgumentException(source + ": unknown backend '" + value + "' (expected one of "
                + known + ")");
    }

    static Opened openBackend(Backend backend) {
        Objects.requireNonNull(backend, "backend");
        String op = "open(" + backend + ")";
        String library = NativeStatus.unavailabilityCause();
        if (library != null) {
            throw new MemoryNotifierException(op + ": " + library, 0);
        }
        long h;
        try {
            h = Native.open(backend.ordinal());
        } catch (MemoryNotifierException e) {
            // The native message is "open(<native name>): <reason>"; say it
            // the way every other error is said: operation, errno, reason.
            String reason = String.valueOf(e.getMessage());
            String nativeOp = "open(" + backend.configName() + "): ";
            if (reason.startsWith(nativeOp)) {
                reason = reason.substring(nativeOp.length());
            }
            String errno = e.errno() > 0 ? NativeStatus.errnoText(e.errno()) + ": " : "";
            throw new MemoryNotifierException(op + ": " + errno + reason, e.errno(), e);
        }
        try {
            int caps = Native.capabilities(h);
            ByteBuffer page = Native.counterPage(h);
            if (page == null || !page.isDirect() || page.capacity() < Long.BYTES) {
                throw new MemoryNotifierException(op + ": the backend returned no usable counter page", 0);
            }
            // As the backend made it: CounterPage makes its own read-only
            // view (the page is mapped PROT_READ), and the handle goes once
            // the CounterPage is unreachable.
            return new Opened(backend, h, caps, page, BackendOps.NATIVE);
        } catch (RuntimeException | Error e) {
            Native.close(h);
            throw e;
        }
    }

    // ------------------------------------------------------------ properties

    /**
     * Thread-safe; works after close.
     *
     * @return the backend this notifier runs on
     */
    public final Backend backend() {
        return backend;
    }

    /**
     * What this notifier can see. Thread-safe; works after close.
     *
     * @return an unmodifiable set
     */
    public final Set<Capability> capabilities() {
        return capabilities;
    }

    /**
     * Why this notifier runs on {@link #backend()}, for logs and status
     * lines: {@code "the first choice"}; {@code "the first that opened;
     * skipped UMMUNOTIFY: <why it did not open>"}; {@code "forced by system
     * property ummu.backend"} (or the environment variable); or
     * {@code "requested by open(USERFAULTFD)"}. The wording is for people,
     * not for parsing. Thread-safe; works after close.
     *
     * @return a short sentence without a trailing period
     */
    public final String backendChoice() {
        return backendChoice;
    }

    // ------------------------------------------------------------- watching

    /**
     * Watches the memory of a direct (or mapped) buffer: the bytes
     * {@code [address, address + capacity)} of the buffer's element 0,
     * whatever its position and limit. Thread-safe.
     *
     * @param buffer a direct buffer with a capacity of at least one byte
     * @return the watch; close it to stop watching
     * @throws NullPointerException if buffer is null
     * @throws IllegalArgumentException if buffer is a heap buffer or has capacity 0
     * @throws IllegalStateException if this notifier is closed
     * @throws MemoryNotifierException if the backend refuses (e.g. its region limit is reached)
     */
    public final Watch watch(ByteBuffer buffer) {
        Objects.requireNonNull(buffer, "buffer");
        if (!buffer.isDirect()) {
            throw new IllegalArgumentException(
                    "buffer: a heap ByteBuffer has no fixed address; watch a direct or mapped buffer");
        }
        if (buffer.capacity() == 0) {
            throw new IllegalArgumentException("buffer: capacity is 0, nothing to watch");
        }
        checkOpen();
        return watchRange("watch(buffer)", DirectAddress.of(buffer), buffer.capacity());
    }

    /**
     * Watches the bytes {@code [address, address + length)}. With
     * {@link Backend#UMMUNOTIFY} the range need not be mapped yet; with
     * {@link Backend#USERFAULTFD} all of it must be (else ENOMEM), since the
     * kernel registers existing mappings only. Thread-safe.
     *
     * @param address the first byte, not 0
     * @param length the number of bytes, positive, and such that {@code address + length}
     *     does not wrap around the 64-bit address space
     * @return the watch; close it to stop watching
     * @throws IllegalArgumentException for address 0, a length that is not positive, or a range that wraps
     * @throws IllegalStateException if this notifier is closed
     * @throws MemoryNotifierException if the backend refuses (e.g. its region limit is reached)
     */
    public final Watch watch(long address, long length) {
        return watchRange(null, address, length);
    }

    /**
     * The common part of every {@code watch} overload.
     *
     * @param op how to name the operation in a native error, or null for {@code watch(address, length)}
     */
    final Watch watchRange(String op, long address, long length) {
        checkRange(address, length);
        String name = String.format("%s(0x%x, %d)", op == null ? "watch" : op, address, length);
        enter();
        try {
            long cookie = cookies.incrementAndGet();
            Watch w = new Watch(this, address, length, cookie);
            // In the map before the kernel knows the cookie, so that an event
            // read right after registration finds its watch.
            watches.put(cookie, w);
            String[] why = new String[1];
            int rc = ops.watch(handle, address, address + length, cookie, why);
            if (rc != 0) {
                watches.remove(cookie);
                w.markClosed();
                throw nativeError(name, rc, why[0]);
            }
            return w;
        } finally {
            exit();
        }
    }

    /**
     * Checks a range as {@link #watch(long, long)} does. Thread-safe.
     *
     * @throws IllegalArgumentException naming the argument at fault
     */
    static void checkRange(long address, long length) {
        if (address == 0) {
            throw new IllegalArgumentException("address: 0 is not a watchable address");
        }
        if (length <= 0) {
            throw new IllegalArgumentException("length: must be positive, got " + length);
        }
        long end = address + length;
        if (Long.compareUnsigned(end, address) <= 0) {
            throw new IllegalArgumentException(String.format(
                    "length: 0x%x + %d wraps around the end of the address space", address, length));
        }
    }

    void closeWatch(Watch w) {
        boolean first = w.markClosed();
        // Removed from the map only by whoever unregisters it in the backend:
        // if close() of the notifier has begun (tryEnter fails), the watch
        // stays in the map and close() unregisters it. Removing it first
        // would leave the backend watching it until the cleaner runs: its
        // pages stay registered (with userfaultfd, for the whole process)
        // and its events keep arriving for nobody.
        if (first && tryEnter()) {
            try {
                if (watches.remove(w.cookie(), w)) {
                    int rc = ops.unwatch(handle, w.cookie());
                    if (rc != 0) {
                        throw nativeError(String.format("unwatch(0x%x, %d) of cookie %d",
                                w.address(), w.length(), w.cookie()), rc, null);
                    }
                }
            } finally {
                exit();
                barrier();
            }
        } else {
            barrier();
        }
    }

    /**
     * Waits out any drain() or delivery that may have seen a watch open
     * before it was marked closed: each checks the flag under its lock, so
     * after passing both locks every later check sees the flag.
     */
    private void barrier() {
        drainLock.lock();
        drainLock.unlock();
        deliveryLock.lock();
        deliveryLock.unlock();
    }

    // -------------------------------------------------------------- polling

    /**
     * The generation counter, loaded with acquire order: one memory load, no
     * system call, no allocation. It grows whenever an invalidation hit at
     * least one watch. Thread-safe.
     *
     * @return the current generation, never negative (it counts up from 0)
     * @throws IllegalStateException if this notifier is closed
     */
    public long generationAcquire() {
        // The instance-field load; a notifier of a class of its own (see
        // newNotifier) overrides this and changedSince with a constant one.
        CounterPage c = counter;
        if (c == null) {
            throw closedException();
        }
        long v = c.getAcquire();
        if (v < 0) {
            // A reader that took the field before close() nulled it and
            // loads after close() retired the page reads the marker.
            throw closedException();
        }
        return v;
    }

    /**
     * Whether any watch was hit since {@code generation} was read, in one
     * acquire load. A true answer can be a false positive for events already
     * handed out (a {@link #drain()} then returns nothing new); a false
     * answer is never wrong. Thread-safe.
     *
     * <p>"Never wrong" includes a change whose system call has already
     * returned: after {@code munmap()} of a watched range returned in a
     * thread that happens-before this call, the answer is true: the module
     * bumps the counter inside the invalidation, and the userfaultfd
     * backend's reader bumps it before the {@code read(2)} that lets the
     * unmapping thread go (see backend_userfaultfd.c).
     *
     * @param generation a value from {@link #generationAcquire()} or {@link Drain#generation()}
     *     (any other value is not checked and simply compares unequal, except itself)
     * @return true if the counter moved
     * @throws IllegalStateException if this notifier is closed, whatever {@code generation} is
     */
    public boolean changedSince(long generation) {
        CounterPage c = counter;
        if (c == null) {
            throw closedException();
        }
        long v = c.getAcquire();
        if (v < 0) {
            throw closedException(); // as in generationAcquire
        }
        return v != generation;
    }

    /**
     * Reads every pending event. Without listeners, returns the invalidations
     * of watches that are still open, oldest first, and the generation they
     * bring the caller up to: the counter value of the backend's last record,
     * or the counter read before looking when nothing was pending. While
     * listeners are registered the dispatcher owns the events: the list is
     * empty and the generation is the current counter.
     *
     * <p>Thread-safe; concurrent callers are serialised, each event goes to
     * exactly one of them. Allocates only for what it returns.
     *
     * @return the invalidations and the new generation
     * @throws IllegalStateException if this notifier is closed
     * @throws MemoryNotifierException if the backend's read fails
     */
    public final Drain drain() {
        enter();
        try {
            drainLock.lock();
            try {
                if (!listeners.isEmpty()) {
                    return new Drain(List.of(), page.getAcquire());
                }
                List<Invalidation> out = new ArrayList<>();
                takePendingLocked(out);
                long generation = pumpLocked(out);
                // The Watch.close() barrier: checked under drainLock.
                out.removeIf(inv -> inv.watch().isClosed());
                return new Drain(out, generation);
            } finally {
                drainLock.unlock();
            }
        } finally {
            exit();
        }
    }

    private void takePendingLocked(List<Invalidation> out) {
        if (!pending.isEmpty()) {
            out.addAll(pending);
            pending.clear();
        }
    }

    /**
     * Reads records until the backend has nothing more, appending the
     * invalidations of known watches. Caller holds drainLock and a user count.
     *
     * @return the generation the caller is now up to
     */
    private long pumpLocked(List<Invalidation> out) {
        // Loaded before reading: every increment up to this value was
        // preceded by its event, so an empty read means those events were
        // already consumed. A value loaded after the read could include an
        // event that arrived in between and was never read.
        long generation = page.getAcquire();
        ByteBuffer buf = readBuffer;
        for (;;) {
            int n = ops.read(handle, buf, READ_BATCH);
            if (n < 0) {
                throw nativeError("drain(): read", n, null);
            }
            boolean sawLast = false;
            for (int i = 0; i < n; i++) {
                int off = i * Native.EVENT_SIZE;
                int type = buf.getInt(off);
                int flags = buf.getInt(off + 4);
                long cookieOrCounter = buf.getLong(off + 24);
                if (type == TYPE_LAST) {
                    generation = cookieOrCounter;
                    sawLast = true;
                } else if (type == TYPE_INVAL) {
                    sawLast = false;
                    Watch w = watches.get(cookieOrCounter);
                    if (w == null || w.isClosed()) {
                        continue; // closed meanwhile: the contract says drop it
                    }
                    boolean exact = (flags & FLAG_HINT) != 0;
                    long start = exact ? buf.getLong(off + 8) : w.address();
                    long end = exact ? buf.getLong(off + 16) : w.address() + w.length();
                    out.add(new Invalidation(w, start, end, exact, Cause.fromFlags(flags)));
                }
            }
            if (n < READ_BATCH || sawLast) {
                return generation;
            }
        }
    }

    /**
     * Blocks until events are pending, the timeout passes, or this notifier
     * is closed. Returns at once when events are already pending. While
     * listeners are registered, "pending" includes events the dispatcher is
     * about to take, so this can return true and a following {@link #drain()}
     * can find nothing. Thread-safe; any number of threads may wait.
     *
     * @param timeout how long to wait at most; {@link Duration#ZERO} only checks
     * @return true if events are pending; false on timeout or when the notifier was closed while waiting
     * @throws NullPointerException if timeout is null
     * @throws IllegalArgumentException if timeout is negative
     * @throws IllegalStateException if this notifier is closed on entry
     * @throws MemoryNotifierException if the backend's wait fails
     */
    public final boolean await(Duration timeout) {
        Objects.requireNonNull(timeout, "timeout");
        if (timeout.isNegative()) {
            throw new IllegalArgumentException("timeout: must not be negative, got " + timeout);
        }
        long nanos;
        try {
            nanos = timeout.toNanos();
        } catch (ArithmeticException e) {
            nanos = -1; // beyond 292 years: forever
        }
        enter();
        try {
            if (hasPending()) {
                return true;
            }
            long deadline = System.nanoTime() + nanos;
            long left = nanos;
            for (;;) {
                int r = awaitBackend(left);
                if (r == 1) {
                    return true;
                }
                if (r == 0) {
                    return false;
                }
                if (r != 2 && r != -EINTR) {
                    if (r < 0) {
                        throw nativeError("await(" + timeout + ")", r, null);
                    }
                    throw new MemoryNotifierException("await(" + timeout + "): unexpected result " + r, 0);
                }
                if (isClosed()) {
                    return false;
                }
                if (nanos >= 0) {
                    left = deadline - System.nanoTime();
                    if (left <= 0) {
                        return false;
                    }
                }
            }
        } finally {
            exit();
        }
    }

    private boolean hasPending() {
        drainLock.lock();
        try {
            return !pending.isEmpty();
        } finally {
            drainLock.unlock();
        }
    }

    // ------------------------------------------------------------ listeners

    /**
     * Registers a listener. Events are delivered on one daemon thread,
     * {@code "ummu-dispatcher"}, started by the first call; while any listener
     * is registered, {@link #drain()} returns no invalidations. A listener
     * that throws is logged (System.Logger {@code io.ummu}) and the others
     * still get the event. Thread-safe; may be called from a listener.
     *
     * @param listener the listener
     * @return false if it was already registered
     * @throws NullPointerException if listener is null
     * @throws IllegalStateException if this notifier is closed
     */
    public final boolean addListener(InvalidationListener listener) {
        Objects.requireNonNull(listener, "listener");
        checkOpen();
        boolean added = listeners.addIfAbsent(listener);
        synchronized (dispatcherMonitor) {
            if (dispatcher == null && !isClosed()) {
                Thread t = new Thread(this::dispatchLoop, "ummu-dispatcher");
                t.setDaemon(true);
                dispatcher = t;
                t.start();
            }
            dispatcherMonitor.notifyAll();
        }
        return added;
    }

    /**
     * Unregisters a listener. It may still receive the invalidation being
     * delivered when this is called from another thread. Events read for
     * listeners after the last one left are kept for {@link #drain()}.
     * Thread-safe; may be called from a listener.
     *
     * @param listener the listener
     * @return true if it was registered
     * @throws NullPointerException if listener is null
     * @throws IllegalStateException if this notifier is closed
     */
    public final boolean removeListener(InvalidationListener listener) {
        Objects.requireNonNull(listener, "listener");
        checkOpen();
        return listeners.remove(listener);
    }

    private void dispatchLoop() {
        List<Invalidation> batch = new ArrayList<>();
        try {
            while (waitForListeners()) {
                if (!tryEnter()) {
                    return;
                }
                int r;
                try {
                    r = awaitBackend(-1);
                    if (r == 1 && !listeners.isEmpty()) {
                        drainLock.lock();
                        try {
                            takePendingLocked(batch);
                            pumpLocked(batch);
                        } finally {
                            drainLock.unlock();
                        }
                    }
                } finally {
                    exit();
                }
                if (r < 0 && r != -EINTR) {
                    throw nativeError("dispatcher: await", r, null);
                }
                deliver(batch);
                batch.clear();
            }
        } catch (RuntimeException | Error e) {
            if (!isClosed()) {
                Logging.LOG.log(System.Logger.Level.ERROR, "ummu-dispatcher stopped; listeners get no more events,"
                        + " drain() still works", e);
            }
        }
    }

    /** @return false when the dispatcher should stop (closed) */
    private boolean waitForListeners() {
        synchronized (dispatcherMonitor) {
            while (listeners.isEmpty() && !isClosed()) {
                try {
                    dispatcherMonitor.wait();
                } catch (InterruptedException e) {
                    return false;
                }
            }
            return !isClosed();
        }
    }

    private void deliver(List<Invalidation> batch) {
        List<Invalidation> orphans = null;
        for (Invalidation inv : batch) {
            deliveryLock.lock();
            try {
                // The Watch.close() barrier: checked under deliveryLock.
                if (inv.watch().isClosed()) {
                    continue;
                }
                if (listeners.isEmpty()) {
                    if (orphans == null) {
                        orphans = new ArrayList<>();
                    }
                    orphans.add(inv);
                    continue;
                }
                for (InvalidationListener l : listeners) {
                    try {
                        l.onInvalidation(inv);
                    } catch (Throwable t) {
                        Logging.LOG.log(System.Logger.Level.WARNING, "listener " + l + " threw on " + inv, t);
                    }
                }
            } finally {
                deliveryLock.unlock();
            }
        }
        if (orphans != null) {
            drainLock.lock();
            try {
                pending.addAll(orphans);
            } finally {
                drainLock.unlock();
            }
        }
    }

    // ------------------------------------------------------------- VM exit

    /**
     * {@link BackendOps#await} as await() and the dispatcher use it; the
     * caller holds a native-call count. Until the VM begins to exit it blocks
     * in the backend (epoll_wait in JNI); from then on it never blocks in
     * native code, see {@link VmExit}.
     */
    private int awaitBackend(long timeoutNanos) {
        if (!exitWakeArmed) {
            VmExit.arm(this);
        }
        // Read after arm(): either the hook finds this notifier (and its
        // sticky wakeup makes the blocking call below return at once) or
        // this thread sees the flag. See VmExit.
        if (!VmExit.exiting) {
            return ops.await(handle, timeoutNanos);
        }
        return awaitWhileExiting(timeoutNanos);
    }

    /**
     * The VM is exiting: looks at the backend without blocking every
     * {@link #EXIT_POLL_NANOS} and parks in Java in between, so that events
     * from shutdown hooks (a library that unmaps memory on its way out) still
     * reach await() and the listeners, and the VM's exit never waits for this
     * thread. The handle's wakeup is sticky by then, so a blocking call would
     * return at once every time: this is what keeps that from becoming a
     * busy loop.
     */
    private int awaitWhileExiting(long timeoutNanos) {
        long deadline = System.nanoTime() + timeoutNanos;
        Thread self = Thread.currentThread();
        exitPollers.add(self);
        try {
            for (;;) {
                int r = ops.await(handle, 0);
                if (r == AWAIT_READABLE || (r < 0 && r != -EINTR)) {
                    return r;
                }
                if (isClosed()) {
                    return AWAIT_WOKEN;
                }
                long wait = EXIT_POLL_NANOS;
                if (timeoutNanos >= 0) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        return 0;
                    }
                    wait = Math.min(wait, left);
                }
                LockSupport.parkNanos(this, wait);
            }
        } finally {
            exitPollers.remove(self);
        }
    }

    /** Called by the exit hook: wakes the threads blocked in this notifier's backend, unless closed. */
    private void wakeForExit() {
        if (tryEnter()) { // the count keeps close() from releasing the handle under us
            try {
                ops.wakeup(handle);
            } finally {
                exit();
            }
        }
    }

    /**
     * At VM exit HotSpot waits for every Java thread that is in native code
     * (30 attempts of 10 ms on JDK 17; {@code -XX:UserThreadWaitAttemptsAtExit}
     * on 22+). A thread in await() or the dispatcher blocks in epoll_wait in
     * JNI, so it would add ~300 ms to the exit of every JVM that has one (the
     * agent's kernel waiter is such a thread). A shutdown hook, added the
     * first time any notifier is about to block, wakes every notifier that
     * has blocked through the backend's wakeup eventfd, and from then on
     * {@link #awaitBackend} no longer blocks in native code. Threads are
     * woken, not stopped: they keep waiting, in Java, for the hooks' events.
     *
     * <p>The hook and a thread about to block race as follows: the thread
     * adds its notifier under the set's lock, then reads {@code exiting}; the
     * hook writes {@code exiting}, then takes the lock to read the set. So
     * either the hook wakes the notifier (the wakeup is sticky, so it does
     * not matter whether the thread is in epoll_wait yet) or the thread sees
     * the flag. A holder class: nothing of this loads before a thread blocks.
     */
    private static final class VmExit extends Thread {
        static volatile boolean exiting;
        /** Weak: an unclosed notifier dropped by its owner must still be collected (and its handle released). */
        private static final Set<AbstractMemoryNotifier> BLOCKERS = Collections.newSetFromMap(new WeakHashMap<>());
        private static boolean hookAdded; // guarded by BLOCKERS

        /**
         * A class of its own, not a lambda: no lambda is spun at JVM start-up
         * for it. Made on whichever thread first blocks: it must not keep
         * that thread's inheritable thread-locals or context class loader.
         */
        private VmExit() {
            super(null, null, "ummu-exit-wakeup", 0, false);
            setContextClassLoader(null);
        }

        static void arm(AbstractMemoryNotifier n) {
            synchronized (BLOCKERS) {
                if (!hookAdded) {
                    hookAdded = true;
                    try {
                        Runtime.getRuntime().addShutdownHook(new VmExit());
                    } catch (IllegalStateException shutdownInProgress) {
                        exiting = true;
                    } catch (SecurityException denied) {
                        // No hook: the VM's exit waits for blocked threads, as it always did.
                    }
                }
                BLOCKERS.add(n);
            }
            n.exitWakeArmed = true;
        }

        @Override
        public void run() {
            exiting = true;
            List<AbstractMemoryNotifier> all;
            synchronized (BLOCKERS) {
                all = new ArrayList<>(BLOCKERS);
            }
            for (AbstractMemoryNotifier n : all) {
                n.wakeForExit();
            }
        }
    }

    // -------------------------------------------------------------- closing

    /**
     * Closes every watch, wakes threads in {@link #await(Duration)}, stops the
     * dispatcher, and releases the native handle: its descriptors and the
     * kernel's context go now; the counter page stays mapped, reading
     * "closed", until this notifier is unreachable (see the class comment).
     * Idempotent and thread-safe, also against concurrent calls of every
     * other method, and may be called from a listener. When it returns (in
     * any thread, also one that was not the first to call it), no
     * invalidation is handed out any more and every method that throws once
     * closed does.
     */
    @Override
    public final void close() {
        int before = users.getAndUpdate(s -> s | CLOSED);
        boolean first = (before & CLOSED) == 0;
        if (first) {
            closer = Thread.currentThread();
            counter = null;
        }
        for (Watch w : watches.values()) {
            w.markClosed();
        }
        if (first) {
            try {
                // Native calls in flight finish; await() returns on wakeup. The
                // wakeup is repeated in case a waiter entered native code after
                // the previous one.
                while (users.get() != CLOSED) {
                    ops.wakeup(handle);
                    for (Thread t : exitPollers) {
                        LockSupport.unpark(t);
                    }
                    LockSupport.parkNanos(this, 1_000_000L);
                }
                // Alone with the handle now: nobody can enter any more.
                for (Watch w : watches.values()) {
                    w.markClosed();
                    ops.unwatch(handle, w.cookie());
                }
                watches.clear();
                synchronized (dispatcherMonitor) {
                    dispatcherMonitor.notifyAll();
                }
                drainLock.lock();
                try {
                    pending.clear();
                } finally {
                    drainLock.unlock();
                }
                listeners.clear();
                closer = null;
                int rc = ops.retire(handle);
                release.retired = true; // the page's cleaner now unmaps only the page
                if (rc < 0) {
                    logRetireFailure(rc);
                }
            } finally {
                // Even if something above threw: a later close() must not
                // wait forever (the handle, if not retired, goes with the
                // cleaner, whole).
                synchronized (dispatcherMonitor) {
                    retired = true;
                    dispatcherMonitor.notifyAll();
                }
            }
        } else {
            awaitRetired();
        }
        barrier();
        // The release above must not find this notifier unreachable before
        // it is done (its cleaner would close the retired handle again).
        Reference.reachabilityFence(this);
    }

    /**
     * A later close() waits for the first: the fast path of a notifier of
     * its own class learns that it is closed only from the retired page, so
     * returning earlier would let a caller see it open after close. Safe
     * from a listener: the first close never waits for a listener.
     */
    private void awaitRetired() {
        boolean interrupted = false;
        synchronized (dispatcherMonitor) {
            while (!retired) {
                try {
                    dispatcherMonitor.wait();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * The handle is released, but its counter page could not be switched to
     * the closed one (the kernel refused the memory: ENOMEM): it keeps its
     * last value, so the fast path of a notifier of its own class answers
     * with that generation after close instead of throwing. Nothing crashes
     * or leaks; say so, since the caller relies on the exception.
     */
    private void logRetireFailure(int rc) {
        // EEXIST: the old page went and another thread's mapping took its
        // address before the backend could cover it (ummu_backend.h, retire).
        String what = rc == -17 ? "another mapping's memory as their counter" : "a stale generation";
        Logging.LOG.log(System.Logger.Level.WARNING, "ummu: close(): " + NativeStatus.errnoText(-rc)
                + " switching the counter page to the closed one: generationAcquire() and changedSince()"
                + " of " + this + " may return " + what + " instead of throwing (isClosed() is true;"
                + " RegistrationCache checks it)");
    }

    private void checkOpen() {
        if (isClosed()) {
            throw closedException();
        }
    }

    /**
     * Whether {@link #close()} has begun. One volatile load; for code that
     * holds a generation across calls and must not trust a fast path that
     * cannot tell it (see "Closing" above). Thread-safe.
     *
     * @return true once close has been called
     */
    public final boolean isClosed() {
        return (users.get() & CLOSED) != 0;
    }

    private void enter() {
        if (!tryEnter()) {
            throw closedException();
        }
    }

    private boolean tryEnter() {
        for (;;) {
            int s = users.get();
            if ((s & CLOSED) != 0) {
                return false;
            }
            if (users.compareAndSet(s, s + 1)) {
                return true;
            }
        }
    }

    private void exit() {
        if (users.decrementAndGet() == CLOSED) {
            Thread t = closer;
            if (t != null) {
                LockSupport.unpark(t);
            }
        }
        // Every native call runs between enter() and exit(), and only this
        // (through `page`) keeps the CounterPage, whose cleaner frees the
        // handle, reachable. Without the fence the JIT may treat this as
        // dead once users is loaded, and a notifier the application dropped
        // unclosed could have its handle freed in the middle of the call.
        Reference.reachabilityFence(this);
    }


    static IllegalStateException closedException() {
        return new IllegalStateException("notifier closed");
    }

    static MemoryNotifierException nativeError(String operation, int rc, String why) {
        int errno = -rc;
        String msg = operation + ": " + NativeStatus.errnoText(errno);
        if (why != null && !why.isEmpty()) {
            msg += ": " + why;
        }
        return new MemoryNotifierException(msg, errno);
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "MemoryNotifier[%s, %d watches%s]", backend, watches.size(),
                isClosed() ? ", closed" : "");
    }

    /** For tests: the number of open watches. */
    final int watchCount() {
        return watches.size();
    }

    /** For tests: the fast path's view of the counter page, or null once closed. */
    final ByteBuffer counterPageView() {
        CounterPage c = counter;
        return c == null ? null : c.view();
    }

    /** For tests: the fast path's counter, or null once closed. */
    final CounterPage counterForTests() {
        return counter;
    }

    /** For tests: which load the fast path uses ({@link CounterPage#kind()}), or null once closed. */
    final String counterKind() {
        CounterPage c = counter;
        String constant = constantKind();
        return c == null ? null : constant != null ? constant : c.kind();
    }

    /** For tests: which constant load the fast path uses, null if none (see {@link #newNotifier}). */
    String constantKind() {
        return null;
    }

    /** For tests: the listeners, unmodifiable. */
    final List<InvalidationListener> listenersView() {
        return Collections.unmodifiableList(listeners);
    }
}
