#!/usr/bin/env bash
# Runs every cargo-fuzz target under tests/fuzz for SECONDS each (default 60; the figures in
# the README's Benchmarks section used 600), on the nightly toolchain cargo-fuzz needs:
#   infra/scripts/fuzz.sh [SECONDS] [TARGET...]
# Each target starts from its seed corpus (tests/fuzz/corpus/<target>, taken from the
# platform fixtures) and grows it in a scratch copy; a crash stops the script with the input
# saved under tests/fuzz/artifacts/<target>/. Fix it, then copy that input into the target's
# corpus so the property tests (tests/fuzz_properties.rs, on stable) keep checking it.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds="${1:-60}"
shift || true
case "$seconds" in
  ''|*[!0-9]*) echo "usage: infra/scripts/fuzz.sh [SECONDS] [TARGET...]: '$seconds' is not a number of seconds" >&2; exit 2 ;;
esac
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(shopify_normaliser woocommerce_normaliser link_token shop_config import_jsonl import_resume captured_delivery)
fi

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "cargo-fuzz needs a nightly toolchain: rustup toolchain install nightly" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for target in "${targets[@]}"; do
  echo "==> $target for ${seconds}s"
  mkdir -p "$scratch/$target"
  cp tests/fuzz/corpus/"$target"/* "$scratch/$target/"
  log="$scratch/$target.log"
  status=0
  cargo +nightly fuzz run --fuzz-dir tests/fuzz "$target" "$scratch/$target" -- \
    -max_total_time="$seconds" -max_len=65536 -print_final_stats=1 >"$log" 2>&1 || status=$?
  grep -E '^(#[0-9]+ *DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb|SUMMARY|Test unit written)' "$log" || true
  if [ "$status" -ne 0 ]; then
    tail -40 "$log" >&2
    echo "$target crashed (exit $status): the input is under tests/fuzz/artifacts/$target/" >&2
    exit 1
  fi
  echo "    corpus: $(ls tests/fuzz/corpus/"$target" | wc -l) seeds, $(ls "$scratch/$target" | wc -l) inputs after the run"
done
