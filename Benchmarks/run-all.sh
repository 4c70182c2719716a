#!/usr/bin/env bash
# Every figure of docs/performance.md and docs/reliability.md in one command: builds the
# release binaries as scripts/install.sh ships them, runs every benchmark scenario (writing
# results.json) and the whole fault suite. About 10 minutes on 2 cores.
#   Benchmarks/run-all.sh [OUTPUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-.}
scripts/build-release.sh
status=0
.build/release/schedd-bench --json "$out/results.json" | tee "$out/benchmarks.txt" || status=$?
Benchmarks/faults.py | tee "$out/faults.txt" || status=$?
exit $status
