package io.ummu.agent;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/** Parsed "EV" and "TRACKED" lines of {@link AgentChild}. */
final class Events {
    static final class Ev {
        String type;
        String kind;
        long id;
        boolean kernelUnmapped;
        boolean exact;
        long start;
        long end;
        String causes;
        int line;

        @Override
        public String toString() {
            return type + " " + kind + " #" + id + " kernelUnmapped=" + kernelUnmapped + " " + causes;
        }
    }

    static final class Tracked {
        String kind;
        long id;
        long address;
        long size;
        boolean watched;
    }

    private Events() {
    }

    static List<Ev> events(List<String> out) {
        List<Ev> l = new ArrayList<>();
        for (int i = 0; i < out.size(); i++) {
            String s = out.get(i);
            if (!s.startsWith("EV ")) {
                continue;
            }
            String[] f = s.split(" ");
            Ev e = new Ev();
            e.type = f[1];
            e.kind = f[2];
            e.id = Long.parseLong(f[3]);
            e.kernelUnmapped = Boolean.parseBoolean(f[4]);
            e.exact = Boolean.parseBoolean(f[5]);
            e.start = Long.parseUnsignedLong(f[6], 16);
            e.end = Long.parseUnsignedLong(f[7], 16);
            e.causes = f[8];
            e.line = i;
            l.add(e);
        }
        return l;
    }

    static List<Tracked> tracked(List<String> out) {
        List<Tracked> l = new ArrayList<>();
        for (String s : out) {
            if (!s.startsWith("TRACKED ")) {
                continue;
            }
            String[] f = s.split(" ");
            Tracked t = new Tracked();
            t.kind = f[1];
            t.id = Long.parseLong(f[2]);
            t.address = Long.parseUnsignedLong(f[3], 16);
            t.size = Long.parseLong(f[4]);
            t.watched = Boolean.parseBoolean(f[5]);
            l.add(t);
        }
        return l;
    }

    static Tracked find(List<Tracked> l, String kind, long size) {
        for (Tracked t : l) {
            if (t.kind.equals(kind) && t.size == size) {
                return t;
            }
        }
        throw new AssertionError("no tracked " + kind + " buffer of " + size + " bytes among "
                + l.stream().map(t -> t.kind + "/" + t.size).collect(Collectors.toList()));
    }

    static List<Ev> of(List<Ev> l, String type, long id) {
        return l.stream().filter(e -> e.type.equals(type) && e.id == id).collect(Collectors.toList());
    }

    static List<Ev> of(List<Ev> l, String type) {
        return l.stream().filter(e -> e.type.equals(type)).collect(Collectors.toList());
    }

    static int lineOf(List<String> out, String prefix) {
        for (int i = 0; i < out.size(); i++) {
            if (out.get(i).startsWith(prefix)) {
                return i;
            }
        }
        throw new AssertionError("no line starting with " + prefix + " in " + out);
    }
}
