#!/bin/sh
# Runs ummu's jcstress proofs in a bounded mode (a few minutes on 2 cores) and
# fails unless every expected test ran and none saw a FORBIDDEN outcome or an
# error.
#
#   jcstress-tests/run-bounded.sh [extra jcstress options...]
#
# Uses jcstress-tests/target/jcstress.jar (built by `./mvnw verify`; built
# here with ./mvnw if it is missing). Results: jcstress-tests/target/jcstress-results/
# (index.html, one page per test, output.txt, the result blob).
#
# Why the checks beyond jcstress's own exit status: jcstress exits 0 when no
# test matched, or when the annotation processor did not run and the jar holds
# no test list. So the script counts the @JCStressTest classes in the sources
# (every package but device/), requires the jar to list exactly that many, a
# report page for each of them, and jcstress's summary to say that every
# planned run passed.
#
# The bounded mode: -m quick, 1 fork, 2 CPUs, one 500 ms iteration per JVM
# configuration, without split compilation (-sc false): each test runs under
# C2, C2 with the C2 stress flags, C1 and the interpreter, each in its own JVM.
# For the full, longer run, see the README:
#   java -jar jcstress-tests/target/jcstress.jar -t '^io\.ummu\.jcstress\.(?!device\.)' -m default
#
# Environment: JAVA_HOME (a JDK >= 25 is picked as ./mvnw does when unset or
# older), JCSTRESS_MODE (default quick), JCSTRESS_TIME (ms per iteration,
# default 500), JCSTRESS_ITERS (default 1), JCSTRESS_TESTS (regexp, default
# every ummu test; a narrower one changes the expected count to the number of
# listed tests, but never below 1).
set -u
here=$(cd "$(dirname "$0")" && pwd -P)
root=$(dirname "$here")
jar="$here/target/jcstress.jar"
results="$here/target/jcstress-results"
mode=${JCSTRESS_MODE:-quick}
iter_ms=${JCSTRESS_TIME:-500}
iters=${JCSTRESS_ITERS:-1}
# The host tests: everything in io.ummu.jcstress and its packages except
# io.ummu.jcstress.device, whose tests need /dev/ummunotify and run from
# run-in-vm.sh.
selector=${JCSTRESS_TESTS:-'^io\.ummu\.jcstress\.(?!device\.)'}

die() {
	printf 'run-bounded: %s\n' "$*" >&2
	printf '0 passed, 1 failed\n'
	exit 1
}

# --- a JDK: the one the build uses (>= 25), found the way ./mvnw finds it ---
jdk_feature() {
	[ -x "$1/bin/java" ] || return 0
	v=$(sed -n 's/^JAVA_VERSION="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$1/release" 2>/dev/null | head -n 1)
	case "$v" in 1.*) v=${v#1.} ;; esac
	printf '%s' "${v%%[!0-9]*}"
}
java_home=""
if [ -n "${JAVA_HOME:-}" ] && [ "$(jdk_feature "$JAVA_HOME")" ] && [ "$(jdk_feature "$JAVA_HOME")" -ge 25 ]; then
	java_home=$JAVA_HOME
else
	best=0
	for d in /usr/lib/jvm/*/; do
		d=${d%/}
		[ -L "$d" ] && continue
		f=$(jdk_feature "$d")
		if [ -n "$f" ] && [ "$f" -ge 25 ] && [ "$f" -gt "$best" ]; then
			java_home=$d best=$f
		fi
	done
fi
[ -n "$java_home" ] || die "no JDK >= 25 (set JAVA_HOME, or install temurin-25-jdk)"
java="$java_home/bin/java"

if [ ! -f "$jar" ]; then
	printf 'run-bounded: %s is missing, building it\n' "$jar"
	(cd "$root" && JAVA_HOME=$java_home ./mvnw -B -q -pl jcstress-tests -am package -DskipTests) ||
		die "building $jar failed"
fi

# --- what must run ---------------------------------------------------------
expected=$(grep -rl --include='*.java' '^@JCStressTest' "$here/src/main/java/io/ummu/jcstress" |
	grep -vc '/io/ummu/jcstress/device/')
listed=$("$java" -jar "$jar" -l -t "$selector" 2>/dev/null | grep -E '^io\.ummu\.' | sort)
nlisted=$(printf '%s' "$listed" | grep -c .)
if [ -z "${JCSTRESS_TESTS:-}" ]; then
	[ "$nlisted" -eq "$expected" ] ||
		die "the jar lists $nlisted ummu tests, the sources have $expected @JCStressTest classes (was the annotation processor run?)"
else
	expected=$nlisted
fi
[ "$expected" -ge 1 ] || die "no test matches '$selector'"

# --- run -------------------------------------------------------------------
rm -rf "$results"
mkdir -p "$results" || die "cannot create $results"
printf 'run-bounded: %s tests, mode %s, -sc false -c 2 -f 1 -iters %s -time %s, on %s\n' \
	"$expected" "$mode" "$iters" "$iter_ms" "$java"
start=$(date +%s)
# cd: jcstress writes its result blob into the working directory.
# --enable-native-access: JNA (jcstress's affinity code) and libummu load
# native code; --sun-misc-unsafe-memory-access=allow: the tests unmap pages
# with Unsafe.invokeCleaner. Without them JDK 24+ prints warnings into every
# fork's report.
(cd "$results" && "$java" -jar "$jar" \
	-t "$selector" -m "$mode" -sc false -c 2 -f 1 -iters "$iters" -time "$iter_ms" \
	-jvmArgsPrepend "--enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow" \
	-r "$results" "$@") >"$results/output.txt" 2>&1
rc=$?
end=$(date +%s)
sed -n '/^RUN RESULTS:/,$p' "$results/output.txt"
printf 'run-bounded: jcstress exited %s after %ss; full output in %s\n' "$rc" "$((end - start))" "$results/output.txt"

# --- count -----------------------------------------------------------------
ran=$(cd "$results" && ls -- io.ummu.*.html 2>/dev/null | sed 's/\.html$//' | sort)
nran=$(printf '%s' "$ran" | grep -c .)
# Tests named in the summary's "Failed tests" and "Error tests" sections.
bad=$(sed -n '/^  Failed tests:/,/^  All remaining tests:/p' "$results/output.txt" |
	grep -oE 'io\.ummu\.[A-Za-z0-9_.]+' | sort -u)
nbad=$(printf '%s' "$bad" | grep -c .)
summary=$(grep -E '^\(Results: [0-9]+ planned;' "$results/output.txt" | tail -n 1)
clean=$(printf '%s\n' "$summary" |
	sed -n 's/^(Results: \([0-9]*\) planned; \1 passed, 0 failed, 0 soft errs, 0 hard errs)$/yes/p')
missing=$(printf '%s\n' "$listed" | while read -r t; do
	[ -n "$t" ] && ! printf '%s\n' "$ran" | grep -qxF "$t" && printf '%s\n' "$t"
done)
nmissing=$(printf '%s' "$missing" | grep -c .)

status=0
if [ "$rc" -ne 0 ]; then
	printf 'run-bounded: FAIL: jcstress exited %s\n' "$rc"
	status=1
fi
if [ "$clean" != yes ]; then
	printf 'run-bounded: FAIL: not every planned run passed: %s\n' "${summary:-no summary line}"
	status=1
fi
if ! grep -q '^  Failed tests: No matches\.' "$results/output.txt" ||
	! grep -q '^  Error tests: No matches\.' "$results/output.txt"; then
	printf 'run-bounded: FAIL: jcstress reports failed (FORBIDDEN) or erroneous tests\n'
	status=1
fi
for t in $bad; do
	printf 'run-bounded: FAIL: %s (forbidden outcome or error, see %s/%s.html)\n' "$t" "$results" "$t"
done
[ "$nbad" -eq 0 ] || status=1
for t in $missing; do
	printf 'run-bounded: FAIL: %s did not run (no report page)\n' "$t"
done
[ "$nmissing" -eq 0 ] || status=1
if [ "$nran" -lt "$expected" ]; then
	printf 'run-bounded: FAIL: %s of %s expected tests ran\n' "$nran" "$expected"
	status=1
fi
if [ "$status" -ne 0 ] && [ "$nbad" -eq 0 ]; then
	# jcstress failed without naming a test: count the whole run as failed.
	nbad=$expected
fi
npassed=$((nran - nbad))
[ "$npassed" -ge 0 ] || npassed=0
nfailed=$((expected - npassed))
printf '%s passed, %s failed\n' "$npassed" "$nfailed"
exit "$status"
