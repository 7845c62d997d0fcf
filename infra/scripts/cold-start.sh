#!/usr/bin/env bash
# Cold start and size of the Lambda binaries, in release.
#
#   infra/scripts/cold-start.sh [--runs N] [--no-build] [NAME ...]   (default: every function)
#
# 1. Builds each function (and the aftersale CLI, which creates the table) in release for this
#    machine, ONE AT A TIME under `nice -n 10`: the release profile is shared, so after the first
#    binary only each function's own crates are compiled.
# 2. Runs infra/scripts/cold_start.py: each binary against a local Lambda Runtime API with moto
#    behind it; prints the median init (process start -> first /invocation/next) and first-event
#    times, and the stripped size.
# Sizes for Lambda's own target (arm64, provided.al2023) come from
# `infra/scripts/build-lambdas.sh NAME ...` (cargo-lambda, cross-linked with Zig).
set -euo pipefail
cd "$(dirname "$0")/../.."

runs=5
build=1
names=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift ;;
    --no-build) build=0 ;;
    -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) names+=("$1") ;;
  esac
  shift
done
if [ ${#names[@]} -eq 0 ]; then
  for manifest in functions/*/Cargo.toml; do names+=("$(basename "$(dirname "$manifest")")"); done
fi

if [ "$build" = 1 ]; then
  for package in aftersale-cli "${names[@]}"; do
    printf '==> cargo build --release -p %s\n' "$package"
    CARGO_INCREMENTAL=0 nice -n 10 cargo build --release --quiet -p "$package"
  done
fi
python3 infra/scripts/cold_start.py --bin-dir target/release --runs "$runs" "${names[@]}"
