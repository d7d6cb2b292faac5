#!/bin/sh
# Runs test 1's protocol against the real /dev/ummunotify counter page: the
# jcstress test io.ummu.jcstress.device.DeviceCounterDrainTest (producer: an
# actor unmapping a watched page; consumer: an actor loading the counter with
# acquire order, then draining), inside QEMU through kmod/vm/vmrun, with the
# module loaded. Fails on a FORBIDDEN outcome, an error, or no test run.
#
#   jcstress-tests/run-in-vm.sh [--kernel 6.1|6.12]...   (default: 6.12)
#
# Needs jcstress-tests/target/jcstress.jar (./mvnw -B verify builds it) and the
# VM harness (kmod/README.md, "VM harness"). Bounded: one JVM configuration
# (no stress flags, no split compilation), one fork, JCSTRESS_VM_TIME ms
# (default 3000) of sampling, under vmrun's --timeout (JCSTRESS_VM_TIMEOUT s,
# default 900). JCSTRESS_VM_TESTS: the jcstress -t regexp (default: the
# device package).
#
# Only the guest's stdout comes back, so the verdict is read from jcstress's
# own summary: its exit status, "Failed tests: No matches.", "Error tests: No
# matches." and "(Results: N planned; N passed, 0 failed, 0 soft errs, 0
# hard errs)" with N >= 1 (jcstress exits 0 when no test matched).
set -u
here=$(cd "$(dirname "$0")" && pwd -P)
root=$(dirname "$here")
jar="$here/target/jcstress.jar"
time_ms=${JCSTRESS_VM_TIME:-3000}
timeout=${JCSTRESS_VM_TIMEOUT:-900}
tests=${JCSTRESS_VM_TESTS:-'^io\.ummu\.jcstress\.device\.'}
: "${UMMU_VM_CACHE:=$root/.cache/vm}"
export UMMU_VM_CACHE
# jcstress's HTML report uses java.awt.Color: the guest JDK needs
# java.desktop besides vmrun's default modules (a separate cached image).
: "${UMMU_VM_JDK_MODULES:=java.base,java.logging,java.management,java.instrument,java.xml,jdk.unsupported,jdk.management,jdk.attach,jdk.jcmd,jdk.jfr,java.desktop}"
export UMMU_VM_JDK_MODULES

kernels=""
while [ $# -gt 0 ]; do
	case "$1" in
	--kernel) [ $# -ge 2 ] || { echo "run-in-vm: --kernel needs 6.1 or 6.12" >&2; exit 2; }
		kernels="$kernels $2"; shift 2 ;;
	*) echo "run-in-vm: unknown argument '$1' (expected --kernel 6.1|6.12)" >&2; exit 2 ;;
	esac
done
[ -n "$kernels" ] || kernels=6.12

if [ ! -f "$jar" ]; then
	echo "run-in-vm: $jar is missing; build it with ./mvnw -B verify" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

# In the guest: the loopback interface up (jcstress's forked JVM talks to the
# harness JVM over a local socket; the guest has no network otherwise), fds
# for the notifiers that wait for a garbage collection to release theirs (one
# per sample state), results into tmpfs. -jvmArgs pins one JVM configuration
# and -sc false one compilation mode (C2 for both actors), so one fork runs:
# every JVM start is slow under TCG.
guest_script='ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up || exit 1
ulimit -n 65536
cd /tmp || exit 1
exec java -jar /work/jcstress.jar -v -t "$1" -m quick -sc false -c 2 -f 1 -iters 1 -time "$2" \
	-jvmArgs "--enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow -XX:+UseSerialGC" \
	-r /tmp/jcstress-results'

npassed=0
nfailed=0
for k in $kernels; do
	log=$(mktemp "${TMPDIR:-/tmp}/jcstress-vm-$k.XXXXXX")
	start=$(date +%s)
	"$root/kmod/vm/vmrun" --kernel "$k" --timeout "$timeout" --file "$jar" -- \
		sh -c "$guest_script" guest "$tests" "$time_ms" >"$log" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	sed -n '/^RUN RESULTS:/,/^  HTML report/p' "$log"
	summary=$(grep -E '^\(Results: [0-9]+ planned;' "$log" | tail -n 1)
	why=""
	[ "$rc" -eq 0 ] || why="vmrun/jcstress exited $rc"
	if [ -z "$summary" ]; then
		why="${why:+$why; }no test ran (no jcstress results summary; 'No matching tests'?)"
	else
		grep -q '^  Failed tests: No matches\.' "$log" ||
			why="${why:+$why; }jcstress reports failed tests (FORBIDDEN outcomes)"
		grep -q '^  Error tests: No matches\.' "$log" || why="${why:+$why; }jcstress reports test errors"
		planned=$(printf '%s\n' "$summary" |
			sed -n 's/^(Results: \([0-9]*\) planned; \([0-9]*\) passed, 0 failed, 0 soft errs, 0 hard errs)$/\1 \2/p')
		set -- $planned
		if [ $# -ne 2 ] || [ "$1" -lt 1 ] || [ "$1" -ne "$2" ]; then
			why="${why:+$why; }not every planned run passed ($summary)"
		fi
	fi
	if [ -z "$why" ]; then
		printf 'run-in-vm: PASS on %s: %s (%ss)\n' "$k" "$summary" "$secs"
		npassed=$((npassed + 1))
		rm -f "$log"
	else
		printf 'run-in-vm: FAIL on %s: %s (%ss); full output in %s\n' "$k" "$why" "$secs" "$log"
		tail -n 40 "$log" | sed 's/^/    /'
		nfailed=$((nfailed + 1))
	fi
done
printf '%s passed, %s failed\n' "$npassed" "$nfailed"
[ "$nfailed" -eq 0 ]
