package io.ummu.internal;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Locale;
import java.util.Set;

/**
 * Loads {@code libummu.so} once, when this class initialises, and never
 * throws from there: {@link #isLoaded()} and {@link #loadFailure()} say how
 * it went, so that {@code Backend.isAvailable()} can report a reason instead
 * of the application seeing an {@link UnsatisfiedLinkError}.
 *
 * <p>Where the library comes from, first match wins:
 * <ol>
 * <li>{@code -Dummu.library.path=/path/to/libummu.so}: loaded as is.</li>
 * <li>The copy bundled in ummu.jar at
 *     {@code META-INF/native/<os>-<arch>/libummu.so}, extracted into a
 *     per-user directory that only its owner can enter (0700):
 *     {@code $XDG_RUNTIME_DIR/ummu} when {@code XDG_RUNTIME_DIR} is set,
 *     else {@code <java.io.tmpdir>/ummu-<uid>}. {@code -Dummu.tmpdir} or
 *     the environment variable {@code UMMU_TMPDIR} replace the parent
 *     directory (then {@code <it>/ummu-<uid>} is used).</li>
 * </ol>
 *
 * <p>Extraction is safe against other local users: the file is named by the
 * SHA-256 of its bytes, written to a fresh temporary name created
 * exclusively ({@code CREATE_NEW}, {@code NOFOLLOW_LINKS}, mode 0500) and
 * renamed into place, so nobody ever loads a half-written file; an existing
 * copy is reused only if it is a regular file (not a symlink) owned by this
 * user, not writable by others, with the bundled bytes. A directory that is
 * a symlink or belongs to someone else is refused with a message.
 *
 * <p>The SHA-256 comes from {@code libummu.so.sha256} next to the library
 * in the jar, written by the build from the bytes it packages
 * ({@code agent-native/src/main/c/Makefile}): computing it here would cost
 * every JVM start the set-up of the security providers and an interpreted
 * digest, some 70 ms of CPU. Without that file (a repackaged jar) it is
 * computed here after all. Either way the name only keeps versions apart:
 * what is loaded is a copy compared byte for byte with the bundled library.
 * Both are read straight from ummu.jar when this class was loaded from a
 * jar, as the class loader would search the JDK's image first.
 *
 * <p>A {@code noexec} temporary directory makes {@code System.load} fail with
 * "failed to map segment from shared object"; the failure then says which
 * property or variable to set.
 *
 * <p>After loading, {@link Native#abiVersion()} must equal
 * {@link Native#ABI_VERSION}, or the library counts as not loaded (a stale
 * {@code -Dummu.library.path}).
 *
 * <p>Thread-safety: all methods are safe from any thread; the class
 * initialiser runs once.
 */
public final class NativeLibrary {
    /** System property naming an explicit library file. */
    public static final String LIBRARY_PATH_PROPERTY = "ummu.library.path";
    /** System property naming the parent directory for the extracted library. */
    public static final String TMPDIR_PROPERTY = "ummu.tmpdir";
    /** Environment variable naming the parent directory for the extracted library. */
    public static final String TMPDIR_ENV = "UMMU_TMPDIR";

    private static final String LIBRARY_NAME = "libummu.so";
    /** Next to the library in the jar: {@code <64 hex digits>  libummu.so}, sha256sum's format. */
    private static final String HASH_SUFFIX = ".sha256";

    private static final Set<PosixFilePermission> OWNER_ONLY_DIR =
            PosixFilePermissions.fromString("rwx------");
    private static final Set<PosixFilePermission> OWNER_READ_EXEC =
            PosixFilePermissions.fromString("r-x------");

    private static final long STALE_AFTER_MILLIS = 24L * 60 * 60 * 1000;
    private static final long REFRESH_AFTER_MILLIS = 60L * 60 * 1000;
    private static final int SHA256_HEX_LENGTH = 64;

    private static final Throwable FAILURE;
    private static final String LOADED_FROM;

    static {
        Throwable failure = null;
        String from = null;
        try {
            from = load();
        } catch (Throwable t) {
            // Never out of a static initializer: the caller gets a reason instead.
            failure = t;
        }
        FAILURE = failure;
        LOADED_FROM = failure == null ? from : null;
    }

    private NativeLibrary() {
    }

    /** @return true when libummu.so is loaded and speaks this jar's ABI */
    public static boolean isLoaded() {
        return FAILURE == null;
    }

    /** @return why libummu.so could not be loaded, or null when it is loaded */
    public static Throwable loadFailure() {
        return FAILURE;
    }

    /** @return the file the library was loaded from, or null when it is not loaded */
    public static String loadedFrom() {
        return LOADED_FROM;
    }

    /** @return the resource path of the bundled library for this platform, e.g. {@code META-INF/native/linux-x86_64/libummu.so} */
    public static String resourcePath() {
        return "META-INF/native/" + platform() + "/" + LIBRARY_NAME;
    }

    /** @return {@code <os>-<arch>} as used in the resource path */
    static String platform() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        if (os.startsWith("linux")) {
            os = "linux";
        }
        switch (arch) {
            case "amd64":
            case "x86_64":
                arch = "x86_64";
                break;
            case "aarch64":
            case "arm64":
                arch = "aarch64";
                break;
            default:
                break;
        }
        return os + "-" + arch;
    }

    private static String load() throws IOException {
        String explicit = System.getProperty(LIBRARY_PATH_PROPERTY);
        Path file;
        if (explicit != null && !explicit.isEmpty()) {
            file = Paths.get(explicit).toAbsolutePath();
            if (!Files.isRegularFile(file)) {
                throw new UnsatisfiedLinkError("-D" + LIBRARY_PATH_PROPERTY + "=" + explicit
                        + ": no such file (it must name libummu.so itself)");
            }
            systemLoad(file, "-D" + LIBRARY_PATH_PROPERTY);
        } else {
            file = extract();
            systemLoad(file, null);
        }
        int abi = Native.abiVersion();
        if (abi != Native.ABI_VERSION) {
            throw new UnsatisfiedLinkError(file + " speaks ABI version " + abi + ", this ummu.jar needs "
                    + Native.ABI_VERSION + (explicit != null ? " (stale -D" + LIBRARY_PATH_PROPERTY + "?)" : ""));
        }
        return file.toString();
    }

    private static void systemLoad(Path file, String origin) {
        try {
            System.load(file.toString());
        } catch (UnsatisfiedLinkError e) {
            UnsatisfiedLinkError better = explainLoadFailure(file, origin, e);
            if (better != e) {
                better.initCause(e);
            }
            throw better;
        }
    }

    /**
     * The dynamic loader's "failed to map segment from shared object"
     * (EPERM from mmap with PROT_EXEC) almost always means a noexec mount;
     * say which knob moves the library elsewhere.
     *
     * @param origin the property that named the file, or null when it was extracted
     */
    static UnsatisfiedLinkError explainLoadFailure(Path file, String origin, UnsatisfiedLinkError e) {
        String msg = String.valueOf(e.getMessage());
        if (!msg.contains("failed to map segment") && !msg.contains("Operation not permitted")) {
            return e;
        }
        String reason = msg.substring(msg.lastIndexOf(": ") + 2);
        return new UnsatisfiedLinkError("cannot load " + file + ": " + reason
                + "; its directory is probably on a noexec mount. "
                + (origin != null
                        ? "Point " + origin + " at a copy on a filesystem that allows execution."
                        : "Extract it elsewhere with -D" + TMPDIR_PROPERTY + "=<dir> or the environment variable "
                                + TMPDIR_ENV + "=<dir> (a directory on a filesystem mounted without noexec),"
                                + " or load a copy directly with -D" + LIBRARY_PATH_PROPERTY + "=<path to libummu.so>."));
    }

    private static Path extract() throws IOException {
        String resource = resourcePath();
        byte[][] bundled = readBundled(resource);
        byte[] bytes = bundled[0];
        if (bytes == null) {
            throw new UnsatisfiedLinkError("no bundled native library " + resource
                    + " in ummu.jar: platform " + platform() + " is not supported by this build"
                    + " (libummu.so is built for Linux; set -D" + LIBRARY_PATH_PROPERTY
                    + "=<path> to use one built here)");
        }
        String hash = parseHash(bundled[1]);
        if (hash == null) {
            hash = sha256(bytes);
        }
        Path dir = privateDirectory();
        Path file = dir.resolve("libummu-" + hash + ".so");

        if (Files.exists(file, LinkOption.NOFOLLOW_LINKS)) {
            if (isTrustedCopy(file, bytes)) {
                // Fresh mtime: the sweep of stale copies leaves it alone. Refreshed only
                // once an hour old (far from the sweep's day): setting it spins a lambda
                // class in the JDK, milliseconds at every JVM start.
                long now = System.currentTimeMillis();
                long modified = Files.getLastModifiedTime(file, LinkOption.NOFOLLOW_LINKS).toMillis();
                if (now - modified > REFRESH_AFTER_MILLIS) {
                    Files.setLastModifiedTime(file, FileTime.fromMillis(now));
                }
                return file;
            }
            // Our own directory, so whatever is there is ours to replace; a
            // non-regular entry (a symlink) is removed, never followed.
            Files.delete(file);
        }
        // Unique among this user's JVMs, which is all it has to be: nobody else can
        // enter the directory, and CREATE_NEW refuses a name that exists. Not
        // SecureRandom (its first use sets up the security providers, ~40 ms), nor
        // ProcessHandle (a thread pool and a lambda): the pid from /proc/self.
        Path tmp = dir.resolve(file.getFileName() + "." + myPid() + "-" + Long.toHexString(System.nanoTime())
                + ".tmp");
        try {
            try (SeekableByteChannel ch = Files.newByteChannel(tmp,
                    Set.<OpenOption>of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS),
                    PosixFilePermissions.asFileAttribute(OWNER_ONLY_DIR))) {
                ByteBuffer buf = ByteBuffer.wrap(bytes);
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
            }
            Files.setPosixFilePermissions(tmp, OWNER_READ_EXEC);
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file);
            }
        } catch (FileAlreadyExistsException e) {
            // Another JVM of ours won a race; its copy is checked below.
        } finally {
            Files.deleteIfExists(tmp);
        }
        if (!isTrustedCopy(file, bytes)) {
            throw new IOException("extracted native library " + file
                    + " does not verify (owner, mode or SHA-256 changed under us)");
        }
        sweepStaleCopies(dir, file);
        return file;
    }

    /**
     * Removes copies of other ummu versions (and leftover temporaries) not
     * used for a day. Unlinking a library another JVM has loaded is harmless
     * on Linux (its mapping stays); the age keeps us from removing one that
     * another JVM has just verified and is about to load. Best effort.
     */
    private static void sweepStaleCopies(Path dir, Path keep) {
        long cutoff = System.currentTimeMillis() - STALE_AFTER_MILLIS;
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir, "libummu-*")) {
            for (Path p : entries) {
                if (p.equals(keep) || !isCopyName(p.getFileName().toString())) {
                    continue;
                }
                try {
                    BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class,
                            LinkOption.NOFOLLOW_LINKS);
                    if (a.lastModifiedTime().toMillis() < cutoff) {
                        Files.delete(p);
                    }
                } catch (IOException e) {
                    // Someone else's sweep got there first, or it is busy: not our problem.
                }
            }
        } catch (IOException | RuntimeException e) {
            // Cleanup must never make loading fail.
        }
    }

    /**
     * {@code libummu-<64 hex>.so}, optionally followed by
     * {@code .<hex>[-<hex>].tmp} (a temporary of this or an older version).
     * Hand-written rather than a regex: the pattern would be compiled at every
     * JVM start, interpreted, for a sweep that runs only after an extraction.
     */
    static boolean isCopyName(String name) {
        String prefix = "libummu-";
        int hashEnd = prefix.length() + SHA256_HEX_LENGTH;
        if (!name.startsWith(prefix) || !name.startsWith(".so", hashEnd) || !isHex(name, prefix.length(), hashEnd)) {
            return false;
        }
        int rest = hashEnd + 3;
        if (rest == name.length()) {
            return true;
        }
        if (name.charAt(rest) != '.' || !name.endsWith(".tmp")) {
            return false;
        }
        int from = rest + 1;
        int to = name.length() - 4;
        int dash = name.indexOf('-', from);
        if (dash >= 0 && dash < to) {
            return isHex(name, from, dash) && isHex(name, dash + 1, to);
        }
        return isHex(name, from, to);
    }

    /** @return true if {@code s[from, to)} is non-empty lower-case hex */
    private static boolean isHex(String s, int from, int to) {
        if (from >= to || to > s.length()) {
            return false;
        }
        for (int i = from; i < to; i++) {
            char c = s.charAt(i);
            if (!(c >= '0' && c <= '9' || c >= 'a' && c <= 'f')) {
                return false;
            }
        }
        return true;
    }

    /**
     * The bundled library and its build-time hash file (either null when
     * absent), read straight from ummu.jar when this class came from a jar
     * ({@link OwnJar}: the class loader would search the JDK's image first).
     * Anything else (a directory of classes, a jar without the library or
     * unreadable) goes through the class loader.
     */
    private static byte[][] readBundled(String resource) throws IOException {
        String hashResource = resource + HASH_SUFFIX;
        byte[][] fromJar = OwnJar.read(NativeLibrary.class, resource, hashResource);
        if (fromJar != null && fromJar[0] != null) {
            return fromJar;
        }
        return new byte[][] {readResource("/" + resource), readResource("/" + hashResource)};
    }

    private static byte[] readResource(String name) throws IOException {
        try (InputStream in = NativeLibrary.class.getResourceAsStream(name)) {
            return in == null ? null : in.readAllBytes();
        }
    }

    /**
     * @return the 64 lower-case hex digits at the start of a {@code .sha256}
     *     file ({@code <hex>  libummu.so}), or null when there is no file or it
     *     does not look like one (then the caller computes the hash itself)
     */
    static String parseHash(byte[] file) {
        if (file == null || file.length < SHA256_HEX_LENGTH) {
            return null;
        }
        String head = new String(file, 0, SHA256_HEX_LENGTH, StandardCharsets.ISO_8859_1);
        if (!isHex(head, 0, SHA256_HEX_LENGTH)
                || file.length > SHA256_HEX_LENGTH && file[SHA256_HEX_LENGTH] != ' ') {
            return null;
        }
        return head;
    }

    /** A regular file (not a link), ours, not writable by others, with the expected content. */
    private static boolean isTrustedCopy(Path file, byte[] expected) throws IOException {
        PosixFileAttributes a;
        try {
            a = Files.readAttributes(file, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            return false;
        }
        if (!a.isRegularFile() || !isOwnedByMe(file)) {
            return false;
        }
        Set<PosixFilePermission> p = a.permissions();
        if (p.contains(PosixFilePermission.GROUP_WRITE) || p.contains(PosixFilePermission.OTHERS_WRITE)) {
            return false;
        }
        // Files.readAllBytes would follow a symlink swapped in now; the
        // directory is ours alone (0700), so nobody else can swap it.
        // Compared, not hashed again: at JVM start-up SHA-256 runs interpreted, some
        // 30 ms of CPU for each pass over the library.
        return Arrays.equals(expected, Files.readAllBytes(file));
    }

    /**
     * {@code $XDG_RUNTIME_DIR/ummu}, or {@code <tmp>/ummu-<uid>}, created 0700
     * if missing; refused if it is a symlink or someone else's.
     */
    private static Path privateDirectory() throws IOException {
        String override = System.getProperty(TMPDIR_PROPERTY);
        String origin = "-D" + TMPDIR_PROPERTY;
        if (override == null || override.isEmpty()) {
            override = System.getenv(TMPDIR_ENV);
            origin = TMPDIR_ENV;
        }
        Path dir;
        if (override != null && !override.isEmpty()) {
            dir = Paths.get(override).toAbsolutePath().resolve("ummu-" + myUid());
        } else {
            String xdg = System.getenv("XDG_RUNTIME_DIR");
            if (xdg != null && !xdg.isEmpty() && Files.isDirectory(Paths.get(xdg))) {
                dir = Paths.get(xdg).resolve("ummu");
                origin = "XDG_RUNTIME_DIR";
            } else {
                dir = Paths.get(System.getProperty("java.io.tmpdir")).toAbsolutePath().resolve("ummu-" + myUid());
                origin = "java.io.tmpdir";
            }
        }
        try {
            Files.createDirectories(dir.getParent());
            Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(OWNER_ONLY_DIR));
        } catch (FileAlreadyExistsException e) {
            // Reused: checked below like a new one.
        }
        PosixFileAttributes a = Files.readAttributes(dir, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        if (!a.isDirectory()) {
            throw new IOException("cannot extract libummu.so: " + dir + " (from " + origin
                    + ") is not a directory (a symlink?); remove it or set -D" + TMPDIR_PROPERTY + "=<dir>");
        }
        if (!isOwnedByMe(dir)) {
            throw new IOException("cannot extract libummu.so: " + dir + " (from " + origin + ") belongs to "
                    + a.owner().getName() + ", not to this user; remove it or set -D" + TMPDIR_PROPERTY + "=<dir>");
        }
        if (!a.permissions().equals(OWNER_ONLY_DIR)) {
            // Ours, so ours to tighten: nobody else may add or swap files in it.
            Files.setPosixFilePermissions(dir, OWNER_ONLY_DIR);
        }
        return dir;
    }

    private static boolean isOwnedByMe(Path p) throws IOException {
        return ((Integer) Files.getAttribute(p, "unix:uid", LinkOption.NOFOLLOW_LINKS)) == myUid();
    }

    /** The pid in decimal: /proc/self is a link to /proc/<pid>. */
    private static String myPid() throws IOException {
        return Files.readSymbolicLink(Paths.get("/proc/self")).getFileName().toString();
    }

    /** The effective uid: Linux makes the process the owner of /proc/self. */
    private static int myUid() throws IOException {
        return (Integer) Files.getAttribute(Paths.get("/proc/self"), "unix:uid");
    }

    private static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required of every Java platform", e);
        }
    }
}
