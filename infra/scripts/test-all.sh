#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need (Python tools for the
# AWS emulator and template lint, Chromium for the browser tests, cargo-nextest), then
# formatting, lints, and every test.
set -euo pipefail
cd "$(dirname "$0")/../.."

log() { printf '\n==> %s\n' "$*"; }

log "Python test tools (moto server, cfn-lint)"
python3 -m pip install --quiet --disable-pip-version-check -r infra/scripts/requirements-test.txt

# The browser tests (tests/browser.rs) drive Debian's Chromium through chromedriver.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  log "installing chromium and chromium-driver (apt)"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
fi

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

log "cfn-lint template.yaml"
cfn-lint template.yaml

# The SAM CLI pins its own boto3 and cfn-lint: keep it out of the test tools' environment.
sam_venv="${XDG_CACHE_HOME:-$HOME/.cache}/aftersale/sam"
if [ ! -x "$sam_venv/bin/sam" ]; then
  log "installing the SAM CLI into $sam_venv"
  python3 -m venv "$sam_venv"
  "$sam_venv/bin/python" -m pip install --quiet --disable-pip-version-check 'aws-sam-cli>=1.115,<2'
fi
log "sam validate --lint"
# Validation is offline; the SDK only wants credentials and a region to exist.
SAM_CLI_TELEMETRY=0 AWS_ACCESS_KEY_ID=validate AWS_SECRET_ACCESS_KEY=validate AWS_DEFAULT_REGION=us-east-1 \
  "$sam_venv/bin/sam" validate --lint --template template.yaml --region us-east-1
