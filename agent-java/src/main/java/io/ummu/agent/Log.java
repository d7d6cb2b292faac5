package io.ummu.agent;

/**
 * The agent's few lines on stderr, each prefixed "[ummu] ". Not a logging
 * framework on purpose: the agent runs inside arbitrary applications, before
 * their logging is configured, and must not load or configure anything of theirs.
 */
final class Log {
    static final int OFF = 0;
    static final int ERROR = 1;
    static final int WARN = 2;
    static final int INFO = 3;
    static final int DEBUG = 4;

    static volatile int level = INFO;

    private Log() {
    }

    static int parseLevel(String s) {
        switch (s.trim().toLowerCase(java.util.Locale.ROOT)) {
            case "off": return OFF;
            case "error": return ERROR;
            case "warn": case "warning": return WARN;
            case "info": return INFO;
            case "debug": case "trace": return DEBUG;
            default: throw new IllegalArgumentException("logLevel: expected off|error|warn|info|debug, got '" + s + "'");
        }
    }

    static boolean on(int l) {
        return l <= level;
    }

    static void error(String msg) {
        print(ERROR, "ERROR ", msg);
    }

    static void warn(String msg) {
        print(WARN, "WARN ", msg);
    }

    static void info(String msg) {
        print(INFO, "", msg);
    }

    static void debug(String msg) {
        print(DEBUG, "debug ", msg);
    }

    private static void print(int l, String tag, String msg) {
        if (l <= level) {
            System.err.println("[ummu] " + tag + msg);
        }
    }

    /** "ExceptionClass: message" without a stack trace: one line, as promised. */
    static String brief(Throwable t) {
        String m = t.getMessage();
        return m == null ? t.getClass().getName() : t.getClass().getSimpleName() + ": " + m;
    }
}
