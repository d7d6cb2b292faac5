#!/bin/sh
# Runs the RegistrationCache tests (package io.ummu.cache) inside QEMU
# (kmod/vm/vmrun) against the real ummunotify module, on Linux 6.1 and 6.12,
# one boot per kernel. The same mechanism as run-device-tests.sh: the pinned
# JUnit console launcher, the test classes and ummu.jar in the guest, and
# -Dummu.test.backends=<list> so that the backend-parameterised tests run for
# exactly the listed backends and a listed backend that does not open fails
# (CacheTesting.java):
#   6.1:  ummunotify              (userfaultfd's WP_ASYNC mode needs Linux 6.7)
#   6.12: ummunotify,userfaultfd
# UMMU_CACHE_TEST_BACKENDS overrides the list for every kernel.
#
#   agent-java/src/test/vm/run-cache-in-vm.sh [--kernel 6.1|6.12]... [-- EXTRA-LAUNCHER-ARGS]
#
# Builds nothing: it needs the products of `./mvnw -B -pl agent-java -am verify`:
#   agent-java/target/ummu.jar               (vmrun puts it at /opt/ummu/ummu.jar)
#   agent-java/target/test-classes           (copied to the guest's /work)
#   agent-java/target/device-tests/junit-platform-console-standalone.jar
#
# Fails when, on any kernel: a test fails, the harness fails (boot, kernel
# splat, timeout), no test ran, or any test was skipped or aborted. Prints
# the counts per kernel.
# Environment: UMMU_CACHE_TEST_KERNELS (default "6.1 6.12"); vmrun's own UMMU_VM_*.
set -u
cd "$(dirname "$0")/../../../.." || exit 2
T=agent-java/target
LAUNCHER=$T/device-tests/junit-platform-console-standalone.jar
CLASSES=$T/test-classes
JAR=$T/ummu.jar

# In the guest. C1 only and the serial collector: under emulation, C2 and
# G1's helper threads cost more than they save in a run this short.
GUEST='
backends=$1
shift
exec java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC --enable-native-access=ALL-UNNAMED \
	-Dummu.test.backends="$backends" \
	-jar /work/junit-platform-console-standalone.jar execute \
	--class-path /opt/ummu/ummu.jar:/work/test-classes \
	--select-package io.ummu.cache \
	--disable-banner --disable-ansi-colors --details=tree --fail-if-no-tests "$@"
'

kernels=""
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) [ $# -ge 2 ] || { echo "$0: --kernel needs 6.1 or 6.12" >&2; exit 2; }
		kernels="$kernels $2"; shift 2 ;;
	--) shift; break ;;
	-h|--help) sed -n '2,24s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "$0: unknown option '$1'" >&2; exit 2 ;;
	esac
done
[ -n "$kernels" ] || kernels=${UMMU_CACHE_TEST_KERNELS:-"6.1 6.12"}

for f in "$JAR" "$CLASSES/io/ummu/cache" "$LAUNCHER"; do
	if [ ! -e "$f" ]; then
		echo "$0: $f is missing; run ./mvnw -B -pl agent-java -am verify first" >&2
		exit 2
	fi
done

backends_for() {
	if [ -n "${UMMU_CACHE_TEST_BACKENDS:-}" ]; then
		echo "$UMMU_CACHE_TEST_BACKENDS"
		return
	fi
	case $1 in
	6.1) echo ummunotify ;;
	*) echo ummunotify,userfaultfd ;;
	esac
}

# count NAME LOG: the number in the launcher's summary line "[  N tests NAME  ]".
count() {
	sed -n "s/^\[ *\([0-9][0-9]*\) tests $1 *\]\$/\1/p" "$2" | tail -n 1
}

log=$(mktemp "${TMPDIR:-/tmp}/ummu-cache-tests.XXXXXX") || exit 2
trap 'rm -f "$log" "$log.err"' EXIT INT TERM

results=""
failed=""
extra=$*
for k in $kernels; do
	backends=$(backends_for "$k")
	echo "==== cache tests on Linux $k, backends $backends"
	start=$(date +%s)
	attempt=1
	while :; do
		# $extra: the caller's launcher arguments, split on purpose.
		# shellcheck disable=SC2086
		kmod/vm/vmrun --kernel "$k" --file "$LAUNCHER" --file "$CLASSES" -- \
			sh -c "$GUEST" sh "$backends" $extra >"$log" 2>"$log.err"
		rc=$?
		cat "$log"
		cat "$log.err" >&2
		# A guest that dies while booting, before the tests start, is the
		# emulator's problem (see run-device-tests.sh): boot once more.
		if [ "$rc" -eq 125 ] && [ "$attempt" -eq 1 ] && grep -q '(state: boot)' "$log.err"; then
			echo "==== the guest died while booting (see above); retrying once"
			attempt=2
			continue
		fi
		break
	done
	ok=$(count successful "$log")
	bad=$(count failed "$log")
	aborted=$(count aborted "$log")
	skipped=$(count skipped "$log")
	found=$(count found "$log")
	why=""
	[ "$rc" -eq 0 ] || why="$why; exit status $rc"
	if [ -z "$found" ]; then
		why="$why; no test summary (the launcher did not finish)"
	else
		[ "${bad:-0}" -eq 0 ] || why="$why; $bad failed"
		[ "${ok:-0}" -gt 0 ] || why="$why; nothing ran"
		[ "${aborted:-0}" -eq 0 ] || why="$why; $aborted aborted (skipped by an assumption: the device must be there)"
		[ "${skipped:-0}" -eq 0 ] || why="$why; $skipped skipped"
	fi
	line="Linux $k ($backends): ${ok:-?} passed, ${bad:-?} failed, ${aborted:-?} aborted, ${skipped:-?} skipped of ${found:-?} ($(($(date +%s) - start))s)"
	if [ -z "$why" ]; then
		results="$results
  $line: OK"
	else
		results="$results
  $line: FAILED (${why#; })"
		failed="$failed $k"
	fi
done

echo "==== cache tests:$results"
if [ -n "$failed" ]; then
	echo "cache tests FAILED on:$failed"
	exit 1
fi
echo "cache tests passed on: $kernels"
