package io.ummu.agent;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

import io.ummu.BufferKind;

/**
 * The agent's options. Each key can be given three ways; the first that is
 * set wins:
 * <ol>
 * <li>the agent argument: {@code -javaagent:ummu.jar=key=value,key=value}
 *     (also the argument of a late {@code VirtualMachine.loadAgent});</li>
 * <li>a system property {@code -Dummu.<key>=value};</li>
 * <li>an environment variable {@code UMMU_<KEY>} (upper case, camel case
 *     split with '_': {@code minSize} is {@code UMMU_MIN_SIZE}).</li>
 * </ol>
 * Keys: see {@link #KEYS}. Unknown keys in the agent argument are warned about;
 * a bad value is an error that disables the agent (fail open) rather than a
 * silently different configuration.
 */
final class Options {
    /** Key, default, meaning. */
    static final String[][] KEYS = {
        {"backend", "auto", "auto | ummunotify | userfaultfd | jvm (no kernel backend: RELEASED only)"},
        {"kinds", "direct+mapped+segment", "what to track, joined with + (or , outside the agent argument): direct, mapped, segment, jni, all"},
        {"minSize", "0", "track only buffers of at least this many bytes (suffix k, m, g allowed)"},
        {"stackSampling", "0", "record the allocation stack of every Nth tracked buffer; 0 = never"},
        {"logLevel", "info", "off | error | warn | info | debug"},
        {"jfr", "true", "emit JFR events io.ummu.* (disabled in JFR settings by default)"},
        {"jmx", "true", "register the MBean io.ummu:type=Agent"},
        {"exitReport", "false", "print counters and live buffers when the JVM exits"},
        {"enabled", "true", "false: install nothing"},
    };

    String backend;
    Set<BufferKind> kinds;
    long minSize;
    int stackSampling;
    int logLevel;
    boolean jfr;
    boolean jmx;
    boolean exitReport;
    boolean enabled;
    final List<String> warnings = new ArrayList<>();

    static Options parse(String agentArgs, Map<String, String> env, java.util.Properties sys) {
        Map<String, String> args = new LinkedHashMap<>();
        Options o = new Options();
        if (agentArgs != null && !agentArgs.isBlank()) {
            for (String part : agentArgs.split(",")) {
                if (part.isBlank()) {
                    continue;
                }
                int eq = part.indexOf('=');
                String k = (eq < 0 ? part : part.substring(0, eq)).trim();
                String v = eq < 0 ? "true" : part.substring(eq + 1).trim();
                if (known(k)) {
                    args.put(k, v);
                } else {
                    o.warnings.add("unknown agent option '" + k + "' ignored (known: " + names() + ")");
                }
            }
        }
        o.backend = get("backend", args, env, sys).toLowerCase(Locale.ROOT);
        if (!List.of("auto", "ummunotify", "userfaultfd", "jvm").contains(o.backend)) {
            throw new IllegalArgumentException("backend: expected auto|ummunotify|userfaultfd|jvm, got '" + o.backend + "'");
        }
        o.kinds = parseKinds(get("kinds", args, env, sys));
        o.minSize = parseSize(get("minSize", args, env, sys));
        o.stackSampling = Integer.parseInt(get("stackSampling", args, env, sys).trim());
        if (o.stackSampling < 0) {
            throw new IllegalArgumentException("stackSampling: must be >= 0, got " + o.stackSampling);
        }
        o.logLevel = Log.parseLevel(get("logLevel", args, env, sys));
        o.jfr = parseBool("jfr", get("jfr", args, env, sys));
        o.jmx = parseBool("jmx", get("jmx", args, env, sys));
        o.exitReport = parseBool("exitReport", get("exitReport", args, env, sys));
        o.enabled = parseBool("enabled", get("enabled", args, env, sys));
        return o;
    }

    private static boolean known(String k) {
        for (String[] d : KEYS) {
            if (d[0].equals(k)) {
                return true;
            }
        }
        return false;
    }

    private static String names() {
        StringBuilder b = new StringBuilder();
        for (String[] d : KEYS) {
            b.append(b.length() == 0 ? "" : ", ").append(d[0]);
        }
        return b.toString();
    }

    /** minSize -> MIN_SIZE */
    static String envName(String key) {
        return "UMMU_" + key.replaceAll("([a-z])([A-Z])", "$1_$2").toUpperCase(Locale.ROOT);
    }

    private static String get(String key, Map<String, String> args, Map<String, String> env, java.util.Properties sys) {
        String v = args.get(key);
        if (v == null) {
            v = sys.getProperty("ummu." + key);
        }
        if (v == null) {
            v = env.get(envName(key));
        }
        if (v == null) {
            for (String[] d : KEYS) {
                if (d[0].equals(key)) {
                    v = d[1];
                }
            }
        }
        return v;
    }

    static Set<BufferKind> parseKinds(String s) {
        Set<BufferKind> set = EnumSet.noneOf(BufferKind.class);
        for (String p : s.split("[+,;:| ]")) {
            switch (p.trim().toLowerCase(Locale.ROOT)) {
                case "": break;
                case "all": set.addAll(EnumSet.allOf(BufferKind.class)); break;
                case "direct": set.add(BufferKind.DIRECT); break;
                case "mapped": set.add(BufferKind.MAPPED); break;
                case "segment": case "native_segment": set.add(BufferKind.NATIVE_SEGMENT); break;
                case "jni": set.add(BufferKind.JNI); break;
                default: throw new IllegalArgumentException("kinds: unknown kind '" + p + "' (direct, mapped, segment, jni, all)");
            }
        }
        return set;
    }

    static long parseSize(String s) {
        String t = s.trim().toLowerCase(Locale.ROOT);
        long mul = 1;
        if (t.endsWith("k")) {
            mul = 1L << 10;
        } else if (t.endsWith("m")) {
            mul = 1L << 20;
        } else if (t.endsWith("g")) {
            mul = 1L << 30;
        }
        if (mul != 1) {
            t = t.substring(0, t.length() - 1);
        }
        long v;
        try {
            v = Long.parseLong(t) * mul;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("minSize: expected bytes with optional k/m/g suffix, got '" + s + "'");
        }
        if (v < 0) {
            throw new IllegalArgumentException("minSize: must be >= 0, got '" + s + "'");
        }
        return v;
    }

    private static boolean parseBool(String key, String s) {
        switch (s.trim().toLowerCase(Locale.ROOT)) {
            case "true": case "yes": case "on": case "1": return true;
            case "false": case "no": case "off": case "0": return false;
            default: throw new IllegalArgumentException(key + ": expected true|false, got '" + s + "'");
        }
    }

    @Override
    public String toString() {
        return "backend=" + backend + " kinds=" + kinds + " minSize=" + minSize + " stackSampling=" + stackSampling
                + " jfr=" + jfr + " jmx=" + jmx + " exitReport=" + exitReport;
    }
}
