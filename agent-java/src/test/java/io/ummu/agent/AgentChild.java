package io.ummu.agent;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

import javax.management.ObjectName;

import io.ummu.BufferEvent;
import io.ummu.BufferKind;
import io.ummu.TrackedBuffer;
import io.ummu.Ummu;

/**
 * The program the agent tests run in a child JVM. It prints what it sees as
 * lines "KEY value..."; the tests parse them.
 */
public final class AgentChild {
    static final AtomicLong EVENTS = new AtomicLong();

    private AgentChild() {
    }

    public static void main(String[] args) throws Exception {
        String scenario = args[0];
        // The JDK keeps a per-thread cache of temporary direct buffers for channel I/O
        // (sun.nio.ch.Util): fill it now, so that it does not show up as a buffer left
        // live by a scenario (map() writes a file through it).
        Path warm = Files.createTempFile(Path.of("."), "warm-", ".bin"); // not java.io.tmpdir: a test breaks it
        Files.write(warm, new byte[64 << 10]);
        Files.readAllBytes(warm);
        Files.delete(warm);
        if (scenario.equals("late")) {
            System.out.println("READY " + ProcessHandle.current().pid());
            new BufferedReader(new InputStreamReader(System.in)).readLine();
            scenario = "kinds";
        }
        System.out.println("ACTIVE " + Ummu.isActive());
        System.out.println("BACKEND " + Ummu.backend());
        System.out.println("STATUS " + Ummu.status());
        if (!scenario.equals("threads") && !scenario.equals("cycles")) { // a million lines help nobody
            Ummu.addListener(AgentChild::print);
        }
        System.out.println("LIVE0 " + Ummu.liveCount());
        switch (scenario) {
            case "kinds":
                kinds();
                break;
            case "dangling":
                dangling();
                break;
            case "cycles":
                cycles(Integer.parseInt(args[1]));
                break;
            case "threads":
                threads(Integer.parseInt(args[1]), Integer.parseInt(args[2]));
                break;
            case "quiet":
                quiet();
                break;
            case "observe":
                observe();
                break;
            case "idle":
                idle();
                break;
            default:
                throw new IllegalArgumentException("scenario: " + scenario);
        }
        flush();
        System.out.println("LIVE " + Ummu.liveCount());
        System.out.println("DONE");
    }

    static void print(BufferEvent e) {
        EVENTS.incrementAndGet();
        System.out.println("EV " + e.type() + " " + e.buffer().kind() + " " + e.buffer().id() + " "
                + e.kernelUnmapped() + " " + e.exact() + " " + Long.toHexString(e.start()) + " "
                + Long.toHexString(e.end()) + " " + e.causes().toString().replace(" ", ""));
    }

    static void flush() throws InterruptedException {
        if (!Ummu.flush(Duration.ofSeconds(60))) {
            System.out.println("FLUSH_TIMEOUT");
        }
    }

    static void tracked() throws InterruptedException {
        flush();
        for (TrackedBuffer b : Ummu.liveBuffers()) {
            System.out.println("TRACKED " + b.kind() + " " + b.id() + " " + Long.toHexString(b.address()) + " "
                    + b.size() + " " + (b.watch() != null) + " " + b.allocatingThread());
        }
    }

    static void free(ByteBuffer b) throws ReflectiveOperationException {
        Class<?> u = Class.forName("sun.misc.Unsafe");
        Field f = u.getDeclaredField("theUnsafe");
        f.setAccessible(true);
        Method m = u.getMethod("invokeCleaner", ByteBuffer.class);
        m.invoke(f.get(null), b);
    }

    static MappedByteBuffer map(int bytes) throws Exception {
        Path file = Files.createTempFile(Path.of("."), "map-", ".bin");
        Files.write(file, new byte[bytes]);
        try (FileChannel fc = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            return fc.map(FileChannel.MapMode.READ_WRITE, 0, bytes);
        }
    }

    /** A 40 MiB direct buffer (above glibc's largest mmap threshold: its free unmaps), a 4 KiB one, a mapped file. */
    static void kinds() throws Exception {
        ByteBuffer big = ByteBuffer.allocateDirect(40 << 20);
        ByteBuffer small = ByteBuffer.allocateDirect(4096);
        MappedByteBuffer mapped = map(64 << 10);
        big.put(0, (byte) 1);
        mapped.put(0, (byte) 1);
        tracked();
        free(big);
        free(small);
        free(mapped);
    }

    /**
     * Native code unmaps the middle page of a live MappedByteBuffer: the
     * JDK's own JNI munmap (FileChannelImpl.unmap0 on 17,
     * UnixFileDispatcherImpl.unmap0 on 25), called behind the JDK's back.
     * Then an ordinary release of a direct buffer, which must not be DANGLING.
     */
    static void dangling() throws Exception {
        MappedByteBuffer mapped = map(3 * 4096);
        ByteBuffer ordinary = ByteBuffer.allocateDirect(40 << 20);
        tracked();
        TrackedBuffer m = null;
        for (TrackedBuffer b : Ummu.liveBuffers()) {
            if (b.kind() == BufferKind.MAPPED) {
                m = b;
            }
        }
        free(ordinary);
        flush();
        System.out.println("ORDINARY_RELEASED");
        Method unmap0;
        try {
            unmap0 = Class.forName("sun.nio.ch.FileChannelImpl").getDeclaredMethod("unmap0", long.class, long.class);
        } catch (NoSuchMethodException e) {
            unmap0 = Class.forName("sun.nio.ch.UnixFileDispatcherImpl").getDeclaredMethod("unmap0", long.class,
                    long.class);
        }
        unmap0.setAccessible(true);
        long page = m.address() + 4096;
        // Printed before the call: the listener may print DANGLING before munmap has even returned.
        System.out.println("NATIVE_UNMAP " + Long.toHexString(page));
        System.out.println("NATIVE_UNMAP_RC " + unmap0.invoke(null, page, 4096L));
        flush();
        System.out.println("AFTER_NATIVE_UNMAP");
        free(mapped);
    }

    /**
     * No sun.misc.Unsafe anywhere in this JVM (so that a warning on stderr can
     * only come from the agent's Byte Buddy): buffers are released the way an
     * application releases them, by becoming unreachable and collected.
     */
    static void quiet() throws Exception {
        ByteBuffer b = ByteBuffer.allocateDirect(40 << 20);
        b.put(0, (byte) 1);
        tracked();
        long id = -1;
        for (TrackedBuffer t : Ummu.liveBuffers()) {
            if (t.size() == 40 << 20) {
                id = t.id();
            }
        }
        java.util.concurrent.atomic.AtomicBoolean released = new java.util.concurrent.atomic.AtomicBoolean();
        final long wanted = id;
        Ummu.addListener(e -> {
            if (e.type() == BufferEvent.Type.RELEASED && e.buffer().id() == wanted) {
                released.set(true);
            }
        });
        b = null;
        for (int i = 0; i < 200 && !released.get(); i++) {
            System.gc();
            Thread.sleep(50);
            flush();
        }
        System.out.println("GC_RELEASED " + released.get());
    }

    /** The MBean's counters and JFR events for one allocate/free of each kind. */
    static void observe() throws Exception {
        // Events before JFR is initialised (the agent registers its event types only once it is),
        // then a recording: the events after its start must be in it.
        kinds();
        flush();
        jdk.jfr.Recording rec = new jdk.jfr.Recording();
        rec.enable("io.ummu.Released");
        rec.enable("io.ummu.Unmapped");
        rec.start();
        kinds();
        flush();
        rec.stop();
        Path dump = Files.createTempFile(Path.of("."), "rec-", ".jfr");
        rec.dump(dump);
        rec.close();
        java.util.Map<String, Integer> counts = new java.util.TreeMap<>();
        for (jdk.jfr.consumer.RecordedEvent e : jdk.jfr.consumer.RecordingFile.readAllEvents(dump)) {
            counts.merge(e.getEventType().getName(), 1, Integer::sum);
            if (e.getEventType().getName().equals("io.ummu.Released")) {
                System.out.println("JFR_RELEASED_KIND " + e.getString("kind") + " " + e.getLong("size"));
            }
        }
        System.out.println("JFR " + counts);
        ObjectName name = new ObjectName("io.ummu:type=Agent");
        for (String a : new String[] {"Backend", "Tracked", "Released", "ReleasedWithKernelUnmap", "Unmapped",
            "Dangling", "LiveBuffers"}) {
            System.out.println("MX_" + a + " " + ManagementFactory.getPlatformMBeanServer().getAttribute(name, a));
        }
    }

    /**
     * One buffer at a time after pauses of growing length, each waited for by
     * its RELEASED event alone: no flush (a flush wakes the dispatcher itself).
     * The pauses cross the dispatcher's short timed parks and its sleep
     * without a timeout, from which only the hook's own wake-up can get it out.
     */
    static void idle() throws Exception {
        java.util.concurrent.ConcurrentHashMap<Long, java.util.concurrent.CountDownLatch> waiting =
                new java.util.concurrent.ConcurrentHashMap<>();
        Ummu.addListener(e -> {
            if (e.type() == BufferEvent.Type.RELEASED) {
                java.util.concurrent.CountDownLatch l = waiting.get(e.buffer().size());
                if (l != null) {
                    l.countDown();
                }
            }
        });
        long[] pausesMillis = {0, 1, 3, 10, 50, 300, 1500};
        int delivered = 0;
        for (int i = 0; i < pausesMillis.length; i++) {
            Thread.sleep(pausesMillis[i]);
            long size = 4096 + 16 * i; // the listener tells the buffers apart by size
            java.util.concurrent.CountDownLatch l = new java.util.concurrent.CountDownLatch(1);
            waiting.put(size, l);
            free(ByteBuffer.allocateDirect((int) size));
            // A generous bound, not a measurement: a lost wake-up never delivers.
            boolean ok = l.await(60, java.util.concurrent.TimeUnit.SECONDS);
            System.out.println("IDLE_RELEASED " + pausesMillis[i] + " " + ok);
            if (ok) {
                delivered++;
            }
        }
        System.out.println("IDLE_DELIVERED " + delivered + " of " + pausesMillis.length);
    }

    static void cycles(int n) throws Exception {
        for (int i = 0; i < n; i++) {
            free(ByteBuffer.allocateDirect(4096));
        }
    }

    /** Threads allocating and releasing, one listener that always throws, one that counts. */
    static void threads(int threads, int perThread) throws Exception {
        AtomicLong released = new AtomicLong();
        AtomicLong dangling = new AtomicLong();
        Ummu.addListener(e -> {
            throw new IllegalStateException("listener failure on purpose");
        });
        Ummu.addListener(e -> {
            if (e.type() == BufferEvent.Type.RELEASED) {
                released.incrementAndGet();
            } else if (e.type() == BufferEvent.Type.DANGLING && dangling.incrementAndGet() <= 5) {
                // Every buffer here is freed through its cleaner only: none can be DANGLING.
                print(e);
            }
        });
        Thread[] ts = new Thread[threads];
        for (int t = 0; t < threads; t++) {
            final int seed = t;
            ts[t] = new Thread(() -> {
                try {
                    java.util.Random r = new java.util.Random(seed);
                    ByteBuffer keep = null;
                    for (int i = 0; i < perThread; i++) {
                        int size = (i % 1000 == 999) ? (33 << 20) : 1 + r.nextInt(256 << 10);
                        ByteBuffer b = ByteBuffer.allocateDirect(size);
                        b.put(0, (byte) i);
                        if (i % 3 == 0) {
                            ByteBuffer old = keep;
                            keep = b;
                            if (old != null) {
                                free(old);
                            }
                        } else {
                            free(b);
                        }
                        if (i % 5000 == 0) {
                            MappedByteBuffer mb = map(8192);
                            free(mb);
                        }
                    }
                    if (keep != null) {
                        free(keep);
                    }
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            }, "alloc-" + t);
            ts[t].start();
        }
        for (Thread t : ts) {
            t.join();
        }
        flush();
        System.out.println("RELEASED_SEEN " + released.get());
        System.out.println("DANGLING_SEEN " + dangling.get());
        Object errors = ManagementFactory.getPlatformMBeanServer().getAttribute(new ObjectName("io.ummu:type=Agent"),
                "ListenerErrors");
        System.out.println("LISTENER_ERRORS " + errors);
        Object tracked = ManagementFactory.getPlatformMBeanServer().getAttribute(new ObjectName("io.ummu:type=Agent"),
                "Tracked");
        System.out.println("TRACKED_TOTAL " + tracked);
    }
}
