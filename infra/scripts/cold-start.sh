#!/usr/bin/env bash
# Cold start and size of the Lambda binaries, in release.
#
#   infra/scripts/cold-start.sh [--runs N] [--no-build] [NAME ...]   (default: every function)
#
# 1. Builds the functions in release for this machine, in ONE cargo invocation under
#    `nice -n 10`, from the workspace root with `--all-features` (as CI's feature set). One
#    invocation resolves features once: building `-p` one package at a time resolved them per
#    package, so a dependency whose features differ between packages (tokio, the SDK's) was
#    compiled again for each. The table is created by the debug CLI (`target/debug/aftersale`,
#    built if missing), which needs no release build of its own.
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
  bins=()
  for name in "${names[@]}"; do bins+=(--bin "$name"); done
  printf '==> cargo build --release --all-features %s\n' "${bins[*]}"
  CARGO_INCREMENTAL=0 nice -n 10 cargo build --release --all-features --quiet "${bins[@]}"
  if [ ! -x target/release/aftersale ] && [ ! -x target/debug/aftersale ]; then
    printf '==> cargo build --all-features -p aftersale-cli (creates the table)\n'
    CARGO_INCREMENTAL=0 nice -n 10 cargo build --all-features --quiet -p aftersale-cli
  fi
fi
python3 infra/scripts/cold_start.py --bin-dir target/release --runs "$runs" "${names[@]}"
