#!/bin/bash
# Runs the RegistrationCache tests (package io.ummu.cache) inside the VM harness,
# against the real ummunotify module, on each kernel series.
#
#   agent-java/src/test/vm/run-cache-in-vm.sh [--kernel 6.1|6.12]...
#
# Needs the outputs of `./mvnw -B -pl agent-java -am verify` (or `package`):
#   agent-java/target/ummu.jar             -> /opt/ummu/ummu.jar (vmrun adds it)
#   agent-java/target/test-classes         -> /work/test-classes
#   agent-java/target/device-tests/junit-platform-console-standalone.jar
#                                          -> /work/device-tests/ (the launcher pinned in
#                                             agent-java/pom.xml for the device tests)
# The guest has a JDK 25 and no Maven, so the tests run from the JUnit console launcher,
# the same way as the device tests. -Dummu.test.require=ummunotify turns a missing module
# into a failure instead of a skip, so a broken set-up cannot pass as "all skipped".
# The userfaultfd cases run too where the guest kernel has it (6.12; 6.1 skips them).
#
# Exit status: 0 when every kernel passed; otherwise the first failing vmrun's status
# (1 test failure, 123 kernel splat, 124 timeout, 125 harness error; see kmod/README.md).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../../.." && pwd)
TARGET=$REPO/agent-java/target
LAUNCHER=$TARGET/device-tests/junit-platform-console-standalone.jar

say() { echo "run-cache-in-vm: $*" >&2; }

KERNELS=()
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) [ $# -ge 2 ] || { say "--kernel needs 6.1 or 6.12"; exit 2; }; KERNELS+=("$2"); shift 2 ;;
	--kernel=*) KERNELS+=("${1#*=}"); shift ;;
	-h|--help) sed -n '2,20s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) say "unknown argument '$1' (see --help)"; exit 2 ;;
	esac
done
[ ${#KERNELS[@]} -gt 0 ] || KERNELS=(6.12 6.1)

for f in "$TARGET/ummu.jar" "$TARGET/test-classes/io/ummu/cache" "$LAUNCHER"; do
	if [ ! -e "$f" ]; then
		say "missing $f: build first with ./mvnw -B -pl agent-java -am verify"
		exit 125
	fi
done

export UMMU_VM_CACHE=${UMMU_VM_CACHE:-$REPO/.cache/vm}

# One line for the guest's sh; the classes come from ummu.jar (multi-release, so the
# Java 22 RegistrationCache with acquire(MemorySegment) is used) and the test classes.
GUEST='java -Dummu.test.require=ummunotify --enable-native-access=ALL-UNNAMED
 -jar /work/device-tests/junit-platform-console-standalone.jar execute
 --disable-banner --disable-ansi-colors --details=tree --fail-if-no-tests
 --class-path /opt/ummu/ummu.jar:/work/test-classes --select-package io.ummu.cache'

status=0
for k in "${KERNELS[@]}"; do
	say "kernel $k"
	start=$(date +%s)
	rc=0
	"$REPO/kmod/vm/vmrun" --kernel "$k" --timeout 900 \
		--file "$TARGET/test-classes" --file "$TARGET/device-tests" \
		-- sh -c "$(echo "$GUEST" | tr '\n' ' ')" || rc=$?
	say "kernel $k: exit $rc after $(( $(date +%s) - start )) s"
	if [ $rc -ne 0 ] && [ $status -eq 0 ]; then
		status=$rc
	fi
done
exit $status
