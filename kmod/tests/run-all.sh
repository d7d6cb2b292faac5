#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Runs every test binary in the directory this script sits in, passes their
# TAP through, and ends with "N passed, N failed, N skipped" (test cases).
# Exits non-zero if a case failed, a binary crashed or exited non-zero, or a
# binary printed fewer results than its plan announced.
#
# POSIX sh; runs under busybox sh in the VM guest.
#   run-all.sh [TEST...]     only the named tests (default: all)
# Extra arguments for stress/fuzz come from STRESS_ARGS / FUZZ_ARGS.

dir=$(cd "$(dirname "$0")" && pwd) || exit 2
tmp=${TMPDIR:-/tmp}/run-all.$$
mkdir -p "$tmp" || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

if [ $# -gt 0 ]; then
	tests=
	for t in "$@"; do
		tests="$tests $dir/$t"
	done
else
	tests=
	for t in "$dir"/*; do
		case "$t" in
		*.sh | *.txt | *.log) continue ;;
		esac
		[ -f "$t" ] && [ -x "$t" ] && tests="$tests $t"
	done
fi

pass=0
fail=0
skip=0
bad_bins=

for t in $tests; do
	name=$(basename "$t")
	args=
	case "$name" in
	stress) args=${STRESS_ARGS:-} ;;
	fuzz) args=${FUZZ_ARGS:-} ;;
	esac
	echo "# ---- $name $args"
	# The exit status must survive the pipe: no pipefail in POSIX sh.
	# shellcheck disable=SC2086
	{ "$t" $args 2>&1; echo "$?" > "$tmp/rc"; } | tee "$tmp/out"
	rc=$(cat "$tmp/rc" 2>/dev/null || echo 255)

	p=$(grep -c '^ok ' "$tmp/out")
	s=$(grep -c '^ok .*# *SKIP' "$tmp/out")
	f=$(grep -c '^not ok ' "$tmp/out")
	planned=$(sed -n 's/^1\.\.\([0-9][0-9]*\).*/\1/p' "$tmp/out" | head -n 1)
	p=$((p - s))
	pass=$((pass + p))
	skip=$((skip + s))
	fail=$((fail + f))

	why=
	if [ "$rc" -gt 128 ]; then
		why="killed by signal $((rc - 128))"
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		why="exit status $rc without a failed case"
	fi
	if [ -z "$planned" ]; then
		why="${why:+$why, }no TAP plan"
	elif [ "$((p + s + f))" -ne "$planned" ]; then
		why="${why:+$why, }$((p + s + f)) results for a plan of $planned"
	fi
	if [ -n "$why" ]; then
		echo "# $name: $why"
		# A broken binary counts as one failed case.
		fail=$((fail + 1))
		bad_bins="$bad_bins $name"
	fi
done

[ -n "$bad_bins" ] && echo "# broken test binaries:$bad_bins"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] && { [ "$pass" -gt 0 ] || [ "$skip" -gt 0 ]; }
