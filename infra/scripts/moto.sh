#!/usr/bin/env sh
# Runs moto server (an AWS emulator) in the foreground for manual use of the AWS adapters:
#   infra/scripts/moto.sh [PORT]      (default 5000; Ctrl-C stops it)
# The tests do not need this: they start their own moto on a free port.
set -eu
PORT="${1:-5000}"
if ! command -v moto_server >/dev/null 2>&1; then
    echo "moto_server not found on PATH; install it with: pip install 'moto[server]'" >&2
    exit 1
fi
cat >&2 <<EOF
moto listening on http://127.0.0.1:$PORT. In another shell:
  export AWS_ENDPOINT_URL=http://127.0.0.1:$PORT AWS_REGION=us-east-1 \\
         AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
  aftersale init-table --dynamodb-table aftersale
EOF
exec moto_server -H 127.0.0.1 -p "$PORT"
