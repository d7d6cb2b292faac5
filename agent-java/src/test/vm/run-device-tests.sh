#!/bin/sh
# Runs the tests that need the real ummunotify module inside QEMU
# (kmod/vm/vmrun) on Linux 6.1 and 6.12, one boot per kernel:
#   - libummu's C tests (agent-native/src/test/c/test_native.c), whose device
#     cases skip on the build host;
#   - the Java tests that talk to a backend (the classes in INCLUDE below),
#     whose ummunotify cases skip on the build host ("/dev/ummunotify missing");
#   - on kernels with userfaultfd's WP_ASYNC mode (6.7 and later: 6.12 here),
#     the userfaultfd backend's own suites on a second real kernel besides the
#     build host's: its C tests (uffd_backend_test, and uffd_stress bounded to
#     UMMU_DEVICE_TEST_UFFD_STRESS_SECONDS, default 3) and the Java classes in
#     INCLUDE_UFFD.
# Here nothing may skip: the device is there, and so is WP_ASYNC where asked.
#
#   agent-java/src/test/vm/run-device-tests.sh [--kernel 6.1|6.12]... [--jdk17] [-- EXTRA-LAUNCHER-ARGS]
#
# Builds nothing: it needs the products of `./mvnw verify`:
#   agent-java/target/ummu.jar              (vmrun puts it at /opt/ummu/ummu.jar)
#   agent-java/target/test-classes          (copied to the guest's /work, as is all below)
#   agent-java/target/device-tests/junit-platform-console-standalone.jar
#                                           (the pinned JUnit console launcher that
#                                           agent-java/pom.xml copies there; the guest
#                                           has a JDK but no Maven)
#   agent-native/target/native-test/test_native, uffd_backend_test and
#   uffd_stress (`make check` in agent-native/src/test/c builds them, in the
#   test phase) and the built libummu.so
#
# In the guest, -Dummu.test.backends=<list> (see TestBackends.java) makes the
# backend-parameterised tests run for exactly the listed backends and turns a
# backend that does not open into a failure, not a skip:
#   6.1:  ummunotify              (userfaultfd's WP_ASYNC mode needs Linux 6.7)
#   6.12: ummunotify,userfaultfd  (the userfaultfd backend on a second real kernel)
# UMMU_DEVICE_TEST_BACKENDS overrides the list for every kernel.
#
# The guest runs JDK 25 (the harness's JDK); the build host runs the same
# tests on JDK 17 and 25. --jdk17 (or UMMU_DEVICE_TEST_JDK17=1) adds, per
# kernel, a run of the Java 17 test classes on a jlink'ed JDK 17
# (UMMU_VM_JDK=/usr/lib/jvm/java-17-openjdk-amd64; a second VM image in the cache).
#
# Fails when, on any kernel: a Java or C test fails, the harness fails (boot,
# kernel splat, timeout), no Java test ran, any Java test was skipped or
# aborted, the C device cases did not run (the C suite's `nm` check is
# its one skip here: the guest has no binutils; the host runs it), or, where
# WP_ASYNC is there, a userfaultfd C suite failed, skipped anything or did not
# finish its plan. Prints the counts per kernel.
# Environment: UMMU_DEVICE_TEST_KERNELS (default "6.1 6.12"); vmrun's own UMMU_VM_*.
set -u
cd "$(dirname "$0")/../../../.." || exit 2
T=agent-java/target
LAUNCHER=$T/device-tests/junit-platform-console-standalone.jar
CLASSES=$T/test-classes
JAR=$T/ummu.jar
CTEST=agent-native/target/native-test/test_native
UFFD_CTESTS="agent-native/target/native-test/uffd_backend_test agent-native/target/native-test/uffd_stress"
UFFD_STRESS_SECONDS=${UMMU_DEVICE_TEST_UFFD_STRESS_SECONDS:-3}
LIB=agent-native/target/classes/META-INF/native/linux-x86_64/libummu.so
JDK17=${UMMU_DEVICE_TEST_JDK17_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}

# The test classes that talk to libummu.so and a backend, the RegistrationCache's
# among them. The loader tests
# (NativeLibraryTest), the pure value tests and ApiGuideTest (it reads the
# sources) stay on the host.
INCLUDE='^io\.ummu\.(ApiGuideJdk22|BackendSelection|CounterLifetime|DeviceEvents|DeviceEventsJdk22|ManyNotifiers|NotifierApi|Validation|SegmentValidationJdk22)Test$|^io\.ummu\.internal\.NativeTest$|^io\.ummu\.cache\.(RegistrationCache|CacheInvalidation|RegistrationCacheJdk22)Test$'
# The userfaultfd backend's own Java tests: added to INCLUDE on kernels with
# WP_ASYNC only. On 6.1 every case of theirs would skip, and a skip fails this
# script (TestBackends.assumeAvailable is what skips them).
INCLUDE_UFFD='^io\.ummu\.Userfaultfd(Backend|BackendJdk22)Test$'
# The same without the classes compiled for Java 22 (for the JDK 17 run).
INCLUDE17='^io\.ummu\.(BackendSelection|CounterLifetime|DeviceEvents|ManyNotifiers|NotifierApi|Validation)Test$|^io\.ummu\.internal\.NativeTest$|^io\.ummu\.cache\.(RegistrationCache|CacheInvalidation)Test$'
INCLUDE17_UFFD='^io\.ummu\.UserfaultfdBackendTest$'

# In the guest: libummu's C tests against the device first (when $1 is 1),
# the userfaultfd C suites (unless $4, uffd_stress's seconds, is 0; their
# TAP lines prefixed with the suite's name, so that the checks below cannot
# confuse them with test_native's), then the Java tests; the exit status is the JUnit
# launcher's. C1 only and the serial collector: under emulation, C2 and G1's
# helper threads cost more than they save in a run this short.
GUEST='
if [ "$1" = 1 ]; then
	./test_native ./libummu.so
	echo "libummu C tests: exit status $?"
fi
if [ "$4" != 0 ]; then
	for t in uffd_backend_test uffd_stress; do
		UFFD_STRESS_SECONDS=$4 ./$t >/tmp/$t.tap 2>&1
		rc=$?
		sed "s/^/$t: /" /tmp/$t.tap
		echo "$t: exit status $rc"
	done
fi
backends=$2 pattern=$3
shift 4
exec java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC --enable-native-access=ALL-UNNAMED \
	-Dummu.test.backends="$backends" \
	-jar /work/junit-platform-console-standalone.jar execute \
	--class-path /opt/ummu/ummu.jar:/work/test-classes \
	--scan-class-path /work/test-classes --include-classname "$pattern" \
	--disable-banner --disable-ansi-colors --details=tree --fail-if-no-tests "$@"
'

kernels=""
jdk17=${UMMU_DEVICE_TEST_JDK17:-0}
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) [ $# -ge 2 ] || { echo "$0: --kernel needs 6.1 or 6.12" >&2; exit 2; }
		kernels="$kernels $2"; shift 2 ;;
	--jdk17) jdk17=1; shift ;;
	--) shift; break ;;
	*) echo "$0: unknown option '$1'" >&2; exit 2 ;;
	esac
done
[ -n "$kernels" ] || kernels=${UMMU_DEVICE_TEST_KERNELS:-"6.1 6.12"}

# shellcheck disable=SC2086
for f in "$JAR" "$CLASSES" "$LAUNCHER" "$CTEST" "$LIB" $UFFD_CTESTS; do
	if [ ! -e "$f" ]; then
		echo "$0: $f is missing; run ./mvnw verify first" >&2
		exit 2
	fi
done
case $UFFD_STRESS_SECONDS in
''|0*|*[!0-9]*)
	echo "$0: UMMU_DEVICE_TEST_UFFD_STRESS_SECONDS=$UFFD_STRESS_SECONDS: want a whole number of seconds > 0" >&2
	exit 2 ;;
esac
if [ "$jdk17" = 1 ] && [ ! -x "$JDK17/bin/jlink" ]; then
	echo "$0: --jdk17: no JDK 17 with jlink at $JDK17 (set UMMU_DEVICE_TEST_JDK17_HOME)" >&2
	exit 2
fi

# wp_async KERNEL: true when the kernel series has UFFD_FEATURE_WP_ASYNC
# (merged in Linux 6.7), which the userfaultfd backend cannot do without: it
# registers in write-protect mode and never write-protects a page, so no
# access ever blocks on a fault. Decided by the series we boot, not probed in
# the guest: a probe that failed there would turn into a skip, the very thing
# this script exists to rule out.
wp_async() {
	major=${1%%.*} minor=${1#*.}
	minor=${minor%%.*}
	[ "$major" -gt 6 ] || { [ "$major" -eq 6 ] && [ "$minor" -ge 7 ]; }
}

backends_for() {
	if [ -n "${UMMU_DEVICE_TEST_BACKENDS:-}" ]; then
		echo "$UMMU_DEVICE_TEST_BACKENDS"
		return
	fi
	if wp_async "$1"; then
		echo ummunotify,userfaultfd
	else
		echo ummunotify
	fi
}

# count NAME LOG: the number in the launcher's summary line "[  N tests NAME  ]".
count() {
	sed -n "s/^\[ *\([0-9][0-9]*\) tests $1 *\]\$/\1/p" "$2" | tail -n 1
}

log=$(mktemp "${TMPDIR:-/tmp}/ummu-device-tests.XXXXXX") || exit 2
trap 'rm -f "$log" "$log.err"' EXIT INT TERM

results=""
failed=""

# uffd_check SUITE LOG: why the userfaultfd C suite SUITE failed in LOG
# (nothing when it passed): its exit status, any skip, an unfinished plan.
uffd_check() {
	s=$1
	grep -q "^$s: exit status 0\$" "$2" || printf '; %s failed' "$s"
	grep -q "^$s: .*# SKIP" "$2" && printf '; %s skipped something' "$s"
	plan=$(sed -n "s/^$s: 1\.\.\([0-9][0-9]*\)\$/\1/p" "$2" | tail -n 1)
	oks=$(grep -c "^$s: ok [0-9]" "$2")
	[ "${plan:-0}" -gt 0 ] && [ "$oks" -eq "$plan" ] ||
		printf '; %s: %s of %s planned tests passed' "$s" "$oks" "${plan:-no}"
}

# run LABEL KERNEL INCLUDE-PATTERN CTEST(1|0) UFFD(1|0) [env assignments for vmrun]...
run() {
	label=$1 k=$2 pattern=$3 ctest=$4 uffd=$5
	shift 5
	backends=$(backends_for "$k")
	echo "==== Java device tests: $label on Linux $k, backends $backends"
	start=$(date +%s)
	# "$@": environment for vmrun (UMMU_VM_JDK); $extra: the caller's
	# launcher arguments, split on purpose. A small region limit keeps the
	# ENOSPC test (which watches until refused) short. (vmrun itself boots
	# once more if the guest kernel dies before /init runs.)
	uffd_files="" stress=0
	if [ "$uffd" = 1 ]; then
		stress=$UFFD_STRESS_SECONDS
		for f in $UFFD_CTESTS; do
			uffd_files="$uffd_files --file $f"
		done
	fi
	# shellcheck disable=SC2086
	env "$@" kmod/vm/vmrun --kernel "$k" --param max_regions_per_file=1024 \
		--file "$LAUNCHER" --file "$CLASSES" --file "$CTEST" --file "$LIB" $uffd_files -- \
		sh -c "$GUEST" sh "$ctest" "$backends" "$pattern" "$stress" $extra >"$log" 2>"$log.err"
	rc=$?
	cat "$log"
	cat "$log.err" >&2
	ok=$(count successful "$log")
	bad=$(count failed "$log")
	aborted=$(count aborted "$log")
	skipped=$(count skipped "$log")
	found=$(count found "$log")
	why=""
	[ "$rc" -eq 0 ] || why="$why; exit status $rc"
	cline=""
	if [ "$ctest" = 1 ]; then
		# The C suite's one expected skip in the guest is its `nm` check
		# (no binutils there; the host build runs it). Its device cases must run.
		csum=$(sed -n 's/^libummu: \(.*\)$/\1/p' "$log" | tail -n 1)
		cline="; libummu C: ${csum:-no result}"
		grep -q '^libummu C tests: exit status 0$' "$log" || why="$why; libummu C tests failed"
		grep -q '^ok [0-9]* - open() = 0' "$log" || why="$why; libummu C device cases did not run"
	fi
	if [ "$uffd" = 1 ]; then
		for s in uffd_backend_test uffd_stress; do
			why="$why$(uffd_check "$s" "$log")"
			n=$(grep -c "^$s: ok [0-9]" "$log")
			cline="$cline; $s: $n ok"
		done
	fi
	if [ -z "$found" ]; then
		why="$why; no test summary (the launcher did not finish)"
	else
		[ "${bad:-0}" -eq 0 ] || why="$why; $bad failed"
		[ "${ok:-0}" -gt 0 ] || why="$why; nothing ran"
		[ "${aborted:-0}" -eq 0 ] || why="$why; $aborted aborted (skipped by an assumption: the device must be there)"
		[ "${skipped:-0}" -eq 0 ] || why="$why; $skipped skipped"
	fi
	line="$label on Linux $k: ${ok:-?} passed, ${bad:-?} failed, ${aborted:-?} aborted, ${skipped:-?} skipped of ${found:-?}$cline ($(($(date +%s) - start))s)"
	if [ -z "$why" ]; then
		echo "==== $line: OK"
		results="$results
  $line: OK"
	else
		echo "==== $line: FAILED (${why#; })"
		results="$results
  $line: FAILED (${why#; })"
		failed="$failed $label/$k"
	fi
}

extra=$*
for k in $kernels; do
	if wp_async "$k"; then
		run "JDK 25" "$k" "$INCLUDE|$INCLUDE_UFFD" 1 1
	else
		run "JDK 25" "$k" "$INCLUDE" 1 0
	fi
	if [ "$jdk17" = 1 ]; then
		# The C suites ran in the JDK 25 boot; only the Java side again.
		if wp_async "$k"; then
			run "JDK 17" "$k" "$INCLUDE17|$INCLUDE17_UFFD" 0 0 UMMU_VM_JDK="$JDK17"
		else
			run "JDK 17" "$k" "$INCLUDE17" 0 0 UMMU_VM_JDK="$JDK17"
		fi
	fi
done

echo "==== Java device tests:$results"
if [ -n "$failed" ]; then
	echo "Java device tests FAILED on:$failed"
	exit 1
fi
echo "Java device tests passed on: $kernels"
