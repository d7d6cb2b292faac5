#!/usr/bin/env python3
"""Writes benchmarks/REPORT.md (and its PNG plots) from the results folder of
./run-benchmarks. Every figure comes from that folder; the hand-written
analysis (why a figure misses its target, what to do) is
benchmarks/tools/analysis.md, appended as it is.

    report.py RESULTS_DIR REPORT.md PLOT_DIR

Exits non-zero if a result file the report needs is missing or malformed.
Plots need matplotlib; without it the report says so and has none.
"""
import csv
import json
import math
import os
import re
import statistics
import sys

RES, REPORT, PLOTS = sys.argv[1], sys.argv[2], sys.argv[3]
HERE = os.path.dirname(os.path.abspath(__file__))

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    HAVE_PLOT = True
except ImportError:
    HAVE_PLOT = False


def path(name):
    return os.path.join(RES, name)


def load_env():
    env = {}
    with open(path("env.tsv")) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("\t")
            env[k] = v
    return env


SMOKE = False
NAN = float("nan")


def jmh(name):
    """{(short benchmark name, params tuple): (score, error, unit, secondary)}"""
    out = {}
    if SMOKE and not os.path.exists(path(name)):
        return out  # a smoke run skips some configurations
    with open(path(name)) as f:
        for r in json.load(f):
            short = r["benchmark"].rsplit(".", 2)[-2] + "." + r["benchmark"].rsplit(".", 1)[-1]
            params = tuple(sorted((r.get("params") or {}).items()))
            pm = r["primaryMetric"]
            err = pm["scoreError"]
            err = float(err) if err not in ("NaN", None) else float("nan")
            sec = {k: v["score"] for k, v in (r.get("secondaryMetrics") or {}).items()}
            out[(short, params)] = (pm["score"], err, pm["scoreUnit"], sec)
    return out


def score(results, bench, **params):
    """The one result of bench whose parameters include params (a benchmark
    may have more parameters than the report names, each run at one value)."""
    want = {(k, str(v)) for k, v in params.items()}
    found = [v for (b, p), v in results.items() if b == bench and want <= set(p)]
    if len(found) != 1:
        if SMOKE and not found:
            return (NAN, NAN, "ns/op", {})
        what = "no result" if not found else f"{len(found)} results"
        raise SystemExit(f"report: {what} for {bench} {params} (have {sorted(results)})")
    return found[0]


def ubench():
    """{(name, size, regs): dict(n, median, p10, p90, mean)}"""
    out = {}
    with open(path("ubench.tsv")) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if p[0] != "BENCH":
                continue
            out[(p[1], int(p[2]), int(p[3]))] = dict(
                n=int(p[4]), median=float(p[5]), p10=float(p[6]), p90=float(p[7]), mean=float(p[8]))
    return out


def latency(name):
    lat, call = [], []
    with open(path(name)) as f:
        for row in csv.reader(line for line in f if not line.startswith("#")):
            lat.append(int(row[0]))
            call.append(int(row[1]))
    lat.sort()
    call.sort()
    return lat, call


def wakeup_floor(name):
    """wakeup_floor's summary lines: {chain: (p50, p99, p99.9) in ns}, {} if it did not run."""
    out = {}
    if not os.path.exists(path(name)):
        return out
    with open(path(name)) as f:
        for line in f:
            m = re.match(r"(.+?)\s+p50\s+([\d.]+) us\s+p90\s+[\d.]+ us\s+p99\s+([\d.]+) us"
                         r"\s+p99\.9\s+([\d.]+) us", line)
            if m:
                out[m.group(1).strip()] = tuple(float(m.group(i)) * 1e3 for i in (2, 3, 4))
    return out


def pct(sorted_values, p):
    rank = math.ceil(p / 100 * len(sorted_values))
    return sorted_values[max(0, min(len(sorted_values) - 1, rank - 1))]


def fmt_ns(ns):
    if ns != ns:
        return "n/a"
    if ns >= 1e6:
        return f"{ns / 1e6:,.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:,.1f} µs"
    if ns >= 10:
        return f"{ns:,.0f} ns"
    return f"{ns:.2f} ns"


def fmt_err(score_, err):
    if err != err:
        return fmt_ns(score_)
    return f"{fmt_ns(score_)} ± {fmt_ns(err)}"


def verdict(value, limit):
    if value != value:
        return "n/a"
    return "**met**" if value <= limit else "**missed**"


def table(head, rows):
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(lines)


def main():
    global SMOKE
    env = load_env()
    smoke = SMOKE = env.get("mode") == "smoke"
    os.makedirs(PLOTS, exist_ok=True)
    plot_rel = os.path.relpath(PLOTS, os.path.dirname(os.path.abspath(REPORT)))
    plots = []

    host_fp = jmh("host-fastpath.json")
    vm_fp = jmh("vm-fastpath.json")
    vm_watch_uffd = jmh("vm-watch-uffd.json")
    alloc_cfgs = [
        ("host", "none", "no agent"),
        ("host", "userfaultfd", "agent, userfaultfd"),
        ("host", "jvm", "agent, jvm backend (no kernel)"),
        ("host", "userfaultfd-stacks", "agent, userfaultfd, stackSampling=1"),
        ("vm", "none", "no agent"),
        ("vm", "ummunotify", "agent, ummunotify"),
    ]
    alloc = {(w, c): jmh(f"{w}-alloc-{c}.json") for w, c, _ in alloc_cfgs}
    # Full runs add pairs of 4 KiB forks on the host, no agent then the agent, in turn:
    # (pair, result without the agent, result with it).
    turns = [(i, score(jmh(f"host-alloc4k-none-{i}.json"), "AllocateDirectBenchmark.allocateRelease", size=4096),
              score(jmh(f"host-alloc4k-userfaultfd-{i}.json"), "AllocateDirectBenchmark.allocateRelease", size=4096))
             for i in (1, 2, 3) if os.path.exists(path(f"host-alloc4k-userfaultfd-{i}.json"))]
    kb = ubench()
    lats = {}
    for where, b, f in (("host", "userfaultfd", "host-latency-userfaultfd.csv"),
                        ("VM", "ummunotify", "vm-latency-ummunotify.csv"),
                        ("VM", "userfaultfd", "vm-latency-userfaultfd.csv")):
        if SMOKE and not os.path.exists(path(f)):
            continue
        lats[(where, b)] = latency(f)
    floor = wakeup_floor("host-wakeup-floor.txt")
    with open(path("startup.json")) as f:
        startup = json.load(f)
    stages = []
    with open(path("stages.tsv")) as f:
        for line in f:
            stages.append(line.rstrip("\n").split("\t"))

    # ------------------------------------------------------------ targets
    hp = "userfaultfd"
    vol = score(host_fp, "FastPathBenchmark.volatileLongRead", backend=hp)[0]
    gen = score(host_fp, "FastPathBenchmark.generationAcquire", backend=hp)[0]
    chg = score(host_fp, "FastPathBenchmark.changedSince", backend=hp)[0]
    vm_vol = score(vm_fp, "FastPathBenchmark.volatileLongRead", backend="ummunotify")[0]
    vm_gen = score(vm_fp, "FastPathBenchmark.generationAcquire", backend="ummunotify")[0]

    levels = sorted({r for (n, s, r) in kb if n == "munmap" and s == 4096})
    top = levels[-1]
    m0 = kb[("munmap", 4096, 0)]["median"]
    mtop = kb[("munmap", 4096, top)]["median"]
    pair0 = kb[("regpair", 4096, 0)]["median"]
    cycle = kb[("cycle_nofile", 4096, -1)]["median"]

    def cpuw(results, bench, **params):
        return score(results, bench, **params)[3].get("cpu.worker", NAN)

    vol_c = cpuw(host_fp, "FastPathBenchmark.volatileLongRead", backend=hp)
    gen_c = cpuw(host_fp, "FastPathBenchmark.generationAcquire", backend=hp)
    chg_c = cpuw(host_fp, "FastPathBenchmark.changedSince", backend=hp)
    vm_vol_c = cpuw(vm_fp, "FastPathBenchmark.volatileLongRead", backend="ummunotify")
    vm_gen_c = cpuw(vm_fp, "FastPathBenchmark.generationAcquire", backend="ummunotify")

    def both(w_a, w_b, c_a, c_b):
        """measured, wall ratio, CPU ratio, and the ratio the verdict uses (CPU when there is one)"""
        cr = c_a / c_b if c_b == c_b and c_b else NAN
        return (f"{fmt_ns(c_a)} vs {fmt_ns(c_b)} CPU; {fmt_ns(w_a)} vs {fmt_ns(w_b)} wall",
                f"{w_a / w_b:.2f}×", f"{cr:.2f}×", cr if cr == cr else w_a / w_b)

    rows = []
    for label, a, b, ca, cb in (
            ("\"anything changed?\" fast path `generationAcquire()`, host, userfaultfd backend", gen, vol, gen_c,
             vol_c),
            ("same, `changedSince(seen)`", chg, vol, chg_c, vol_c),
            ("same (`generationAcquire()`), in the VM on /dev/ummunotify (emulated CPU)", vm_gen, vm_vol,
             vm_gen_c, vm_vol_c)):
        m, rw, rc, v = both(a, b, ca, cb)
        rows.append([label, "≤ 1.5× volatile long read", m, rw, rc, verdict(v, 1.5)])
    rows.append([f"munmap of one page with {top:,} unrelated registrations (VM, median)",
                 "≤ 1.05× with none", f"{fmt_ns(mtop)} vs {fmt_ns(m0)}", f"{mtop / m0:.3f}×", "",
                 verdict(mtop / m0, 1.05)])
    rows.append(["register + unregister pair (kernel, VM, median)", "≤ 0.1× mmap+touch+munmap",
                 f"{fmt_ns(pair0)} vs {fmt_ns(cycle)}", f"{pair0 / cycle:.3f}×", "", verdict(pair0 / cycle, 0.1)])

    def alloc_pair(where, cfg, size, metric):
        none = score(alloc[(where, "none")], "AllocateDirectBenchmark.allocateRelease", size=size)
        withc = score(alloc[(where, cfg)], "AllocateDirectBenchmark.allocateRelease", size=size)
        if metric is None:
            return withc[0], none[0]
        return withc[3].get(metric, NAN), none[3].get(metric, NAN)

    for size, limit in ((4096, 1.3), (1048576, 1.05)):
        label = "4 KiB" if size == 4096 else "1 MiB"
        for where, cfg, what in (("host", "userfaultfd", "host, userfaultfd"),
                                 ("vm", "ummunotify", "VM, ummunotify")):
            wa, wb = alloc_pair(where, cfg, size, None)
            ca, cb = alloc_pair(where, cfg, size, "cpu.worker")
            pa, pb = alloc_pair(where, cfg, size, "cpu.process")
            m, rw, rc, v = both(wa, wb, ca, cb)
            rows.append([f"`allocateDirect({label})` + release, agent on ({what}): application thread",
                         f"≤ {limit}× without", m, rw, rc, verdict(v, limit)])
            rows.append([f"same, CPU of the whole process (the agent's dispatcher included)", f"≤ {limit}× without",
                         f"{fmt_ns(pa)} vs {fmt_ns(pb)} CPU", "", f"{pa / pb:.2f}×", verdict(pa / pb, limit)])
    for (where, b), (lat, _) in lats.items():
        p99 = pct(lat, 99)
        rows.append([f"munmap → listener latency p99, {b} ({where})", "≤ 50 µs", fmt_ns(p99), "", "",
                     verdict(p99, 50_000)])
    st = startup["samples_ns"]
    for jdk in ("jdk17", "jdk25"):
        bare = statistics.median(st[f"{jdk}/bare"])
        ag = statistics.median(st[f"{jdk}/agent"])
        rows.append([f"JVM start with the agent, {jdk.upper().replace('JDK', 'JDK ')} (median)",
                     "≤ +150 ms over bare", f"{fmt_ns(ag)} vs {fmt_ns(bare)}", f"+{(ag - bare) / 1e6:,.0f} ms", "",
                     verdict(ag - bare, 150e6)])

    # ------------------------------------------------------------ plots
    if HAVE_PLOT:
        # Invalidation cost vs registrations.
        fig, ax = plt.subplots(figsize=(7, 4.2))
        xs = [max(l, 1) for l in levels]
        for name, size, label in (("munmap", 4096, "munmap, 1 page"), ("munmap", 2 << 20, "munmap, 2 MiB"),
                                  ("regpair", 4096, "register + unregister")):
            base = kb[(name, size, 0)]["median"]
            ys = [kb[(name, size, l)]["median"] / base for l in levels]
            ax.plot(xs, ys, marker="o", label=label)
        ax.axhline(1.05, color="red", linestyle="--", linewidth=1, label="munmap target 1.05×")
        ax.set_xscale("log")
        ax.set_xticks(xs)
        ax.set_xticklabels(["0"] + [f"{l:,}" for l in levels[1:]])
        ax.set_xlabel("unrelated registrations in the file")
        ax.set_ylabel("median time / median with 0 registrations")
        ax.set_title("Kernel: cost vs registrations (VM, Linux guest, TCG)")
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(PLOTS, "invalidation-vs-registrations.png"), dpi=110)
        plt.close(fig)
        plots.append("invalidation-vs-registrations.png")

        # Latency distribution (CDF).
        fig, ax = plt.subplots(figsize=(7, 4.2))
        for (where, b), (lat, _) in lats.items():
            n = len(lat)
            ax.plot([v / 1e3 for v in lat], [(i + 1) / n for i in range(n)], label=f"{b} ({where}, n={n})")
        ax.axvline(50, color="red", linestyle="--", linewidth=1, label="p99 target 50 µs")
        ax.axhline(0.99, color="gray", linestyle=":", linewidth=1)
        ax.set_xscale("log")
        ax.set_xlabel("munmap → listener latency (µs, log scale)")
        ax.set_ylabel("fraction of samples ≤ x")
        ax.set_title("Unmap → listener latency distribution")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right")
        fig.tight_layout()
        fig.savefig(os.path.join(PLOTS, "latency-cdf.png"), dpi=110)
        plt.close(fig)
        plots.append("latency-cdf.png")

        # Allocation overhead by size.
        fig, ax = plt.subplots(figsize=(7, 4.2))
        sizes = [4096, 65536, 1048576]
        cfgs = [("host", "userfaultfd", "cpu.worker", "host, userfaultfd (thread CPU)"),
                ("host", "userfaultfd", "cpu.process", "host, userfaultfd (process CPU)"),
                ("host", "jvm", "cpu.worker", "host, jvm backend (thread CPU)"),
                ("host", "userfaultfd-stacks", "cpu.worker", "host, userfaultfd + stacks (thread CPU)"),
                ("vm", "ummunotify", "cpu.worker", "VM, ummunotify (thread CPU)"),
                ("vm", "ummunotify", "cpu.process", "VM, ummunotify (process CPU)")]
        width = 0.8 / len(cfgs)
        for i, (w, c, metric, label) in enumerate(cfgs):
            ys = []
            for sz in sizes:
                a, b = alloc_pair(w, c, sz, metric)
                ys.append(a / b)
            ax.bar([j + i * width for j in range(len(sizes))], ys, width, label=label)
        ax.axhline(1.3, color="orange", linestyle="--", linewidth=1, label="4 KiB target 1.3×")
        ax.axhline(1.05, color="red", linestyle="--", linewidth=1, label="1 MiB target 1.05×")
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(sizes))])
        ax.set_xticklabels(["4 KiB", "64 KiB", "1 MiB"])
        ax.set_yscale("log")
        ax.set_ylabel("CPU time with agent / without (log scale)")
        ax.set_title("allocateDirect + release: agent overhead by size")
        ax.legend(fontsize=7)
        ax.grid(True, axis="y", alpha=0.3)
        fig.tight_layout()
        fig.savefig(os.path.join(PLOTS, "allocation-overhead.png"), dpi=110)
        plt.close(fig)
        plots.append("allocation-overhead.png")

        # Start-up.
        fig, ax = plt.subplots(figsize=(7, 3.6))
        kinds = [k for k in ("bare", "agent", "agent-nojfr-nojmx", "agent-disabled") if f"jdk17/{k}" in st]
        bw = 0.8 / len(kinds)
        for i, k in enumerate(kinds):
            ys = [statistics.median(st[f"{j}/{k}"]) / 1e6 for j in ("jdk17", "jdk25")]
            ax.bar([x + i * bw for x in range(2)], ys, bw, label=k)
        ax.set_xticks([x + 0.4 - bw / 2 for x in range(2)])
        ax.set_xticklabels(["JDK 17", "JDK 25"])
        ax.set_ylabel("hello world wall time, median (ms)")
        ax.set_title("JVM start-up with and without the agent")
        ax.legend()
        ax.grid(True, axis="y", alpha=0.3)
        fig.tight_layout()
        fig.savefig(os.path.join(PLOTS, "startup.png"), dpi=110)
        plt.close(fig)
        plots.append("startup.png")

    def img(name, alt):
        if name in plots:
            return f"![{alt}]({plot_rel}/{name})\n"
        return f"_(plot {name} not drawn: matplotlib is not installed)_\n"

    # ------------------------------------------------------------ text
    md = []
    md.append("# ummu performance report\n")
    if smoke:
        md.append("**SMOKE RUN**: every benchmark ran once with minimal iterations; the figures below only "
                  "show that the benchmarks work, they measure nothing.\n")
    md.append(f"Written by `./run-benchmarks` ({env.get('mode')} run) on {env.get('date')}, "
              f"commit {env.get('commit')}. Every figure below comes from that one run; "
              "ratios are taken between figures of the same run.\n")
    md.append("## Where it ran\n")
    vm_guest = [l for l in open(path("vm.log")) if l.startswith("# guest:") or l.startswith("# guest CPU:")]
    # Full runs boot the VM a second time, with 1 vCPU, for the allocation benchmarks.
    alloc_guest = ([l for l in open(path("vm-alloc.log")) if l.startswith("# guest:")]
                   if os.path.exists(path("vm-alloc.log")) else [])
    md.append(table(["", ""], [
        ["host CPU", f"{env.get('cpu')}, {env.get('cpus')} cores"],
        ["host memory", env.get("memory")],
        ["host kernel", env.get("kernel")],
        ["JDK 25", env.get("jdk25")],
        ["JDK 17", env.get("jdk17")],
        ["VM", "kmod/vm/vmrun: QEMU, 2 vCPUs, 2 GiB; **TCG (emulated CPU, no KVM on this host)**; "
               + "; ".join(l[len('# guest'):].strip(" :\n") for l in vm_guest)
               + ("; allocation benchmarks in a second boot with 1 vCPU ("
                  + "; ".join(l[len('# guest'):].strip(" :\n") for l in alloc_guest)
                  + "): with 2, single-threaded TCG charges the benchmark thread the other vCPU's time"
                  if alloc_guest else "")],
        ["load average (1/5/15 min) at start", env.get("loadavg_start")],
        ["load average at end", env.get("loadavg_end")],
        ["other work at start", env.get("other_processes", "")],
    ]))
    md.append("")
    md.append("Stage timings and the load average around each stage:\n")
    md.append(table(["stage", "status", "seconds", "load before", "load after"], stages))
    md.append("")
    md.append(
        "**Noise.** This machine has 2 cores and was shared with other work during the run (see the load "
        "averages: anything above 2 means runnable threads were waiting for a core). Single figures can be "
        "off by a factor; the ratios are taken between neighbouring measurements of the same run and are "
        "more trustworthy than the absolute values, but a ratio near its target can flip either way between "
        "runs. The VM runs on an emulated CPU (TCG): its absolute times are 10-100× a real machine's, and "
        "only ratios within the VM mean anything.\n")
    if env.get("note"):
        md.append(f"**Conditions of this run** (as stated by whoever ran it): {env['note']}\n")

    md.append("## Targets\n")
    md.append("The targets of DESIGN.md, each held against figures of this run. For the JMH figures two "
              "ratios are given: of wall time per operation (JMH's score) and of the CPU time the benchmark "
              "thread used per operation (`ProcessCpuProfiler`, `cpu.worker`). On a machine whose load is far "
              "above its core count, wall time mostly measures how long the thread waited for a core, while "
              "CPU time does not grow with waiting; **the verdict uses the CPU-time ratio** where there is "
              "one. Kernel and latency figures are medians/percentiles of single operations.\n")
    md.append(table(["what", "target", "measured", "ratio (wall)", "ratio (CPU)", "verdict"], rows))
    md.append("")
    turn_ratios = [r[3].get("cpu.worker", NAN) / r0[3].get("cpu.worker", NAN) for _, r0, r in turns]
    if turn_ratios:
        md.append("The 4 KiB host figure above is one fork; three more pairs of forks, in turn, gave "
                  + ", ".join(f"{x:.2f}×" for x in turn_ratios)
                  + " on the application thread (see \"4 KiB on the host, more forks in turn\" below): "
                  + f"the 1.3× target met in {sum(1 for x in turn_ratios if x <= 1.3)} of {len(turn_ratios)}.\n")

    # Fast path.
    md.append("## Fast path: \"did anything change?\"\n")
    md.append("JMH, `AverageTime`, one fork per benchmark, JDK 25 "
              "(`FastPathBenchmark`). Host: userfaultfd backend (the host has no module); VM: /dev/ummunotify. "
              "`nativeReadNonBlocking` is one non-blocking read of the backend on a second handle (a `read()` "
              "system call on the device; on userfaultfd, a look at the backend's own queue); `drainEmpty` is "
              "the public slow path `drain()` with nothing pending.\n")
    frows = []
    for b in ("volatileLongRead", "generationAcquire", "changedSince", "jniNoop", "nativeReadNonBlocking",
              "drainEmpty"):
        h = score(host_fp, f"FastPathBenchmark.{b}", backend=hp)
        v = score(vm_fp, f"FastPathBenchmark.{b}", backend="ummunotify")
        hc = h[3].get("cpu.worker", NAN)
        vc = v[3].get("cpu.worker", NAN)
        frows.append([f"`{b}`", fmt_err(h[0], h[1]), f"{h[0] / vol:.2f}×", fmt_ns(hc), f"{hc / vol_c:.2f}×",
                      fmt_err(v[0], v[1]), f"{v[0] / vm_vol:.2f}×", fmt_ns(vc), f"{vc / vm_vol_c:.2f}×"])
    md.append(table(["benchmark", "host wall", "÷ volatile", "host CPU", "÷ volatile", "VM wall", "÷ volatile",
                     "VM CPU", "÷ volatile"], frows))
    md.append("")
    anat = [(k, v) for k, v in sorted(host_fp.items()) if k[0].startswith("FastPathAnatomyBenchmark.")]
    if anat:
        md.append("The fast path taken apart (host, `FastPathAnatomyBenchmark`, same counter page; see the "
                  "analysis below):\n")
        md.append(table(["benchmark", "wall / op", "÷ volatile", "CPU / op", "÷ volatile"],
                        [[f"`{k[0].split('.', 1)[1]}`", fmt_err(v[0], v[1]), f"{v[0] / vol:.2f}×",
                          fmt_ns(v[3].get("cpu.worker", NAN)), f"{v[3].get('cpu.worker', NAN) / vol_c:.2f}×"]
                         for k, v in anat]))
        md.append("")

    # Watch.
    md.append("## watch + unwatch\n")
    md.append("One `watch(address, 4096)` + `Watch.close()` of a mapped page of a direct buffer through the "
              "public API (`WatchBenchmark`); no event is produced. With \"another watch kept open\", a second "
              "page of the same buffer stays watched throughout, so the measured watch is never the only one "
              "(the userfaultfd backend registers a mapping with the kernel when its first watch comes and "
              "unregisters it when its last one goes).\n")
    wrows = []
    for where, res in (("host", host_fp), ("VM (TCG)", vm_fp), ("VM (TCG)", vm_watch_uffd)):
        for (bench, params), v in sorted(res.items()):
            if bench != "WatchBenchmark.watchUnwatch":
                continue
            p = dict(params)
            wrows.append([p.get("backend"), where, p.get("bufferSize", "65536"),
                          {"0": "no", "1": "yes"}.get(p.get("keepOther", "0")), fmt_err(v[0], v[1]),
                          fmt_ns(v[3].get("cpu.worker", NAN))])
    md.append(table(["backend", "where", "buffer bytes", "another watch kept open", "wall per pair",
                     "CPU per pair (thread)"], wrows))
    md.append(f"\nFor scale, the kernel alone (C, same VM, `ubench`): register + unregister "
              f"{fmt_ns(pair0)} (median).\n")

    # Allocation.
    md.append("## allocateDirect + release\n")
    md.append("`ByteBuffer.allocateDirect(size)` then the buffer's cleaner (`Unsafe.invokeCleaner`, the JDK's "
              "own release path that the agent hooks), JMH `AverageTime` (`AllocateDirectBenchmark`). The same "
              "benchmark runs in forks with different JVM arguments. \"wall\" is JMH's score; \"thread CPU\" is "
              "the CPU time of the benchmark thread per operation; \"process CPU\" is the CPU time of the whole JVM per operation "
              "(`ProcessCpuProfiler`), which also counts the agent's dispatcher thread, where the agent does "
              "the registry and kernel work off the application's thread. Whether freeing a 64 KiB or 1 MiB "
              "buffer unmaps anything is glibc's choice (its mmap threshold adapts upward after the first "
              "frees), so most iterations at those sizes do not munmap.\n")
    arows = []
    for w, c, label in alloc_cfgs:
        for s in (4096, 65536, 1048576):
            r = score(alloc[(w, c)], "AllocateDirectBenchmark.allocateRelease", size=s)
            n0 = score(alloc[(w, "none")], "AllocateDirectBenchmark.allocateRelease", size=s)
            cpu = r[3].get("cpu.process", NAN)
            cpu0 = n0[3].get("cpu.process", NAN)
            wk = r[3].get("cpu.worker", NAN)
            wk0 = n0[3].get("cpu.worker", NAN)
            arows.append(["host" if w == "host" else "VM (TCG)", label, f"{s // 1024} KiB",
                          fmt_err(r[0], r[1]), f"{r[0] / n0[0]:.2f}×", fmt_ns(wk), f"{wk / wk0:.2f}×",
                          fmt_ns(cpu), f"{cpu / cpu0:.2f}×"])
    md.append(table(["where", "configuration", "size", "wall / op", "÷ no agent", "thread CPU / op", "÷ no agent",
                     "process CPU / op", "÷ no agent"], arows))
    md.append("")
    if turns:
        md.append("**4 KiB on the host, more forks in turn.** With the agent, the 4 KiB cost swings between two "
                  "levels, from one JVM to the next and from one iteration to the next within one: low when the "
                  "allocating thread and the agent's dispatcher share a core or sit close on the host, about "
                  "twice that when each record's cache line has to cross between distant cores "
                  "(benchmarks/tools/analysis.md, \"What the slow mode is\"). The figures above are one fork "
                  "of each; these are three more pairs, no agent then the agent (userfaultfd), in turn:\n")
        trows = []
        for i, r0, r in turns:
            wk, wk0 = r[3].get("cpu.worker", NAN), r0[3].get("cpu.worker", NAN)
            pc, pc0 = r[3].get("cpu.process", NAN), r0[3].get("cpu.process", NAN)
            trows.append([str(i), fmt_ns(wk0), fmt_ns(wk), f"{wk / wk0:.2f}×", fmt_ns(pc0), fmt_ns(pc),
                          f"{pc / pc0:.2f}×", verdict(wk / wk0, 1.3)])
        md.append(table(["pair", "thread CPU, no agent", "thread CPU, agent", "ratio", "process CPU, no agent",
                         "process CPU, agent", "ratio", "thread ≤ 1.3×"], trows))
        md.append("")
    md.append(img("allocation-overhead.png", "allocation overhead by size"))

    # Latency.
    md.append("## munmap → listener latency\n")
    md.append("`UnmapLatency`: a 4 KiB file mapping (tmpfs) is watched, then released through the JDK "
              "(`Unmapper.unmap()` → munmap); the time from just before the release to the "
              "`InvalidationListener` call on the notifier's dispatcher thread. One mapping at a time, after "
              "a warm-up. \"munmap call\" is how long the releasing thread itself took: with userfaultfd the "
              "kernel holds the unmapping thread until the backend's reader thread has read the event.\n")
    lrows = []
    for (where, b), (lat, call) in lats.items():
        lrows.append([b, where, len(lat), fmt_ns(pct(lat, 50)), fmt_ns(pct(lat, 99)), fmt_ns(pct(lat, 99.9)),
                      fmt_ns(lat[-1]), fmt_ns(pct(call, 50)), fmt_ns(pct(call, 99))])
    md.append(table(["backend", "where", "samples", "p50", "p99", "p99.9", "max", "munmap call p50",
                     "munmap call p99"], lrows))
    md.append("")
    if floor:
        md.append("This machine's floor, measured right after the host figures (`benchmarks/tools/wakeup_floor "
                  "eventfd`): the same thread wake-ups with plain threads and no ummu code. \"Two wake-ups\" is "
                  "the listener's path (unmapping thread → reader → dispatcher), \"there and back\" the munmap "
                  "call's (unmapping thread → reader → unmapping thread). A p99 target below the floor's cannot "
                  "be met on this machine by any code on the path; see the analysis.\n")
        md.append(table(["chain (no ummu)", "p50", "p99", "p99.9"],
                        [[k, fmt_ns(v[0]), fmt_ns(v[1]), fmt_ns(v[2])] for k, v in floor.items()]))
        md.append("")
    md.append(img("latency-cdf.png", "latency distribution"))

    # Kernel.
    md.append("## Kernel: /dev/ummunotify (`kmod/bench/ubench`, in the VM)\n")
    md.append("A static C program in the guest. Every figure is the median of single-operation samples "
              "(p10-p90 beside it). Registrations are pages of a reserved `PROT_NONE` area that the measured "
              "operations never touch. The levels are visited upwards and again downwards and both visits "
              "are pooled, so a drift of the machine's speed does not read as a trend. The 2010 driver walked "
              "every registration on each invalidation and each register/unregister; flat lines are what "
              "the interval tree and the cookie index buy.\n")
    krows = []
    for l in levels:
        a = kb[("munmap", 4096, l)]
        b = kb[("munmap", 2 << 20, l)]
        p = kb[("regpair", 4096, l)]
        rg = kb[("register", 4096, l)]
        ur = kb[("unregister", 4096, l)]
        krows.append([f"{l:,}", f"{fmt_ns(a['median'])} ({fmt_ns(a['p10'])}–{fmt_ns(a['p90'])})",
                      f"{a['median'] / m0:.3f}×",
                      f"{fmt_ns(b['median'])} ({fmt_ns(b['p10'])}–{fmt_ns(b['p90'])})",
                      f"{b['median'] / kb[('munmap', 2 << 20, 0)]['median']:.3f}×",
                      fmt_ns(p["median"]), fmt_ns(rg["median"]), fmt_ns(ur["median"])])
    md.append(table(["registrations", "munmap 1 page", "÷ 0 regs", "munmap 2 MiB", "÷ 0 regs",
                     "register+unregister", "register", "unregister"], krows))
    md.append("")
    nf = kb[("munmap_nofile", 4096, -1)]
    nf2 = kb[("munmap_nofile", 2 << 20, -1)]
    md.append(table(["baseline (no ummunotify file open at all)", "median", "p10–p90"], [
        ["munmap 1 page", fmt_ns(nf["median"]), f"{fmt_ns(nf['p10'])}–{fmt_ns(nf['p90'])}"],
        ["munmap 2 MiB", fmt_ns(nf2["median"]), f"{fmt_ns(nf2['p10'])}–{fmt_ns(nf2['p90'])}"],
        ["mmap + touch + munmap, 1 page", fmt_ns(cycle),
         f"{fmt_ns(kb[('cycle_nofile', 4096, -1)]['p10'])}–{fmt_ns(kb[('cycle_nofile', 4096, -1)]['p90'])}"],
        ["the same with a file open (0 registrations)", fmt_ns(kb[("cycle_file", 4096, 0)]["median"]), ""],
    ]))
    md.append("")
    md.append(img("invalidation-vs-registrations.png", "invalidation cost vs registrations"))
    rrows = []
    for (name, size, regs), v in sorted(kb.items(), key=lambda kv: kv[0][1]):
        if name == "read_all":
            per = kb[("read_per_event", size, regs)]
            rrows.append([f"{size:,}", v["n"], fmt_ns(v["median"]), fmt_ns(per["median"])])
    md.append("read() of N pending events (N registered pages unmapped at once, then read with a "
              "256-event buffer until the LAST event):\n")
    md.append(table(["N events", "repetitions", "all reads (median)", "per event"], rrows))
    md.append("")

    # Start-up.
    md.append("## JVM start-up\n")
    md.append(f"`startup.py`: whole-process wall time of a hello world (`io.ummu.bench.Hello`), "
              f"{startup['rounds']} interleaved rounds after {startup['warmup']} discarded, per JDK: without "
              "the agent, with `-javaagent:ummu.jar`, with the agent's JFR events and MBean off "
              "(`=jfr=false,jmx=false`), and with the agent jar loaded but disabled (`=enabled=false`: what "
              "`-javaagent` itself costs). CPU time is user + system time of the process, all threads (JIT "
              "compilers included), which does not grow with waiting for a core. The agent picked: "
              + "; ".join(f"{k}: {' / '.join(v)}" for k, v in sorted(startup["agent_lines"].items())
                          if k.endswith("/agent")) + "\n")
    srows = []
    stc = startup.get("cpu_ns", {})
    kinds = [k for k in ("bare", "agent", "agent-nojfr-nojmx", "agent-disabled") if f"jdk17/{k}" in st]
    for jdk in ("jdk17", "jdk25"):
        bare = statistics.median(st[f"{jdk}/bare"])
        bare_c = statistics.median(stc[f"{jdk}/bare"]) if stc else NAN
        for k in kinds:
            v = st[f"{jdk}/{k}"]
            m = statistics.median(v)
            c = statistics.median(stc[f"{jdk}/{k}"]) if stc else NAN
            srows.append([jdk.upper().replace("JDK", "JDK "), k, fmt_ns(m), fmt_ns(min(v)), fmt_ns(max(v)),
                          "" if k == "bare" else f"+{(m - bare) / 1e6:,.0f} ms", fmt_ns(c),
                          "" if k == "bare" else f"+{(c - bare_c) / 1e6:,.0f} ms"])
    md.append(table(["JDK", "configuration", "wall median", "wall min", "wall max", "wall over bare",
                     "CPU median (all threads)", "CPU over bare"], srows))
    md.append("")
    md.append(img("startup.png", "start-up"))

    cache = path("host-cache.json")
    md.append("## RegistrationCache\n")
    if os.path.exists(cache):
        c = jmh("host-cache.json")
        vm_c = {k: v for k, v in vm_fp.items() if k[0].startswith("CacheBenchmark.")}
        md.append("`CacheBenchmark`, JMH `AverageTime`, with a registrar that does nothing (so this is the "
                  "cache's own cost; a real registration is what the cache saves): `hit` = acquire + release "
                  "of one of 64 cached 4 KiB ranges, nothing changed; `miss` = a one-entry cache fed two "
                  "ranges in turn (watch + register the new one, evict, unwatch and deregister the old); "
                  "`validateAfterChange` = a hit right after another cached range was unmapped (the counter "
                  "moved: drain, evict, then answer; the unmap happens in the per-invocation setup, outside "
                  "the timing, so only the wall figure is meaningful for it, the CPU figures include the "
                  "setup).\n")
        crows = []
        for where, res in (("host (userfaultfd)", c), ("VM (ummunotify, TCG)", vm_c)):
            for (bench, params), v in sorted(res.items()):
                crows.append([f"`{bench.split('.', 1)[1]}`", where, fmt_err(v[0], v[1]),
                              fmt_ns(v[3].get("cpu.worker", NAN))])
        md.append(table(["benchmark", "where", "wall / op", "thread CPU / op"], crows))
        md.append("")
    else:
        md.append("Not measured in this run (no `host-cache.json`).\n")

    analysis = os.path.join(HERE, "analysis.md")
    if os.path.exists(analysis):
        with open(analysis) as f:
            md.append(f.read())

    md.append("## How to reproduce\n")
    md.append("    ./run-benchmarks           # everything, about 15-20 min on 2 cores; rewrites this file\n"
              "    ./run-benchmarks --smoke   # each benchmark once (benchmarks/smoke.sh)\n"
              "    java -jar benchmarks/target/benchmarks.jar -h   # JMH by hand, after ./mvnw -pl benchmarks -am package\n")
    md.append("Raw results of the run (JMH JSON, latency samples, `ubench` output, the VM log) are in "
              "`benchmarks/target/results/`, which is not committed.\n")

    with open(REPORT, "w") as f:
        f.write("\n".join(md))
    print(f"report: wrote {REPORT} ({len(plots)} plots in {PLOTS})")
    if not HAVE_PLOT:
        print("report: matplotlib is not installed, no plots drawn")


if __name__ == "__main__":
    main()
