#!/usr/bin/env bash
# Chaos at scale: thousands of orders, their thank-yous due, while `serve` and `tick` are
# killed with SIGKILL at random moments and restarted. The harness is tests/chaos.rs (CI runs
# it reduced); this script runs it with bigger numbers and prints its summary line.
#
#   infra/scripts/chaos.sh [SEED] [LIVE] [KILL_MS]
#     SEED     orders whose messages are due before the chaos starts   (default 3000)
#     LIVE     orders arriving during the chaos                        (default 1000)
#     KILL_MS  longest pause between two kills, in milliseconds        (default 1500)
#
# It passes when every due message was written to the outbox once and is `sent`, or is
# `failed` with "outcome unknown" (written at most once), none twice, and every delivery
# answered 200 is stored: checked on the outbox's .eml files, not only on the store.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CHAOS_SEED="${1:-3000}" CHAOS_LIVE="${2:-1000}" CHAOS_KILL_MS="${3:-1500}"
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
cargo test -p aftersale-cli --test chaos -- --nocapture 2>&1 | grep -E "^chaos:|test result|panicked|FAILED|error" 
