package io.ummu.agent;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Starts a real JVM (the one running the tests: 25 or 17) with the agent jar,
 * waits for it, and hands back what it printed. Every child gets its own
 * directory and -XX:ErrorFile there, so a crash is caught as an hs_err file.
 */
final class ChildJvm {
    static final int FEATURE = Runtime.version().feature();

    final List<String> jvmArgs = new ArrayList<>();
    final java.util.HashMap<String, String> env = new java.util.HashMap<>();
    String agentArgs;
    boolean agent = true;
    long timeoutSeconds = 300;
    Path dir;

    /**
     * The packaged ummu.jar the tests run against: -Dummu.test.jar, else the
     * class path entry named ummu.jar (failsafe puts target/ummu.jar there;
     * the in-VM runner puts /opt/ummu/ummu.jar there).
     */
    static Path agentJar() {
        String explicit = System.getProperty("ummu.test.jar");
        Path p = null;
        if (explicit != null) {
            p = Path.of(explicit);
        } else {
            for (String e : classPath()) {
                if (Path.of(e).getFileName() != null && Path.of(e).getFileName().toString().equals("ummu.jar")) {
                    p = Path.of(e);
                }
            }
        }
        assertTrue(p != null && Files.isRegularFile(p), "agent jar " + p + " is missing from the class path "
                + classPath() + ": run ./mvnw verify (it packages ummu.jar first) or pass -Dummu.test.jar");
        return p.toAbsolutePath();
    }

    static List<String> classPath() {
        return Arrays.asList(System.getProperty("java.class.path").split(File.pathSeparator));
    }

    static String java() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    ChildJvm arg(String... a) {
        jvmArgs.addAll(Arrays.asList(a));
        return this;
    }

    Result run(String mainClass, String... args) throws IOException, InterruptedException {
        dir = Files.createTempDirectory("ummu-agent-test-");
        List<String> cmd = new ArrayList<>();
        cmd.add(java());
        if (agent) {
            cmd.add("-javaagent:" + agentJar() + (agentArgs == null ? "" : "=" + agentArgs));
        }
        cmd.add("-XX:ErrorFile=" + dir.resolve("hs_err_pid%p.log"));
        if (FEATURE >= 22) {
            cmd.add("--enable-native-access=ALL-UNNAMED");
        }
        cmd.add("--add-opens");
        cmd.add("java.base/sun.nio.ch=ALL-UNNAMED");
        cmd.addAll(jvmArgs);
        cmd.add("-cp");
        // The test's own class path: the test classes, ummu.jar and JUnit (unused by the children).
        // Absolute: the child runs in its own directory.
        cmd.add(classPath().stream().map(e -> Path.of(e).toAbsolutePath().toString())
                .collect(Collectors.joining(File.pathSeparator)));
        cmd.add(mainClass);
        cmd.addAll(Arrays.asList(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile());
        pb.environment().putAll(env);
        Path out = dir.resolve("stdout.txt");
        Path err = dir.resolve("stderr.txt");
        pb.redirectOutput(out.toFile()).redirectError(err.toFile()).redirectInput(ProcessBuilder.Redirect.PIPE);
        Process p = pb.start();
        Result r = new Result();
        r.process = p;
        r.cmd = cmd;
        r.outFile = out;
        r.errFile = err;
        return r;
    }

    final class Result {
        Process process;
        List<String> cmd;
        Path outFile;
        Path errFile;
        int exit;
        List<String> out;
        String err;

        Result await() throws IOException, InterruptedException {
            if (!process.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor();
                read();
                fail("child JVM did not finish within " + timeoutSeconds + " s (deadlock?)\n" + this);
            }
            exit = process.exitValue();
            read();
            try (Stream<Path> s = Files.list(dir)) {
                List<Path> crashes = s.filter(f -> f.getFileName().toString().startsWith("hs_err"))
                        .collect(Collectors.toList());
                if (!crashes.isEmpty()) {
                    fail("child JVM crashed: " + crashes + "\n" + Files.readString(crashes.get(0)).substring(0, 3000));
                }
            }
            System.out.println("child " + cmd + " exited " + exit);
            return this;
        }

        private void read() throws IOException {
            out = Files.readAllLines(outFile);
            err = Files.readString(errFile);
        }

        Result assertOk() {
            if (exit != 0) {
                fail("child exited " + exit + "\n" + this);
            }
            return this;
        }

        List<String> lines(String prefix) {
            return out.stream().filter(l -> l.startsWith(prefix + " ")).map(l -> l.substring(prefix.length() + 1))
                    .collect(Collectors.toList());
        }

        String value(String prefix) {
            List<String> l = lines(prefix);
            if (l.isEmpty()) {
                fail("child printed no '" + prefix + "' line\n" + this);
            }
            return l.get(l.size() - 1);
        }

        @Override
        public String toString() {
            return "command: " + String.join(" ", cmd) + "\n--- stdout ---\n" + String.join("\n", out)
                    + "\n--- stderr ---\n" + err;
        }
    }
}
