#!/usr/bin/env python3
"""Cold start of each Lambda binary: process start to the first event handled, against a local
Lambda Runtime API (the documented interface: GET .../invocation/next, POST .../response or
.../error), with DynamoDB, SNS, SES and SSM on a moto server, as the runtime API tests run them.

    python3 infra/scripts/cold_start.py --bin-dir target/release [--runs 5] [NAME ...]

For each function it prints the median over the runs of
  init:  process start -> the binary's first GET /invocation/next (config, SSM reads, clients);
  first: process start -> its answer to the first event (init + one real handler run);
and the binary's size. The first event is the cheapest real one each function gets: a tick for
the flows (a due-index query), an HTTP request for the URL functions (answered 404 / 401: the
router and verification ran), an empty SNS delivery for ses-events, the reconcile schedule for
import. Only loopback is used; nothing leaves the machine.
"""
import argparse
import http.server
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

LINK_KEY_PARAM = "/aftersale/feedback/link-signing-key"
APP_SECRET_PARAM = "/aftersale/shopify/api-secret"
WOO_SECRET_PARAM = "/aftersale/woocommerce/webhook-secret"
SEALING_KEY_PARAM = "/aftersale/sealing-key"
HEX_KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

TICK = {"tick": {"scheduled_time": "2026-12-01T10:00:00Z", "execution_id": "cold-start", "attempt": "1"}}


def http_event(method, path, body=""):
    """A Function URL / HTTP API v2 request, as lambda_http reads it."""
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": {"host": "fn.example", "content-type": "application/json"},
        "requestContext": {"accountId": "123456789012", "apiId": "cold", "domainName": "fn.example",
                           "domainPrefix": "fn", "http": {"method": method, "path": path,
                           "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "cold-start"},
                           "requestId": "cold", "routeKey": "$default", "stage": "$default",
                           "time": "01/Dec/2026:10:00:00 +0000", "timeEpoch": 1796119200000},
        "body": body, "isBase64Encoded": False,
    }


# Each function's first event, and the environment template.yaml gives it (names only).
FLOW_ENV = {"AFTERSALE_LINK_KEY_PARAM": LINK_KEY_PARAM, "FEEDBACK_BASE_URL": "https://feedback.example",
            "SENDER_ADDRESS": "hello@shop.example", "SMS_ENABLED": "false"}
FUNCTIONS = {
    "shopify-webhook": (http_event("POST", "/webhooks/shopify", "{}"), {"SHOPIFY_API_SECRET_PARAM": APP_SECRET_PARAM}),
    "woocommerce-webhook": (http_event("POST", "/webhooks/woocommerce", "{}"),
                            {"WOOCOMMERCE_WEBHOOK_SECRET_PARAM": WOO_SECRET_PARAM,
                             "AFTERSALE_SEALING_KEY_PARAM": SEALING_KEY_PARAM}),
    "shopify-app": (http_event("GET", "/shopify/install"),
                    {"SHOPIFY_API_KEY": "cold", "SHOPIFY_API_SECRET_PARAM": APP_SECRET_PARAM,
                     "AFTERSALE_PUBLIC_URL": "https://app.example"}),
    "feedback": (http_event("GET", "/r/not-a-token"), {"AFTERSALE_LINK_KEY_PARAM": LINK_KEY_PARAM,
                                                       "FEEDBACK_BASE_URL": "https://feedback.example"}),
    "dashboard": (http_event("GET", "/dashboard"), {"AFTERSALE_LINK_KEY_PARAM": LINK_KEY_PARAM}),
    "ses-events": ({"Records": []}, {}),
    "thank-you": (TICK, FLOW_ENV),
    "delivery-check-in": (TICK, FLOW_ENV),
    "review-request": (TICK, FLOW_ENV),
    "replenishment": (TICK, FLOW_ENV),
    "win-back": (TICK, FLOW_ENV),
    "vip": (TICK, FLOW_ENV),
    "referral": (TICK, FLOW_ENV),
    "import": ({"reconcile": {}}, {"IMPORT_JOBS_TOPIC_ARN": "TOPIC", "DOMAIN_EVENTS_TOPIC_ARN": "TOPIC",
                                   "AFTERSALE_SEALING_KEY_PARAM": SEALING_KEY_PARAM}),
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RuntimeApi(http.server.ThreadingHTTPServer):
    """Hands out one invocation, then records when (and what) the function answered."""

    def __init__(self, payload):
        self.payload = json.dumps(payload).encode()
        self.first_next = None
        self.answered = None
        self.outcome = None
        self.served = False
        super().__init__(("127.0.0.1", 0), Handler)


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *_):
        pass

    def do_GET(self):
        server = self.server
        if server.first_next is None:
            server.first_next = time.monotonic()
        if server.served:
            time.sleep(30)  # the next invocation never comes; the process is killed first
            return
        server.served = True
        deadline = int(time.time() * 1000) + 30_000
        self.send_response(200)
        for name, value in [("content-type", "application/json"), ("lambda-runtime-aws-request-id", "cold-1"),
                            ("lambda-runtime-deadline-ms", str(deadline)),
                            ("lambda-runtime-invoked-function-arn",
                             "arn:aws:lambda:us-east-1:123456789012:function:cold")]:
            self.send_header(name, value)
        self.send_header("content-length", str(len(server.payload)))
        self.end_headers()
        self.wfile.write(server.payload)

    def do_POST(self):
        length = int(self.headers.get("content-length", 0))
        body = self.rfile.read(length)
        server = self.server
        server.answered = time.monotonic()
        server.outcome = ("response" if self.path.endswith("/response") else "error", body[:200])
        self.send_response(202)
        self.end_headers()


def aws(moto, service, target, body):
    """One JSON-protocol AWS call to moto (no SDK needed)."""
    request = urllib.request.Request(moto, data=json.dumps(body).encode(), method="POST", headers={
        "content-type": "application/x-amz-json-1.1", "x-amz-target": target,
        "authorization": f"AWS4-HMAC-SHA256 Credential=testing/20261201/us-east-1/{service}/aws4_request, "
                         "SignedHeaders=host, Signature=0"})
    with urllib.request.urlopen(request) as answer:
        return json.loads(answer.read() or b"{}")


def query_call(moto, service, params):
    """One query-protocol AWS call (SNS) to moto."""
    data = urllib.parse.urlencode(params).encode()
    request = urllib.request.Request(moto, data=data, method="POST", headers={
        "content-type": "application/x-www-form-urlencoded",
        "authorization": f"AWS4-HMAC-SHA256 Credential=testing/20261201/us-east-1/{service}/aws4_request, "
                         "SignedHeaders=host, Signature=0"})
    with urllib.request.urlopen(request) as answer:
        return answer.read().decode()


def start_moto():
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="cold-start-moto-", suffix=".log", delete=False)
    proc = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, endpoint
        except OSError:
            time.sleep(0.1)
    sys.exit(f"moto_server did not start; see {log.name}")


def setup_stack(moto, cli):
    """The table (created by `aftersale init-table`, as template.yaml declares it), the
    secrets as SecureStrings, and the topics."""
    env = dict(os.environ, AWS_ENDPOINT_URL=moto, AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing")
    subprocess.run([cli, "init-table", "--dynamodb-table", "cold-start"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    for name, value in [(LINK_KEY_PARAM, HEX_KEY), (APP_SECRET_PARAM, "shpss_cold"),
                        (WOO_SECRET_PARAM, "woo_cold"), (SEALING_KEY_PARAM, HEX_KEY)]:
        aws(moto, "ssm", "AmazonSSM.PutParameter",
            {"Name": name, "Value": value, "Type": "SecureString", "Overwrite": True})
    answer = query_call(moto, "sns", {"Action": "CreateTopic", "Name": "cold-start", "Version": "2010-03-31"})
    return answer.split("<TopicArn>")[1].split("</TopicArn>")[0]


def run_once(binary, name, payload, extra, moto, topic):
    api = RuntimeApi(payload)
    thread = threading.Thread(target=api.serve_forever, daemon=True)
    thread.start()
    env = {"PATH": "/usr/bin:/bin", "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{api.server_address[1]}",
           "AWS_LAMBDA_FUNCTION_NAME": name, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
           "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_LOG_STREAM_NAME": "cold",
           "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}", "AWS_REGION": "us-east-1",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_ENDPOINT_URL": moto, "AFTERSALE_TABLE": "cold-start", "SUPPORT_ALERTS_TOPIC_ARN": topic,
           "RUST_LOG": "warn", "TZ": ":UTC"}
    env.update({k: (topic if v == "TOPIC" else v) for k, v in extra.items()})
    started = time.monotonic()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while api.answered is None:
            if proc.poll() is not None:
                sys.exit(f"{name} exited ({proc.returncode}) before answering: {proc.stderr.read()[-2000:]!r}")
            if time.monotonic() - started > 60:
                sys.exit(f"{name} did not answer within 60 s")
            time.sleep(0.001)
    finally:
        proc.kill()
        proc.wait()
        api.shutdown()
    return (api.first_next - started) * 1000, (api.answered - started) * 1000, api.outcome[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin-dir", default="target/release", help="where the function binaries are")
    parser.add_argument("--cli", default=None, help="the aftersale binary (default: BIN_DIR/aftersale, else target/debug)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the table as JSON lines")
    parser.add_argument("names", nargs="*", help="functions (default: every one found in BIN_DIR)")
    args = parser.parse_args()
    if not shutil.which("moto_server"):
        sys.exit("moto_server is not on PATH: pip install 'moto[server]'")
    cli = args.cli or next((p for p in [os.path.join(args.bin_dir, "aftersale"), "target/debug/aftersale"]
                            if os.path.isfile(p)), None)
    if not cli:
        sys.exit("no aftersale CLI binary to create the table with: cargo build -p aftersale-cli")
    names = args.names or [n for n in FUNCTIONS if os.path.isfile(os.path.join(args.bin_dir, n))]
    if not names:
        sys.exit(f"no function binaries in {args.bin_dir}: cargo build --release -p <function>")
    moto_proc, moto = start_moto()
    try:
        topic = setup_stack(moto, cli)
        if not args.json:
            print(f"{'function':<22} {'init ms':>8} {'first ms':>9} {'outcome':>9} {'size MiB':>9}")
        for name in names:
            binary = os.path.join(args.bin_dir, name)
            payload, extra = FUNCTIONS[name]
            runs = [run_once(binary, name, payload, extra, moto, topic) for _ in range(args.runs)]
            init = statistics.median(r[0] for r in runs)
            first = statistics.median(r[1] for r in runs)
            size = os.path.getsize(binary) / 1048576
            if args.json:
                print(json.dumps({"function": name, "init_ms": round(init, 1), "first_event_ms": round(first, 1),
                                  "outcome": runs[-1][2], "bytes": os.path.getsize(binary), "runs": args.runs}))
            else:
                print(f"{name:<22} {init:>8.1f} {first:>9.1f} {runs[-1][2]:>9} {size:>9.2f}")
    finally:
        moto_proc.kill()
        moto_proc.wait()


if __name__ == "__main__":
    main()
