#!/usr/bin/env bash
# Fuzzes what schedd parses from users (job files, schedules, durations, sizes) with libFuzzer,
# from the Swift toolchain. Not part of `swift test`: it runs until stopped or for -max_total_time.
#
#   Fuzz/run.sh [SECONDS] [extra libFuzzer options]     # default 300 s on every core but one
#
# A crash or a failed check leaves crash-* (the input) in .build-fuzz/ and exits non-zero;
# reproduce it with `.build-fuzz/fuzz-schedulerapi .build-fuzz/crash-…`.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-300}
shift || true
out=.build-fuzz
mkdir -p "$out/corpus"
sources=$(find Sources/SchedulerAPI -name '*.swift' | sort)
# ld.gold warns about every ASan symbol it cannot export: noise.
swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name SchedulerAPI -package-name schedd -swift-version 6 \
    $sources Fuzz/JobFileFuzz.swift -o "$out/fuzz-schedulerapi" 2>&1 | { grep -v "Cannot export local symbol" || true; }
test "${PIPESTATUS[0]}" -eq 0

# Seeds: the example file, the test fixtures' schedules, and a few schedules and durations.
cp jobs.example.json "$out/corpus/seed-example.json"
python3 - "$out/corpus" <<'PY'
import json, sys, os
out = sys.argv[1]
seeds = ["*/15 * * * *", "0 9 * * MON-FRI", "@every 1m30s", "@daily", "0 0 29 2 *", "*/20 * * * * *",
         "1h2m", "500ms", "10MiB", "64 KiB", "@reboot", "0 0 13 * 5", "L W # ? 5-3/2"]
fixtures = json.load(open("Tests/SchedulerAPITests/Fixtures/cron-fixtures.json"))
def walk(v):
    if isinstance(v, dict):
        for k, x in v.items():
            if k in ("expr", "expression", "schedule") and isinstance(x, str): seeds.append(x)
            walk(x)
    elif isinstance(v, list):
        for x in v: walk(x)
walk(fixtures)
for i, s in enumerate(seeds):
    open(os.path.join(out, f"seed-{i}"), "w").write(s)
PY
jobs=$(( $(nproc) > 1 ? $(nproc) - 1 : 1 ))
cd "$out"
exec ./fuzz-schedulerapi -max_total_time="$seconds" -jobs="$jobs" -workers="$jobs" -timeout=5 \
    -rss_limit_mb=2048 -max_len=4096 -dict=../Fuzz/jobfile.dict "$@" corpus
