#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need (Python tools for the
# AWS emulator and template lint, cargo-nextest), then formatting, lints, and every test.
set -euo pipefail
cd "$(dirname "$0")/../.."

log() { printf '\n==> %s\n' "$*"; }

log "Python test tools (moto server, cfn-lint)"
python3 -m pip install --quiet --disable-pip-version-check -r infra/scripts/requirements-test.txt

if ! cargo nextest --version >/dev/null 2>&1; then
  log "installing cargo-nextest"
  cargo install --locked cargo-nextest
fi

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --all-features -- -D warnings

log "tests"
cargo nextest run --workspace --all-features --no-fail-fast

log "doc tests"
cargo test --workspace --doc --all-features --quiet

if [ -f template.yaml ]; then
  log "cfn-lint template.yaml"
  cfn-lint template.yaml
fi
