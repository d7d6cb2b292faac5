package io.ummu.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.jar.JarOutputStream;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The loader: extraction into a private directory, reuse only of a verified
 * copy, refusal of symlinks, the explicit path, the noexec advice. Every
 * scenario but the first runs in a child JVM, because a JVM loads once.
 */
class NativeLibraryTest {
    @TempDir
    Path tmp;

    @Test
    void thisJvmLoadedTheBundledLibraryFromThePackagedJar() throws Exception {
        assertNull(NativeLibrary.loadFailure(), () -> "load failed: " + NativeLibrary.loadFailure());
        assertTrue(NativeLibrary.isLoaded());
        assertEquals(Native.ABI_VERSION, Native.abiVersion());
        assertEquals("META-INF/native/linux-x86_64/libummu.so", NativeLibrary.resourcePath());
        // The tests run against ummu.jar with agent-native's jar excluded:
        // the resource must come from ummu.jar itself.
        String where = NativeLibrary.class.getResource("/" + NativeLibrary.resourcePath()).toString();
        assertTrue(where.startsWith("jar:") && where.contains("ummu.jar!"), where);
        Path from = Paths.get(NativeLibrary.loadedFrom());
        assertEquals("libummu-" + bundledSha256() + ".so", from.getFileName().toString());
        assertEquals("rwx------", PosixFilePermissions.toString(
                Files.getPosixFilePermissions(from.getParent(), LinkOption.NOFOLLOW_LINKS)));
        assertFalse(Files.isSymbolicLink(from));
    }

    @Test
    void thePackagedJarCarriesTheBuildTimeHashOfTheLibraryItPackages() throws Exception {
        // A stale hash would name one version's copy after another's bytes.
        try (JarFile jar = new JarFile(ummuJar().toFile(), false)) {
            JarEntry lib = jar.getJarEntry(NativeLibrary.resourcePath());
            JarEntry sum = jar.getJarEntry(NativeLibrary.resourcePath() + ".sha256");
            assertNotNull(lib, "libummu.so in " + ummuJar());
            assertNotNull(sum, "libummu.so.sha256 in " + ummuJar());
            String actual;
            try (InputStream in = jar.getInputStream(lib)) {
                actual = sha256(in.readAllBytes());
            }
            String text;
            try (InputStream in = jar.getInputStream(sum)) {
                text = new String(in.readAllBytes(), StandardCharsets.US_ASCII);
            }
            assertEquals(actual + "  libummu.so\n", text, "sha256sum's format, of the packaged bytes");
        }
    }

    @Test
    void parsesOnlyAWellFormedHashFile() {
        String h = "0123456789abcdef".repeat(4);
        assertEquals(h, NativeLibrary.parseHash((h + "  libummu.so\n").getBytes(StandardCharsets.US_ASCII)));
        assertEquals(h, NativeLibrary.parseHash(h.getBytes(StandardCharsets.US_ASCII)));
        assertNull(NativeLibrary.parseHash(null));
        assertNull(NativeLibrary.parseHash(h.substring(1).getBytes(StandardCharsets.US_ASCII)));
        assertNull(NativeLibrary.parseHash(h.toUpperCase(java.util.Locale.ROOT).getBytes(StandardCharsets.US_ASCII)));
        assertNull(NativeLibrary.parseHash((h + "0  libummu.so").getBytes(StandardCharsets.US_ASCII)));
        assertNull(NativeLibrary.parseHash(("../../" + h).getBytes(StandardCharsets.US_ASCII)));
    }

    @Test
    void recognisesItsOwnCopiesAndTemporariesByName() {
        String h = "0123456789abcdef".repeat(4);
        assertTrue(NativeLibrary.isCopyName("libummu-" + h + ".so"));
        assertTrue(NativeLibrary.isCopyName("libummu-" + h + ".so.1f2e3d.tmp"), "an older version's temporary");
        assertTrue(NativeLibrary.isCopyName("libummu-" + h + ".so.3039-5f5e100.tmp"), "this version's temporary");
        assertFalse(NativeLibrary.isCopyName("libummu-" + h + ".so.tmp"));
        assertFalse(NativeLibrary.isCopyName("libummu-" + h + ".so.-1.tmp"));
        assertFalse(NativeLibrary.isCopyName("libummu-" + h + ".so.12-.tmp"));
        assertFalse(NativeLibrary.isCopyName("libummu-" + h + ".so.12-34.tmpx"));
        assertFalse(NativeLibrary.isCopyName("libummu-" + h.substring(1) + ".so"));
        assertFalse(NativeLibrary.isCopyName("libummu-" + h + "0.so"));
        assertFalse(NativeLibrary.isCopyName("libummu-notes.txt"));
        assertFalse(NativeLibrary.isCopyName("libummu.so"));
    }

    /**
     * Neither extracting nor reusing a copy may set up the security providers
     * (MessageDigest, SecureRandom) or search the JDK's image for the resource
     * (JarURLConnection): that was most of what loading the library cost a
     * JVM start.
     */
    @Test
    void loadingNeitherHashesNorSearchesTheJdkImage() throws Exception {
        for (String run : List.of("extracting", "reusing")) {
            Result res = run(javaCommand(List.of("-Dummu.tmpdir=" + tmp, "-verbose:class")), Map.of());
            Map<String, String> r = parse(res);
            assertEquals("true", r.get("loaded"), run + ": " + r);
            assertTrue(res.out.contains("io.ummu.internal.NativeLibrary "), run + ": the log lists class loads");
            for (String cls : List.of("java.security.MessageDigest ", "java.security.SecureRandom ",
                    "sun.security.jca.Providers ", "sun.net.www.protocol.jar.JarURLConnection ")) {
                assertFalse(res.out.contains(cls), run + " loaded " + cls);
            }
        }
    }

    @Test
    void aJarWithoutTheHashFileStillLoadsUnderTheSameName() throws Exception {
        for (byte[] sum : new byte[][] {null, "not a hash\n".getBytes(StandardCharsets.US_ASCII)}) {
            Path jar = tmp.resolve(sum == null ? "no-sum.jar" : "bad-sum.jar");
            copyJarReplacing(ummuJar(), jar, NativeLibrary.resourcePath() + ".sha256", sum);
            Path dir = Files.createDirectory(tmp.resolve(sum == null ? "t1" : "t2"));
            Map<String, String> r = parse(run(javaCommand(List.of("-Dummu.tmpdir=" + dir), jar), Map.of()));
            assertEquals("true", r.get("loaded"), r.toString());
            assertEquals("libummu-" + bundledSha256() + ".so", Paths.get(r.get("from")).getFileName().toString(),
                    "hashed at run time instead");
        }
    }

    @Test
    void extractsIntoAnOwnerOnlyDirectoryUnderUmmuTmpdir() throws Exception {
        Map<String, String> r = probe(List.of("-Dummu.tmpdir=" + tmp), Map.of());
        assertEquals("true", r.get("loaded"), r.toString());
        Path from = Paths.get(r.get("from"));
        Path dir = from.getParent();
        assertEquals(tmp, dir.getParent());
        assertTrue(dir.getFileName().toString().matches("ummu-\\d+"), dir.toString());
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir)));
        assertEquals("r-x------", PosixFilePermissions.toString(Files.getPosixFilePermissions(from)));
        assertEquals(bundledSha256(), sha256(Files.readAllBytes(from)));
        assertEquals(String.valueOf(Native.ABI_VERSION), r.get("abi"));
    }

    @Test
    void environmentVariableUmmuTmpdirWorksToo() throws Exception {
        Map<String, String> r = probe(List.of(), Map.of("UMMU_TMPDIR", tmp.toString()));
        assertEquals("true", r.get("loaded"), r.toString());
        assertEquals(tmp, Paths.get(r.get("from")).getParent().getParent());
    }

    @Test
    void xdgRuntimeDirIsPreferredOverJavaIoTmpdir() throws Exception {
        Path xdg = Files.createDirectory(tmp.resolve("xdg"));
        Map<String, String> r = probe(List.of("-Djava.io.tmpdir=" + tmp.resolve("nope")),
                Map.of("XDG_RUNTIME_DIR", xdg.toString()));
        assertEquals("true", r.get("loaded"), r.toString());
        assertEquals(xdg.resolve("ummu"), Paths.get(r.get("from")).getParent());
    }

    @Test
    void reusesAVerifiedCopyAndReplacesATamperedOne() throws Exception {
        Map<String, String> first = probe(List.of("-Dummu.tmpdir=" + tmp), Map.of());
        Path copy = Paths.get(first.get("from"));
        FileTime recent = FileTime.fromMillis(System.currentTimeMillis() - 600_000L);
        Files.setLastModifiedTime(copy, recent);
        Object inode = Files.getAttribute(copy, "unix:ino");
        Map<String, String> reused = probe(List.of("-Dummu.tmpdir=" + tmp), Map.of());
        assertEquals(copy.toString(), reused.get("from"));
        assertEquals(recent, Files.getLastModifiedTime(copy), "a copy used within the hour keeps its mtime");

        FileTime old = FileTime.fromMillis(System.currentTimeMillis() - 2 * 3_600_000L);
        Files.setLastModifiedTime(copy, old);
        Map<String, String> second = probe(List.of("-Dummu.tmpdir=" + tmp), Map.of());
        assertEquals(copy.toString(), second.get("from"));
        assertEquals(inode, Files.getAttribute(copy, "unix:ino"), "a good copy is reused, not rewritten");
        assertNotEquals(old, Files.getLastModifiedTime(copy), "reuse refreshes an hour-old mtime (stale sweep)");

        // Same name, wrong bytes: must not be loaded.
        Files.setPosixFilePermissions(copy, PosixFilePermissions.fromString("rw-------"));
        Files.write(copy, "not a library".getBytes(StandardCharsets.US_ASCII));
        Map<String, String> third = probe(List.of("-Dummu.tmpdir=" + tmp), Map.of());
        assertEquals("true", third.get("loaded"), third.toString());
        assertEquals(bundledSha256(), sha256(Files.readAllBytes(copy)));
    }

    @Test
    void sweepsStaleCopiesOfOtherVersionsButNotFreshOnes() throws Exception {
        Map<String, String> first = probe(List.of("-Dummu.tmpdir=" + tmp), Map.of());
        Path dir = Paths.get(first.get("from")).getParent();
        Path stale = dir.resolve("libummu-" + "0".repeat(64) + ".so");
        Path staleTmp = dir.resolve("libummu-" + "2".repeat(64) + ".so.1a2b-3c4d.tmp");
        Path fresh = dir.resolve("libummu-" + "1".repeat(64) + ".so");
        Path foreign = dir.resolve("libummu-notes.txt");
        for (Path p : List.of(stale, staleTmp, fresh, foreign)) {
            Files.write(p, new byte[] {1});
            Files.setLastModifiedTime(p, FileTime.fromMillis(System.currentTimeMillis() - 2 * 86_400_000L));
        }
        Files.setLastModifiedTime(fresh, FileTime.fromMillis(System.currentTimeMillis()));
        // Force an extraction (not a reuse) so the sweep runs.
        Files.delete(Paths.get(first.get("from")));
        Map<String, String> r = probe(List.of("-Dummu.tmpdir=" + tmp), Map.of());
        assertEquals("true", r.get("loaded"), r.toString());
        assertFalse(Files.exists(stale), "a day-old copy of another version is removed");
        assertFalse(Files.exists(staleTmp), "a day-old temporary is removed");
        assertTrue(Files.exists(fresh), "a recently used copy stays");
        assertTrue(Files.exists(foreign), "files that are not ours by name stay");
    }

    @Test
    void refusesADirectoryThatIsASymlink() throws Exception {
        Path elsewhere = Files.createDirectory(tmp.resolve("elsewhere"));
        Files.setPosixFilePermissions(elsewhere, PosixFilePermissions.fromString("rwx------"));
        Path parent = Files.createDirectory(tmp.resolve("parent"));
        Files.createSymbolicLink(parent.resolve("ummu-" + myUid()), elsewhere);
        Map<String, String> r = probe(List.of("-Dummu.tmpdir=" + parent), Map.of());
        assertEquals("false", r.get("loaded"), r.toString());
        assertTrue(r.get("failure").contains("is not a directory (a symlink?)"), r.get("failure"));
        try (Stream<Path> s = Files.list(elsewhere)) {
            assertEquals(0, s.count(), "nothing was written through the link");
        }
    }

    @Test
    void removesASymlinkPlantedAtTheLibraryNameInsteadOfFollowingIt() throws Exception {
        Map<String, String> first = probe(List.of("-Dummu.tmpdir=" + tmp), Map.of());
        Path copy = Paths.get(first.get("from"));
        Path decoy = tmp.resolve("decoy.so");
        Files.copy(copy, decoy);
        Files.delete(copy);
        Files.createSymbolicLink(copy, decoy);
        Map<String, String> r = probe(List.of("-Dummu.tmpdir=" + tmp), Map.of());
        assertEquals("true", r.get("loaded"), r.toString());
        assertFalse(Files.isSymbolicLink(copy), "the link was replaced by a real file");
    }

    @Test
    void refusesADirectoryOwnedBySomeoneElse() throws Exception {
        // Another local user who created <tmp>/ummu-<our uid> first could swap
        // the library between our check and our load: never use it.
        assumeTrue(myUid() == 0, "needs root to give a directory to another user");
        Path dir = Files.createDirectory(tmp.resolve("ummu-" + myUid()));
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
        Files.setAttribute(dir, "unix:uid", 65534, LinkOption.NOFOLLOW_LINKS);
        Map<String, String> r = probe(List.of("-Dummu.tmpdir=" + tmp), Map.of());
        assertEquals("false", r.get("loaded"), r.toString());
        assertTrue(r.get("failure").contains("not to this user"), r.get("failure"));
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(0, s.count(), "nothing was written into it");
        }
    }

    @Test
    void tightensAnOwnDirectoryWithLoosePermissions() throws Exception {
        Path dir = Files.createDirectory(tmp.resolve("ummu-" + myUid()));
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwxrwx"));
        Map<String, String> r = probe(List.of("-Dummu.tmpdir=" + tmp), Map.of());
        assertEquals("true", r.get("loaded"), r.toString());
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir)));
    }

    @Test
    void explicitLibraryPathWins() throws Exception {
        Path lib = tmp.resolve("my-libummu.so");
        Files.copy(Paths.get(NativeLibrary.loadedFrom()), lib);
        Map<String, String> r = probe(List.of("-Dummu.library.path=" + lib,
                "-Dummu.tmpdir=" + tmp.resolve("unused")), Map.of());
        assertEquals("true", r.get("loaded"), r.toString());
        assertEquals(lib.toString(), r.get("from"));
        assertFalse(Files.exists(tmp.resolve("unused")), "nothing extracted when a path is given");
    }

    @Test
    void explicitLibraryPathThatDoesNotExistIsReportedNotThrown() throws Exception {
        Map<String, String> r = probe(List.of("-Dummu.library.path=" + tmp.resolve("missing.so")), Map.of());
        assertEquals("false", r.get("loaded"), r.toString());
        assertTrue(r.get("failure").contains("-Dummu.library.path=" + tmp.resolve("missing.so")), r.get("failure"));
        assertTrue(r.get("failure").contains("no such file"), r.get("failure"));
    }

    @Test
    void explicitLibraryPathToSomethingElseIsReportedNotThrown() throws Exception {
        Path junk = tmp.resolve("junk.so");
        Files.write(junk, "not an ELF file".getBytes(StandardCharsets.US_ASCII));
        Map<String, String> r = probe(List.of("-Dummu.library.path=" + junk), Map.of());
        assertEquals("false", r.get("loaded"), r.toString());
        assertTrue(r.get("failure").contains(junk.toString()), r.get("failure"));
    }

    @Test
    void noexecFailureMessageSaysWhatToSet() {
        UnsatisfiedLinkError raw = new UnsatisfiedLinkError(
                "/t/ummu-0/libummu-x.so: /t/ummu-0/libummu-x.so: failed to map segment from shared object");
        String extracted = NativeLibrary.explainLoadFailure(Paths.get("/t/ummu-0/libummu-x.so"), null, raw)
                .getMessage();
        assertTrue(extracted.contains("noexec"), extracted);
        assertTrue(extracted.contains("-Dummu.tmpdir=") && extracted.contains("UMMU_TMPDIR=")
                && extracted.contains("-Dummu.library.path="), extracted);
        String explicit = NativeLibrary.explainLoadFailure(Paths.get("/t/libummu.so"), "-Dummu.library.path", raw)
                .getMessage();
        assertTrue(explicit.contains("Point -Dummu.library.path at a copy"), explicit);
        UnsatisfiedLinkError other = new UnsatisfiedLinkError("/t/libummu.so: invalid ELF header");
        assertSame(other, NativeLibrary.explainLoadFailure(Paths.get("/t/libummu.so"), null, other));
    }

    /** A real noexec mount, in a private mount namespace so nothing outlives the child. */
    @Test
    void noexecTemporaryDirectoryGetsTheActionableMessage() throws Exception {
        assumeTrue(myUid() == 0, "needs root for a private mount namespace with a noexec tmpfs");
        assumeTrue(Files.isExecutable(Paths.get("/usr/bin/unshare")), "needs unshare (util-linux)");
        Path mnt = Files.createDirectory(tmp.resolve("noexec"));
        List<String> java = javaCommand(List.of("-Dummu.tmpdir=" + mnt));
        StringBuilder sh = new StringBuilder("mount -t tmpfs -o noexec,size=8m ummu-test \"$0\" || exit 97; exec");
        for (String a : java) {
            sh.append(" '").append(a.replace("'", "'\\''")).append('\'');
        }
        List<String> cmd = new ArrayList<>(List.of("/usr/bin/unshare", "--mount", "--propagation", "private",
                "sh", "-c", sh.toString(), mnt.toString()));
        Result res = run(cmd, Map.of());
        assumeTrue(res.exit != 97 && !res.out.contains("unshare failed"),
                "cannot mount in a private namespace here: " + res.out);
        Map<String, String> r = parse(res);
        assertEquals("false", r.get("loaded"), r.toString());
        String f = r.get("failure");
        assertTrue(f.contains("failed to map segment") && f.contains("noexec") && f.contains("-Dummu.tmpdir="), f);
    }

    // --- helpers ---------------------------------------------------------

    /** The ummu.jar the tests run against (failsafe's class path). */
    private static Path ummuJar() {
        for (String e : System.getProperty("java.class.path").split(File.pathSeparator)) {
            if (e.endsWith("ummu.jar")) {
                return Paths.get(e);
            }
        }
        throw new AssertionError("no ummu.jar on " + System.getProperty("java.class.path"));
    }

    /** A copy of {@code from} without entry {@code name}, or with {@code content} in its place when not null. */
    private static void copyJarReplacing(Path from, Path to, String name, byte[] content) throws IOException {
        try (JarFile in = new JarFile(from.toFile(), false);
                JarOutputStream out = new JarOutputStream(Files.newOutputStream(to))) {
            for (JarEntry e : java.util.Collections.list(in.entries())) {
                if (e.getName().equals(name)) {
                    continue;
                }
                out.putNextEntry(new JarEntry(e.getName()));
                try (InputStream is = in.getInputStream(e)) {
                    is.transferTo(out);
                }
                out.closeEntry();
            }
            if (content != null) {
                out.putNextEntry(new JarEntry(name));
                out.write(content);
                out.closeEntry();
            }
        }
    }

    private static String bundledSha256() throws IOException {
        try (InputStream in = NativeLibrary.class.getResourceAsStream("/" + NativeLibrary.resourcePath())) {
            assertNotNull(in, "bundled library in the jar");
            return sha256(in.readAllBytes());
        }
    }

    private static String sha256(byte[] b) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    private static int myUid() throws IOException {
        return (Integer) Files.getAttribute(Paths.get("/proc/self"), "unix:uid");
    }

    private static List<String> javaCommand(List<String> props) {
        return javaCommand(props, null);
    }

    /** @param jar replaces ummu.jar on the child's class path, or null */
    private static List<String> javaCommand(List<String> props, Path jar) {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse(
                Paths.get(System.getProperty("java.home"), "bin", "java").toString()));
        if (Runtime.version().feature() >= 22) {
            cmd.add("--enable-native-access=ALL-UNNAMED");
        }
        cmd.addAll(props);
        cmd.add("-cp");
        String cp = System.getProperty("java.class.path");
        if (jar != null) {
            cp = Stream.of(cp.split(File.pathSeparator))
                    .map(e -> e.endsWith("ummu.jar") ? jar.toString() : e)
                    .collect(Collectors.joining(File.pathSeparator));
        }
        cmd.add(cp);
        cmd.add(LoaderProbe.class.getName());
        return cmd;
    }

    private static final class Result {
        final int exit;
        final String out;

        Result(int exit, String out) {
            this.exit = exit;
            this.out = out;
        }
    }

    private static Result run(List<String> cmd, Map<String, String> env) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().remove("XDG_RUNTIME_DIR");
        pb.environment().remove("UMMU_TMPDIR");
        pb.environment().putAll(env);
        Process p = pb.start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "child JVM finished");
        return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8));
    }

    private static Map<String, String> parse(Result res) {
        Map<String, String> m = new HashMap<>();
        for (String line : res.out.split("\n")) {
            int eq = line.indexOf('=');
            if (eq > 0 && line.matches("^[a-z]+=.*")) {
                m.put(line.substring(0, eq), line.substring(eq + 1));
            }
        }
        assertEquals(0, res.exit, res.out);
        assertTrue(m.containsKey("loaded"), res.out);
        return m;
    }

    private static Map<String, String> probe(List<String> props, Map<String, String> env) throws Exception {
        return parse(run(javaCommand(props), env));
    }
}
