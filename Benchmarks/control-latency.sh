#!/usr/bin/env bash
# Control-plane latency (issues 5 and 7), release build:
#   1. `schedctl status` as a whole process against `curl --unix-socket` on the same endpoint;
#   2. GET /v1/jobs with 1,000 jobs, 50 clients at once: p50 / p99 from curl's own timings.
# Usage: Benchmarks/control-latency.sh [ROUNDS]   (builds release binaries first)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-200}
swift build -c release --static-swift-stdlib --product schedd >/dev/null
swift build -c release --static-swift-stdlib --product schedctl >/dev/null
bin=$(swift build -c release --show-bin-path)
work=$(mktemp -d)
trap 'kill $daemon 2>/dev/null; wait $daemon 2>/dev/null; rm -rf "$work"' EXIT

python3 - "$work/jobs.json" <<'PY'
import json, sys
jobs = [{"name": f"job-{i:04d}", "shell": "true", "schedule": f"{i % 60} {i % 24} * * *"} for i in range(1000)]
json.dump({"jobs": jobs}, open(sys.argv[1], "w"))
PY
"$bin/schedd" --db "$work/bench.db" --socket "$work/s.sock" --config "$work/jobs.json" --log-level warning 2>"$work/log" &
daemon=$!
for _ in $(seq 100); do [ -S "$work/s.sock" ] && break; sleep 0.1; done

time_loop() {  # seconds for $rounds runs of the command
  local start end
  start=$(date +%s%N)
  for _ in $(seq "$rounds"); do "$@" >/dev/null; done
  end=$(date +%s%N)
  echo "scale=3; ($end - $start) / 1000000 / $rounds" | bc
}
ctl=$(time_loop "$bin/schedctl" --socket "$work/s.sock" status)
crl=$(time_loop curl -s --unix-socket "$work/s.sock" http://schedd/v1/status)
echo "schedctl status: ${ctl} ms per call; curl: ${crl} ms per call; ratio $(echo "scale=2; $ctl / $crl" | bc) (target <= 1.5)"

seq 1000 | xargs -P 50 -I{} curl -s -o /dev/null -w '%{time_total}\n' --unix-socket "$work/s.sock" http://schedd/v1/jobs \
  | sort -n > "$work/times"
n=$(wc -l < "$work/times")
p50=$(sed -n "$(( n / 2 ))p" "$work/times")
p99=$(sed -n "$(( n * 99 / 100 ))p" "$work/times")
echo "GET /v1/jobs, 1000 jobs, 50 clients, $n requests: p50 $(echo "$p50 * 1000" | bc) ms, p99 $(echo "$p99 * 1000" | bc) ms (target p99 < 20 ms)"
