#!/bin/sh
# The agent against the real ummunotify module: boots each guest kernel with
# kmod/vm/vmrun and runs, inside it,
#   1. the demo app with the agent (java --enable-native-access=ALL-UNNAMED -javaagent:/opt/ummu/ummu.jar -jar ummu-demo.jar),
#      which exits 0 only if it saw every expected RELEASED, UNMAPPED and DANGLING event;
#   2. on the kernels in UMMU_AGENT_VM_TEST_KERNELS only, the agent's behavioural
#      tests that depend on the kernel backend (AgentTrackingTest: every kind tracked
#      and released, the release's unmap reported once, DANGLING for a native unmap
#      and not for releases; AgentSegmentsJdk22Test: native segments, FFM munmap
#      behind a live mapped segment), with the JUnit console launcher; each test
#      starts its own child JVM with -javaagent, here on the ummunotify backend.
# The hook, option, fail-open, late-attach and stress tests do not depend on the
# kernel backend and run on the host (./mvnw verify). Under TCG a child JVM takes
# about two minutes, so the defaults keep this stage near ten minutes.
#
#   agent-java/src/test/vm/run-agent-in-vm.sh
#   UMMU_AGENT_VM_KERNELS="6.1 6.12"       demo on these (default: 6.1 6.12)
#   UMMU_AGENT_VM_TEST_KERNELS="6.1 6.12"  tests on these as well (default: 6.12)
#
# Needs agent-java/target/{ummu.jar,test-classes,device-tests/junit-platform-console-standalone.jar}
# and examples/target/ummu-demo.jar; builds them with ./mvnw package when missing.
# Exit status: 0 when everything passed on every kernel.
set -u
cd "$(dirname "$0")/../../../.."

launcher=agent-java/target/device-tests/junit-platform-console-standalone.jar
if [ ! -f agent-java/target/ummu.jar ] || [ ! -d agent-java/target/test-classes/io/ummu/agent ] ||
	[ ! -f "$launcher" ] || [ ! -f examples/target/ummu-demo.jar ]; then
	echo "run-agent-in-vm: building ummu.jar, the test classes and the demo (./mvnw -B -q -pl agent-java,examples -am package)"
	./mvnw -B -q -pl agent-java,examples -am package || exit 1
fi

stage=$(mktemp -d /tmp/ummu-agent-vm.XXXXXX)
trap 'rm -rf "$stage"' EXIT
cp -r agent-java/target/test-classes "$stage/test-classes"
cat > "$stage/agent-guest.sh" <<'GUEST'
# Runs in the guest, from /work. $1: "tests" to run the tests after the demo.
rc=0
echo "==== demo: java --enable-native-access=ALL-UNNAMED -javaagent:/opt/ummu/ummu.jar -jar ummu-demo.jar"
java --enable-native-access=ALL-UNNAMED -javaagent:/opt/ummu/ummu.jar -jar ummu-demo.jar > demo.out 2>&1
st=$?
cat demo.out
if [ $st -ne 0 ]; then
	echo "==== demo: FAILED (exit $st)"
	rc=1
elif ! grep -q '^backend: ummunotify' demo.out; then
	echo "==== demo: FAILED (not on the ummunotify backend)"
	rc=1
else
	echo "==== demo: PASSED"
fi
if [ "${1:-}" = tests ]; then
echo "==== agent tests"
if java -cp junit-platform-console-standalone.jar:test-classes:/opt/ummu/ummu.jar \
	--enable-native-access=ALL-UNNAMED \
	org.junit.platform.console.ConsoleLauncher execute \
	--disable-banner --details=tree --fail-if-no-tests \
	--select-class io.ummu.agent.AgentTrackingTest \
	--select-class io.ummu.agent.AgentSegmentsJdk22Test; then
	echo "==== agent tests: PASSED"
else
	echo "==== agent tests: FAILED"
	rc=1
fi
fi
# The tests need the module's backend, not a fallback.
if ! grep -q ummunotify /proc/modules; then
	echo "==== ummunotify is not loaded"
	rc=1
fi
exit $rc
GUEST

failed=""
for k in ${UMMU_AGENT_VM_KERNELS:-6.1 6.12}; do
	what=demo
	case " ${UMMU_AGENT_VM_TEST_KERNELS:-6.12} " in
	*" $k "*) what=tests ;;
	esac
	echo "run-agent-in-vm: kernel $k ($what)"
	if kmod/vm/vmrun -v --kernel "$k" --timeout 1800 \
		--file examples/target/ummu-demo.jar --file "$launcher" \
		--file "$stage/test-classes" --file "$stage/agent-guest.sh" -- sh agent-guest.sh "$what"; then
		echo "run-agent-in-vm: kernel $k PASSED"
	else
		echo "run-agent-in-vm: kernel $k FAILED"
		failed="$failed $k"
	fi
done
[ -z "$failed" ] || { echo "run-agent-in-vm: failed on kernel(s):$failed"; exit 1; }
echo "run-agent-in-vm: passed on ${UMMU_AGENT_VM_KERNELS:-6.1 6.12}"
