#!/usr/bin/env bash
# Builds the release binaries the benchmarks and fault suites run, linked as
# scripts/install.sh ships them (a static Swift runtime): schedd, schedctl,
# schedd-cgroup-exec and schedd-bench, in .build/release.
#
# Product by product: a build of the whole package also links GRDB's dynamic library
# product, which cannot be linked with a static Swift runtime (`cannot find -lCoreFoundation`).
set -euo pipefail
cd "$(dirname "$0")/.."
for product in schedd schedctl schedd-cgroup-exec schedd-bench; do
  swift build -c release --static-swift-stdlib --product "$product"
done
