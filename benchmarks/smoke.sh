#!/bin/sh
# The benchmarks' smoke test, for ./run-tests: every benchmark of
# ./run-benchmarks runs once with minimal iterations (JMH on the host and in
# the VM, the kernel benchmark in the VM, the latency and start-up programs),
# and the report is generated from the results (to benchmarks/target/smoke/,
# the committed benchmarks/REPORT.md is not touched). It measures nothing;
# it fails (non-zero) if any benchmark or the report generator fails, so the
# benchmarks cannot rot. Uses the built benchmarks jar when there is one
# (run-tests builds it), else builds it.
set -eu
cd "$(dirname "$0")/.."
exec ./run-benchmarks --smoke
