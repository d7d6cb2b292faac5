#!/usr/bin/env python3
"""JVM start-up: wall time and CPU time (user + system, all threads) of a
whole hello-world process, with and without the agent, on each JDK given.
Runs are interleaved (one of each configuration
per round) so that a change in the machine's load hits every configuration
alike; the first rounds are discarded as warm-up (page cache, CDS archive).

    startup.py [--kinds K,K...] OUT.json ROUNDS WARMUP CLASSPATH AGENT_JAR NAME=JAVA...

Kinds: bare, agent, agent-nojfr-nojmx, agent-disabled (default: all).

Exits non-zero if any run fails or does not print "hello".
"""
import json
import os
import resource
import subprocess
import sys
import time


def main():
    kinds = None
    if sys.argv[1] == "--kinds":
        kinds = set(sys.argv[2].split(","))
        del sys.argv[1:3]
    out, rounds, warmup, cp, agent = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
    jdks = [a.split("=", 1) for a in sys.argv[6:]]
    configs = []
    for name, java in jdks:
        configs.append((name, "bare", [java, "-cp", cp, "io.ummu.bench.Hello"]))
        configs.append((name, "agent", [java, "-javaagent:" + agent, "-cp", cp, "io.ummu.bench.Hello"]))
        # The same without the agent's JFR events and MBean: how much of the
        # start-up those two cost.
        configs.append((name, "agent-nojfr-nojmx",
                        [java, "-javaagent:" + agent + "=jfr=false,jmx=false", "-cp", cp, "io.ummu.bench.Hello"]))
        # The agent jar loaded and its premain run, but nothing installed:
        # what -javaagent itself costs.
        configs.append((name, "agent-disabled",
                        [java, "-javaagent:" + agent + "=enabled=false", "-cp", cp, "io.ummu.bench.Hello"]))
    if kinds is not None:
        configs = [c for c in configs if c[1] in kinds]
    samples = {f"{n}/{k}": [] for n, k, _ in configs}
    cpu = {f"{n}/{k}": [] for n, k, _ in configs}
    status = {}
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    last_cpu = [r0.ru_utime + r0.ru_stime]
    for r in range(rounds + warmup):
        for name, kind, cmd in configs:
            with open(os.devnull, "rb") as devnull:
                t0 = time.perf_counter_ns()
                p = subprocess.Popen(cmd, stdin=devnull, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                stdout, stderr = p.communicate()
                dt = time.perf_counter_ns() - t0
            # communicate() reaped the child; its CPU time is in RUSAGE_CHILDREN.
            ru = resource.getrusage(resource.RUSAGE_CHILDREN)
            used = ru.ru_utime + ru.ru_stime
            dcpu = used - last_cpu[0]
            last_cpu[0] = used
            stdout, stderr = stdout.decode(errors="replace"), stderr.decode(errors="replace")
            if p.returncode != 0 or "hello" not in stdout:
                sys.stderr.write(f"startup: {' '.join(cmd)} failed ({p.returncode}):\n{stderr}\n")
                sys.exit(1)
            if kind.startswith("agent"):
                status[name + "/" + kind] = [l for l in stderr.splitlines() if "[ummu]" in l]
            if r >= warmup:
                samples[f"{name}/{kind}"].append(dt)
                cpu[f"{name}/{kind}"].append(int(dcpu * 1e9))
    with open(out, "w") as f:
        json.dump({"rounds": rounds, "warmup": warmup, "samples_ns": samples, "cpu_ns": cpu,
                   "agent_lines": status}, f, indent=1)
    for k, v in samples.items():
        v = sorted(v)
        c = sorted(cpu[k])
        print(f"startup {k}: median {v[len(v) // 2] / 1e6:.1f} ms wall, {c[len(c) // 2] / 1e6:.1f} ms CPU"
              f" over {len(v)} runs")


if __name__ == "__main__":
    main()
