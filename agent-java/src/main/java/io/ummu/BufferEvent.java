package io.ummu;

import java.util.Set;

/** Something happened to the memory behind a {@link TrackedBuffer}. Immutable. */
public final class BufferEvent {
    public enum Type {
        /**
         * The kernel invalidated (part of) the buffer's range: unmapped,
         * remapped, contents discarded, or, with the module, a translation
         * change such as migration. {@link #start()}/{@link #end()} is the
         * affected sub-range when {@link #exact()}, else the whole buffer.
         */
        UNMAPPED,
        /**
         * The JDK freed or unmapped the buffer. {@link #kernelUnmapped()} says
         * whether the kernel reported that the memory went away (a free that
         * glibc served from its heap unmaps nothing).
         */
        RELEASED,
        /**
         * The memory behind a buffer that the JDK still considers live was
         * unmapped or discarded: something outside the JDK (native code,
         * munmap through FFM) took it away. Touching the buffer now reads
         * other memory or crashes.
         */
        DANGLING
    }

    private final Type type;
    private final TrackedBuffer buffer;
    private final long start;
    private final long end;
    private final boolean exact;
    private final Set<Cause> causes;
    private final boolean kernelUnmapped;
    private final String backend;

    /** For the agent; applications receive events, they do not make them. */
    public BufferEvent(Type type, TrackedBuffer buffer, long start, long end, boolean exact, Set<Cause> causes,
                       boolean kernelUnmapped, String backend) {
        this.type = type;
        this.buffer = buffer;
        this.start = start;
        this.end = end;
        this.exact = exact;
        this.causes = Set.copyOf(causes);
        this.kernelUnmapped = kernelUnmapped;
        this.backend = backend;
    }

    public Type type() {
        return type;
    }

    public TrackedBuffer buffer() {
        return buffer;
    }

    /** @return first affected byte (for RELEASED: the buffer's address) */
    public long start() {
        return start;
    }

    /** @return one past the last affected byte */
    public long end() {
        return end;
    }

    /** @return true when start/end is the exact affected sub-range, false when it is the whole buffer */
    public boolean exact() {
        return exact;
    }

    /** @return the kernel's causes; empty for RELEASED and when the backend gives none */
    public Set<Cause> causes() {
        return causes;
    }

    /** @return for RELEASED: whether the kernel reported the memory unmapped or discarded while watched */
    public boolean kernelUnmapped() {
        return kernelUnmapped;
    }

    /** @return the backend that reported it ("ummunotify", "userfaultfd", "jvm") */
    public String backend() {
        return backend;
    }

    /** @return one line (several for DANGLING with a sampled stack) saying what happened, where, and what to do */
    public String message() {
        StringBuilder b = new StringBuilder();
        b.append(type).append(' ').append(buffer.kind()).append(" buffer #").append(buffer.id())
                .append(" [0x").append(Long.toHexString(buffer.address()))
                .append(", 0x").append(Long.toHexString(buffer.end())).append(") ").append(buffer.size()).append(" bytes");
        switch (type) {
            case RELEASED:
                b.append(kernelUnmapped ? ", kernel confirmed the unmap" : ", no unmap reported by the kernel");
                break;
            case UNMAPPED:
                b.append(": kernel invalidated ").append(range()).append(" causes=").append(causes);
                break;
            case DANGLING:
                b.append(": memory ").append(range()).append(" was taken away (").append(causes)
                        .append(") while the JVM still considers the buffer live; allocated by thread '")
                        .append(buffer.allocatingThread()).append("'. Any access through it now reads unrelated"
                                + " memory or crashes: find the native code that unmapped it, or stop using the buffer.");
                StackTraceElement[] st = buffer.allocationStack();
                if (st.length == 0) {
                    b.append(" (allocation stack: enable with -javaagent:ummu.jar=stackSampling=1)");
                } else {
                    b.append(" Allocated at:");
                    for (StackTraceElement e : st) {
                        b.append("\n\tat ").append(e);
                    }
                }
                break;
            default:
                break;
        }
        return b.toString();
    }

    private String range() {
        return (exact ? "" : "(whole buffer) ") + "[0x" + Long.toHexString(start) + ", 0x" + Long.toHexString(end) + ")";
    }

    @Override
    public String toString() {
        return message();
    }
}
