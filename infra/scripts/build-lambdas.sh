#!/usr/bin/env bash
# Builds every Lambda function (the crates under functions/) as a `bootstrap` binary for
# provided.al2023 on arm64, in release mode, with cargo-lambda — the same command `sam build`
# runs for `BuildMethod: rust-cargolambda` — and prints each stripped binary's size.
#
#   infra/scripts/build-lambdas.sh                 every crate under functions/
#   infra/scripts/build-lambdas.sh feedback ...    only these
#   infra/scripts/build-lambdas.sh --x86-64        for x86_64 instead of arm64
#   infra/scripts/build-lambdas.sh --debug         unoptimised: proves every function builds and
#                                                  links as a bootstrap in minutes (CI), not for deploys
#
# Output: target/lambda/<name>/bootstrap. Exits non-zero if any function failed to build,
# after building all the others.
#
# cargo-lambda comes from PyPI (`pip install cargo-lambda`), which also brings Zig (the
# `ziglang` package) as the cross linker: nothing is downloaded from outside the registries.
# It is installed, if `cargo lambda` is not already on PATH, into a private virtualenv
# (CARGO_LAMBDA_VENV, default ~/.cache/aftersale/cargo-lambda), never into the system Python.
set -euo pipefail
cd "$(dirname "$0")/../.."

log() { printf '\n==> %s\n' "$*"; }
die() { printf 'build-lambdas: %s\n' "$*" >&2; exit 1; }

target=aarch64-unknown-linux-gnu
arch_flag=--arm64
profile_flags=(--release)
profile=release
names=()
for arg in "$@"; do
  case "$arg" in
    --x86-64 | --x86_64) target=x86_64-unknown-linux-gnu; arch_flag=--x86-64 ;;
    --debug) profile_flags=(); profile=debug ;;
    -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $arg (see --help)" ;;
    *) names+=("$arg") ;;
  esac
done

# --- the functions ------------------------------------------------------------------------------
if [ ${#names[@]} -eq 0 ]; then
  for manifest in functions/*/Cargo.toml; do
    [ -f "$manifest" ] && names+=("$(basename "$(dirname "$manifest")")")
  done
fi
[ ${#names[@]} -gt 0 ] || die "no function crates under functions/"
for name in "${names[@]}"; do
  [ -f "functions/$name/Cargo.toml" ] || die "functions/$name/Cargo.toml does not exist"
done

# Functions template.yaml declares whose crate does not exist yet: `sam build` would fail on them.
if [ -f template.yaml ]; then
  missing=()
  while read -r binary; do
    [ -f "functions/$binary/Cargo.toml" ] || missing+=("$binary")
  done < <(sed -n 's/^ *Binary: *\([A-Za-z0-9_-]*\).*$/\1/p' template.yaml)
  if [ ${#missing[@]} -gt 0 ]; then
    printf 'note: template.yaml declares functions with no crate yet: %s\n' "${missing[*]}"
  fi
fi

# --- tools ----------------------------------------------------------------------------------------
command -v cargo >/dev/null || die "cargo is required (https://rustup.rs)"

if ! cargo lambda --version >/dev/null 2>&1; then
  venv="${CARGO_LAMBDA_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/aftersale/cargo-lambda}"
  if [ ! -x "$venv/bin/cargo-lambda" ]; then
    log "installing cargo-lambda (and Zig) from PyPI into $venv"
    command -v python3 >/dev/null || die "python3 is required to install cargo-lambda"
    started=$(date +%s)
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'cargo-lambda>=1.9,<2'
    printf 'installed in %ss\n' "$(($(date +%s) - started))"
  fi
  # cargo finds `cargo-lambda` on PATH; cargo-zigbuild finds Zig as `python3 -m ziglang`.
  export PATH="$venv/bin:$PATH"
fi
cargo lambda --version

if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$target"; then
  log "rustup target add $target"
  rustup target add "$target"
fi

target_dir=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')

# --- build ----------------------------------------------------------------------------------------
# `--bin NAME` from the workspace root, exactly as `sam build` calls cargo-lambda for
# `BuildProperties: Binary: NAME`, so both resolve features the same way and share the artifacts.
build() {
  local bins=()
  for name in "$@"; do bins+=(--bin "$name"); done
  cargo lambda build ${profile_flags[@]+"${profile_flags[@]}"} "$arch_flag" "${bins[@]}"
}

started=$(date +%s)
failed=()
log "cargo lambda build ($profile) $arch_flag (${names[*]})"
if ! build "${names[@]}"; then
  if [ ${#names[@]} -eq 1 ]; then
    failed=("${names[0]}")
  else
    # One crate that does not compile fails the whole invocation: build them one by one so
    # every crate that does compile is still built, and name the ones that do not.
    for name in "${names[@]}"; do
      log "cargo lambda build ($profile) $arch_flag --bin $name"
      build "$name" || failed+=("$name")
    done
  fi
fi
elapsed=$(($(date +%s) - started))

# --- report ---------------------------------------------------------------------------------------
log "Lambda bootstrap binaries ($target, $profile)"
printf '%-24s %12s %10s\n' function bytes MiB
for name in "${names[@]}"; do
  bin="$target_dir/lambda/$name/bootstrap"
  if [[ " ${failed[*]-} " == *" $name "* ]]; then
    printf '%-24s %12s\n' "$name" "FAILED"
  elif [ -f "$bin" ]; then
    bytes=$(wc -c <"$bin")
    printf '%-24s %12d %10s\n' "$name" "$bytes" "$(awk -v b="$bytes" 'BEGIN { printf "%.2f", b / 1048576 }')"
  else
    printf '%-24s %12s\n' "$name" "missing"
    failed+=("$name")
  fi
done
printf 'build time: %ss\n' "$elapsed"

if [ ${#failed[@]} -gt 0 ]; then
  die "failed to build: ${failed[*]}"
fi
