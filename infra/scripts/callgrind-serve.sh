#!/usr/bin/env bash
# Instructions `serve` spends on paid orders, counted by callgrind: repeatable on a machine
# whose wall clock is shared (README, "Ingest under load").
#
#   infra/scripts/callgrind-serve.sh [ORDERS] [OUT_DIR]
#     ORDERS   paid orders counted, after as many to warm the store   (default 300)
#     OUT_DIR  where callgrind writes its profile                      (default /tmp/callgrind-serve)
#
# Builds the `profiling` profile (release code with symbols), starts `serve` under callgrind on
# a fresh data directory, sends ORDERS with `aftersale load`, zeroes the counters, sends ORDERS
# more (each load run checks the store), dumps, and prints the total and the profile's path.
# Compare totals of two builds with each other: `callgrind_annotate --inclusive=yes` shows where.
set -euo pipefail
cd "$(dirname "$0")/../.."
orders="${1:-300}"
out="${2:-/tmp/callgrind-serve}"
command -v valgrind >/dev/null || { echo "valgrind is required (apt-get install valgrind)" >&2; exit 1; }
[[ "$orders" =~ ^[1-9][0-9]*$ ]] || { echo "ORDERS must be a positive whole number, not '$orders'" >&2; exit 2; }

CARGO_INCREMENTAL=0 cargo build --quiet --profile profiling -p aftersale-cli --all-features
bin=target/profiling/aftersale
data=$(mktemp -d)
port=$((20000 + RANDOM % 1000))
mkdir -p "$out"
rm -f "$out"/callgrind.out.*
export SHOPIFY_API_SECRET=dev-secret WOOCOMMERCE_WEBHOOK_SECRET=dev-secret

valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out.%p" \
  "$bin" serve --data-dir "$data" --listen "127.0.0.1:$port" --tick-seconds 3600 \
  >"$out/serve.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 600); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  kill -0 "$pid" 2>/dev/null || { echo "serve did not start; see $out/serve.log" >&2; exit 1; }
  sleep 0.2
done

load() { "$bin" load --url "http://127.0.0.1:$port" --data-dir "$data" --orders "$orders" --concurrency 4 | tail -n 1; }
echo "warm: $(load)"
callgrind_control -z "$pid" >/dev/null 2>&1
echo "counted: $(load)"
callgrind_control -d "$pid" >/dev/null 2>&1
profile=$(ls -S "$out"/callgrind.out.*.1 | head -n 1)
echo "$(callgrind_annotate "$profile" | grep 'PROGRAM TOTALS' | awk '{print $1}') instructions for the counted deliveries: $profile"
