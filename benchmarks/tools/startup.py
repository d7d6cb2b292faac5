#!/usr/bin/env python3
"""JVM start-up: wall time of a whole hello-world process, with and without
the agent, on each JDK given. Runs are interleaved (one of each configuration
per round) so that a change in the machine's load hits every configuration
alike; the first rounds are discarded as warm-up (page cache, CDS archive).

    startup.py OUT.json ROUNDS WARMUP CLASSPATH AGENT_JAR NAME=JAVA...

Exits non-zero if any run fails or does not print "hello".
"""
import json
import subprocess
import sys
import time


def main():
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
    samples = {f"{n}/{k}": [] for n, k, _ in configs}
    status = {}
    for r in range(rounds + warmup):
        for name, kind, cmd in configs:
            t0 = time.perf_counter_ns()
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            dt = time.perf_counter_ns() - t0
            if p.returncode != 0 or "hello" not in p.stdout:
                sys.stderr.write(f"startup: {' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}\n")
                sys.exit(1)
            if kind.startswith("agent"):
                status[name + "/" + kind] = [l for l in p.stderr.splitlines() if "[ummu]" in l]
            if r >= warmup:
                samples[f"{name}/{kind}"].append(dt)
    with open(out, "w") as f:
        json.dump({"rounds": rounds, "warmup": warmup, "samples_ns": samples, "agent_lines": status}, f, indent=1)
    for k, v in samples.items():
        v = sorted(v)
        print(f"startup {k}: median {v[len(v) // 2] / 1e6:.1f} ms over {len(v)} runs")


if __name__ == "__main__":
    main()
