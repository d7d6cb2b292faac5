#!/bin/sh
# Runs inside the VM guest (kmod/vm/vmrun, busybox sh, /dev/ummunotify loaded):
# the kernel benchmark and the Java benchmarks that need the module. Started
# by ./run-benchmarks and benchmarks/smoke.sh, never by hand:
#
#   kmod/vm/vmrun --param max_regions_per_file=200000 --file kmod/bench/build \
#       --file benchmarks/target/benchmarks.jar --file benchmarks/target/ummu.jar \
#       --file benchmarks/vm/guest.sh -- sh /work/guest.sh full|smoke [all|noalloc|alloc]
#
# The second argument picks a part of the full run: run-benchmarks boots the
# VM twice, once with 2 vCPUs for everything but the allocation benchmarks
# (noalloc) and once with 1 vCPU for those (alloc). Single-threaded TCG runs
# every vCPU in turn on one host thread while the guest's clock keeps real
# time, so with 2 vCPUs the benchmark thread is charged, as its own CPU time,
# the time the other vCPU ran the agent's dispatcher: its "thread CPU" was
# 11-13 us per 4 KiB allocation against 2.7-4.1 us with 1 vCPU, no agent
# 1.2-1.7 and 1.4 us (benchmarks/tools/analysis.md).
#
# The guest has no disk shared with the host: result files are printed
# between "=== FILE name" and "=== END name" lines for the host to cut out.
# Exits non-zero as soon as a step fails.
set -eu
mode=${1:-full}
part=${2:-all}
cd /work
out=/tmp/results
mkdir -p "$out"

if [ "$mode" = smoke ]; then
	jmh="-wi 0 -i 1 -r 100ms"
	lat="20 5"
else
	# Fewer iterations than on the host: the emulated CPU (TCG, no KVM here)
	# makes every second of the VM part expensive, and its absolute times
	# mean little anyway (only ratios within the VM do).
	jmh="-wi 3 -w 1s -i 3 -r 1s"
	lat="1000 100"
fi

emit() {
	echo "# $(date +%s) emitting $1"
	echo "=== FILE $1"
	cat "$out/$1"
	echo "=== END $1"
}

echo "# guest: $(uname -r), $(nproc) CPUs, $(grep MemTotal /proc/meminfo | tr -s ' ')"
echo "# guest CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"

if [ "$part" != alloc ]; then
	if ! /work/build/ubench "$mode" >"$out/ubench.tsv"; then
		cat "$out/ubench.tsv"
		echo "ubench failed" >&2
		exit 1
	fi
	emit ubench.tsv
fi

java="java --enable-native-access=ALL-UNNAMED"
# -f 0: the guest has no loopback network for JMH's fork protocol, and a fork
# per benchmark would cost seconds of emulated JVM start each. The fast path's
# figures do not depend on it: each notifier is a class of its own, and each
# benchmark's call site sees only its own notifier (benchmarks/tools/analysis.md,
# "Several notifiers").
if [ "$mode" = smoke ]; then
	# One JVM for all of JMH, every benchmark once, ummunotify backend, no
	# agent (its start-up alone takes tens of seconds on an emulated CPU; the
	# host part of the smoke run covers it). The report's files are copies.
	# shellcheck disable=SC2086
	$java -jar benchmarks.jar -f 0 $jmh -foe true -rf json -rff "$out/vm-smoke.json" \
		-p backend=ummunotify -p bufferSize=65536 -p keepOther=0 -prof io.ummu.bench.ProcessCpuProfiler \
		'FastPathBenchmark|WatchBenchmark|CacheBenchmark|AllocateDirectBenchmark'
	for f in vm-fastpath.json vm-alloc-none.json; do
		cp "$out/vm-smoke.json" "$out/$f"
		emit "$f"
	done
else
	if [ "$part" != alloc ]; then
		# shellcheck disable=SC2086
		$java -jar benchmarks.jar -f 0 $jmh -foe true -rf json -rff "$out/vm-fastpath.json" \
			-p backend=ummunotify -p bufferSize=65536 -prof io.ummu.bench.ProcessCpuProfiler \
			'FastPathBenchmark|WatchBenchmark|CacheBenchmark'
		emit vm-fastpath.json
		# shellcheck disable=SC2086
		$java -jar benchmarks.jar -f 0 $jmh -foe true -rf json -rff "$out/vm-watch-uffd.json" \
			-p backend=userfaultfd -p bufferSize=65536 -prof io.ummu.bench.ProcessCpuProfiler WatchBenchmark
		emit vm-watch-uffd.json
	fi
	if [ "$part" != noalloc ]; then
		# shellcheck disable=SC2086
		$java -jar benchmarks.jar -f 0 $jmh -foe true -rf json -rff "$out/vm-alloc-none.json" \
			-prof io.ummu.bench.ProcessCpuProfiler AllocateDirectBenchmark
		emit vm-alloc-none.json
		# shellcheck disable=SC2086
		$java -javaagent:/work/ummu.jar=backend=ummunotify -jar benchmarks.jar -f 0 $jmh -foe true \
			-rf json -rff "$out/vm-alloc-ummunotify.json" \
			-prof io.ummu.bench.ProcessCpuProfiler AllocateDirectBenchmark
		emit vm-alloc-ummunotify.json
		if [ "$part" = alloc ]; then
			echo "# guest done"
			exit 0
		fi
	fi
fi

backends="ummunotify userfaultfd"
[ "$mode" = smoke ] && backends=ummunotify
for b in $backends; do
	# shellcheck disable=SC2086
	$java -cp benchmarks.jar io.ummu.bench.UnmapLatency $b $lat "$out/vm-latency-$b.csv"
	emit "vm-latency-$b.csv"
done
echo "# guest done"
