#!/usr/bin/env bash
# Parallel steps (Arazzo 1.1 `dependsOn`) against their sequential 1.0 twin, in one
# run, side by side: six independent GET steps and a step that joins them, against a
# local server that answers every request after DELAY_MS (default 200). The 1.1
# document lets the six run at once; the 1.0 twin (the same steps without
# `dependsOn`) runs them one after another. Prints hyperfine's table (mean, min,
# max) and the ratio, plus peak RSS of each.
#
# Usage: scripts/bench-parallel.sh
#   RUNS=N          timed runs per command (default 10, after 2 warm-up runs)
#   DELAY_MS=N      the server's answer delay (default 200)
#   ARAZZO_BIN=PATH measure this binary instead of building the release one
#
# Needs cargo, python3, hyperfine and GNU time (/usr/bin/time); installs the last
# two from Debian when missing. Everything goes to 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-10}
DELAY_MS=${DELAY_MS:-200}

missing=()
command -v hyperfine >/dev/null 2>&1 || missing+=(hyperfine)
[ -x /usr/bin/time ] || missing+=(time)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
fi

if [ -z "${ARAZZO_BIN:-}" ]; then
  cargo build --release --locked >&2
  ARAZZO_BIN=target/release/arazzo
fi

work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# A threaded server: every request waits DELAY_MS on its own, then gets `{}`.
cat >"$work/server.py" <<'PY'
import http.server, json, sys, time
delay = int(sys.argv[1]) / 1000
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        time.sleep(delay)
        body = json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
python3 "$work/server.py" "$DELAY_MS" >"$work/port" &
server_pid=$!
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
port=$(cat "$work/port")

cat >"$work/api.yaml" <<'YAML'
openapi: 3.1.0
info: {title: bench, version: "1"}
servers: [{url: "http://127.0.0.1:1"}]
paths:
  /items/{id}:
    get:
      operationId: getItem
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses: {"200": {description: ok}}
YAML

# $1 = arazzo version, $2 = the join step's extra line.
doc() {
  printf 'arazzo: %s\ninfo: {title: bench, version: "1"}\nsourceDescriptions:\n- {name: api, url: ./api.yaml, type: openapi}\nworkflows:\n- workflowId: six\n  steps:\n' "$1"
  for id in s1 s2 s3 s4 s5 s6 join; do
    printf '  - stepId: %s\n    operationId: getItem\n    parameters: [{name: id, in: path, value: %s}]\n    successCriteria: [{condition: $statusCode == 200}]\n' "$id" "$id"
    if [ "$id" = join ] && [ -n "$2" ]; then printf '    %s\n' "$2"; fi
  done
}
doc 1.1.0 'dependsOn: [s1, s2, s3, s4, s5, s6]' >"$work/parallel.arazzo.yaml"
doc 1.0.1 '' >"$work/sequential.arazzo.yaml"

run() { echo "$ARAZZO_BIN run six -f $work/$1.arazzo.yaml --server api=http://127.0.0.1:$port -q"; }
for f in parallel sequential; do $(run $f) >/dev/null; done

echo "six steps each answered after ${DELAY_MS} ms, then a join step (7 requests):"
hyperfine -N --warmup 2 --runs "$RUNS" \
  -n "1.1 dependsOn (parallel)" "$(run parallel)" \
  -n "1.0 twin (sequential)" "$(run sequential)"
for f in parallel sequential; do
  rss=$(/usr/bin/time -f '%M' $(run $f) 2>&1 >/dev/null | tail -1)
  echo "$f: peak RSS ${rss} KiB"
done
