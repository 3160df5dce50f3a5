#!/usr/bin/env bash
# Workflow runs per second through `arazzo serve` (issue 20), REST and MCP, against what
# the Composio stand-in alone can do at the same concurrency, side by side.
#
# It starts the benchmark stand-in (benches/support/standin.rs) and `arazzo serve
# workflows/provision-mcp-server.arazzo.yaml` on free ports of 127.0.0.1, with a token
# file, the API key as an operator input (ARAZZO_INPUT_API_KEY) and
# --max-concurrent-runs twice the largest concurrency, then at each concurrency C
# (closed loop: C workers, each sending its next request when the last is answered;
# WARMUP seconds unmeasured, then DURATION measured; `cargo bench --bench serve`,
# benches/serve/):
#
#   stand-in  the four requests a provisioning run sends (POST auth_configs, POST
#             mcp/servers, GET mcp/{id}, POST .../instances), one after another, sent
#             straight to the stand-in by C workers: requests/s, and the workflow runs/s
#             that implies (requests/s ÷ 4), the ceiling of the two columns before it.
#             Latencies here are per request.
#   REST      POST /workflows/provision-mcp-server/runs with a JSON object of inputs
#             (a userId of its own each time), answered with the run report: runs/s,
#             latency p50/p99 of whole runs; every answer must be 200.
#   MCP       C sessions (initialize, notifications/initialized, each worker its own),
#             then tools/call provision-mcp-server on them: calls/s, p50/p99; every
#             answer must be 200 with `isError: false`.
#
# All three use one keep-alive HTTP client, the one arazzo builds for its own requests.
# Beside them: the CPU the server, the stand-in and the load generator used over each
# measured window (in cores: CPU seconds ÷ seconds; the machine's cores are shared by
# all three), the server's CPU per run, and its peak RSS (VmHWM of /proc/PID/status,
# read after the REST cell and after the MCP cell of each row: a high-water mark, so it
# only grows). The MCP sessions are deleted at the end of each cell.
#
# Usage: scripts/bench-serve.sh
#   LEVELS="1 8 32"  the concurrencies (default 1 8 32)
#   DURATION=N       measured seconds per cell (default 5); WARMUP=N unmeasured first (default 1)
#   LOAD_THREADS=N   threads of the load generator's runtime (default 2)
#   ARAZZO_BIN=PATH  measure this arazzo binary instead of building one
#
# The server's access log (a line per request) is on, as in production, and goes to a
# file. Exits 1 when an answer was not what it should be (the table is printed first). Needs
# cargo, rustc, jq and curl (installs the last two from Debian when missing). About 1.5
# minutes after the builds with the defaults. Everything stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

for arg in "$@"; do
  case "$arg" in
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "bench-serve.sh: unknown argument \`$arg\` (try --help)" >&2
      exit 2
      ;;
  esac
done

LEVELS=${LEVELS:-"1 8 32"}
MEASURE=${DURATION:-5}
WARMUP=${WARMUP:-1}
export LOAD_THREADS=${LOAD_THREADS:-2}

die() {
  echo "bench-serve.sh: $*" >&2
  exit 1
}

for c in $LEVELS; do
  [[ "$c" =~ ^[1-9][0-9]*$ ]] || die "LEVELS must hold positive whole numbers, not \`$c\`"
done
MAX_LEVEL=$(printf '%s\n' $LEVELS | sort -n | tail -n1)

# --- Tools ------------------------------------------------------------------------
missing=()
command -v jq >/dev/null 2>&1 || missing+=(jq)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench-serve.sh: installing ${missing[*]} from Debian" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
fi
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi

# --- Build --------------------------------------------------------------------------
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
if [ -n "${ARAZZO_BIN:-}" ]; then
  ARAZZO=$(realpath "$ARAZZO_BIN")
else
  echo "building the release binary…" >&2
  cargo build --release --locked --bin arazzo >&2
  ARAZZO="$TARGET_DIR/release/arazzo"
fi
echo "building the load generator (cargo bench --bench serve)…" >&2
LOAD=$(cargo bench --locked --bench serve --no-run --message-format=json |
  jq -r 'select(.reason == "compiler-artifact" and .target.name == "serve" and .executable != null) | .executable' |
  tail -n1)
[ -x "$LOAD" ] || die "cargo did not build the serve bench"
mkdir -p "$TARGET_DIR/bench"
STANDIN="$TARGET_DIR/bench/standin"
rustc --edition 2021 -O benches/support/standin_main.rs -o "$STANDIN"

WORK=$(mktemp -d)
STANDIN_PID=""
SERVE_PID=""
cleanup() {
  if [ -n "$SERVE_PID" ]; then
    kill "$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_PID" 2>/dev/null || true
  fi
  if [ -n "$STANDIN_PID" ]; then
    kill "$STANDIN_PID" 2>/dev/null || true
    wait "$STANDIN_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- The stand-in and the server ------------------------------------------------------
"$STANDIN" 127.0.0.1:0 >"$WORK/addr" &
STANDIN_PID=$!
for _ in $(seq 100); do
  [ -s "$WORK/addr" ] && break
  sleep 0.05
done
[ -s "$WORK/addr" ] || die "the stand-in did not start"
API="http://$(head -n1 "$WORK/addr")"
KEY=bench-api-key-5f0c1d2e
TOKEN="bench-token-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$TOKEN" >"$WORK/tokens"
RUN_SLOTS=$((MAX_LEVEL * 2))

ARAZZO_INPUT_API_KEY=$KEY "$ARAZZO" serve workflows/provision-mcp-server.arazzo.yaml \
  --http 127.0.0.1:0 --token-file "$WORK/tokens" --max-concurrent-runs "$RUN_SLOTS" \
  --server "composioApi=$API" </dev/null >/dev/null 2>"$WORK/serve.log" &
SERVE_PID=$!
BASE=""
for _ in $(seq 200); do
  BASE=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$WORK/serve.log" | head -n1)
  [ -n "$BASE" ] && break
  kill -0 "$SERVE_PID" 2>/dev/null || break
  sleep 0.05
done
[ -n "$BASE" ] || {
  cat "$WORK/serve.log" >&2
  die "arazzo serve did not start"
}

# One run by hand first: the set-up must work before anything is timed.
status=$(curl -sS -o "$WORK/first.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' "$BASE/workflows/provision-mcp-server/runs" \
  -d '{"toolkitSlug":"linear","authType":"use_composio_managed_auth","serverName":"Linear Bot","userId":"first"}')
if [ "$status" != 200 ] || [ "$(jq -r .status "$WORK/first.json")" != succeeded ]; then
  cat "$WORK/first.json" >&2
  die "the first run answered $status"
fi

# --- Measuring ----------------------------------------------------------------------
vmhwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$SERVE_PID/status"; }

# cell KIND C: runs the load generator, keeps its JSON in $WORK/KIND-C.json.
cell() {
  local kind=$1 c=$2 target=$BASE secret=$TOKEN
  if [ "$kind" = standin ]; then target=$API secret=$KEY; fi
  "$LOAD" "$kind" "$target" "$secret" "$c" "$MEASURE" "$WARMUP" \
    "watch=$SERVE_PID,$STANDIN_PID" >"$WORK/$kind-$c.json" 2>"$WORK/$kind-$c.err" || {
    cat "$WORK/$kind-$c.err" >&2
    die "the load generator failed ($kind at $c)"
  }
  kill -0 "$SERVE_PID" 2>/dev/null || {
    tail -n 20 "$WORK/serve.log" >&2
    die "arazzo serve ended during $kind at $c"
  }
}

declare -A HWM_REST HWM_MCP
for c in $LEVELS; do
  echo "concurrency $c: stand-in, REST, MCP (${WARMUP} s + ${MEASURE} s each)…" >&2
  cell standin "$c"
  cell rest "$c"
  HWM_REST[$c]=$(vmhwm_kib)
  cell mcp "$c"
  HWM_MCP[$c]=$(vmhwm_kib)
done

# --- Report -------------------------------------------------------------------------
get() { jq -r "$3" "$WORK/$1-$2.json"; }
num() { # KIND C FIELD FORMAT
  local v
  v=$(get "$1" "$2" ".$3 // empty")
  if [ -z "$v" ]; then printf '%s' "-"; else printf "$4" "$v"; fi
}
mib() { awk -v k="$1" 'BEGIN { printf "%.0f MiB", k / 1024 }'; }
FAILED=0
echo
if [ -n "${ARAZZO_BIN:-}" ]; then
  built="$ARAZZO"
else
  built="$(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo '+changes')"
fi
echo "arazzo $("$ARAZZO" --version 2>/dev/null | awk '{print $2}') ($built), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "provision-mcp-server (4 requests to the stand-in per run); closed loop, ${WARMUP} s warm-up then ${MEASURE} s per cell;"
echo "access log on (to a file); load generator: $LOAD_THREADS threads; peak RSS: arazzo's VmHWM after the REST and the MCP cell"
echo
printf '%5s | %8s %7s %7s %4s | %8s %7s %7s %4s | %8s %8s %7s %7s %4s | %s\n' \
  "" "REST" "" "" "" "MCP" "" "" "" "stand-in" "direct" "" "" "" "arazzo peak RSS"
printf '%5s | %8s %7s %7s %4s | %8s %7s %7s %4s | %8s %8s %7s %7s %4s | %7s %7s\n' \
  "conc" "runs/s" "p50 ms" "p99 ms" "fail" "calls/s" "p50 ms" "p99 ms" "fail" \
  "req/s" "=runs/s" "p50 ms" "p99 ms" "fail" "REST" "MCP"
for c in $LEVELS; do
  for k in rest mcp standin; do
    f=$(get "$k" "$c" .failed)
    [ "$f" = 0 ] || FAILED=1
  done
  printf '%5s | %8s %7s %7s %4s | %8s %7s %7s %4s | %8s %8s %7s %7s %4s | %7s %7s\n' "$c" \
    "$(num rest "$c" per_second %.0f)" "$(num rest "$c" p50_ms %.2f)" "$(num rest "$c" p99_ms %.2f)" \
    "$(get rest "$c" .failed)" \
    "$(num mcp "$c" per_second %.0f)" "$(num mcp "$c" p50_ms %.2f)" "$(num mcp "$c" p99_ms %.2f)" \
    "$(get mcp "$c" .failed)" \
    "$(num standin "$c" per_second %.0f)" \
    "$(jq -r '.per_second / 4 | round' "$WORK/standin-$c.json")" \
    "$(num standin "$c" p50_ms %.3f)" "$(num standin "$c" p99_ms %.3f)" "$(get standin "$c" .failed)" \
    "$(mib "${HWM_REST[$c]}")" "$(mib "${HWM_MCP[$c]}")"
done
echo
echo "CPU over each measured window, in cores ($(nproc) on this machine), and arazzo's CPU per run:"
printf '%5s | %-8s %7s %9s %7s %11s\n' "conc" "cell" "arazzo" "stand-in" "load" "arazzo/run"
for c in $LEVELS; do
  for k in rest mcp standin; do
    per_run=$(jq -r --arg pid "$SERVE_PID" \
      'if .done > 0 and (.cpu[$pid] // 0) > 0 then (.cpu[$pid] / .done * 1e6 | round | tostring) + " µs" else "-" end' \
      "$WORK/$k-$c.json")
    [ "$k" = standin ] && per_run="-"
    printf '%5s | %-8s %7s %9s %7s %11s\n' "$c" "$k" \
      "$(jq -r --arg p "$SERVE_PID" '(.cpu[$p] // 0) / .seconds * 100 | round / 100' "$WORK/$k-$c.json")" \
      "$(jq -r --arg p "$STANDIN_PID" '(.cpu[$p] // 0) / .seconds * 100 | round / 100' "$WORK/$k-$c.json")" \
      "$(jq -r '(.cpu.self // 0) / .seconds * 100 | round / 100' "$WORK/$k-$c.json")" \
      "$per_run"
  done
done
echo "(CPU is sampled from /proc in 10 ms ticks; stand-in latencies are per request, the others per run)"

if [ "$FAILED" = 1 ]; then
  echo >&2
  for f in "$WORK"/*.json; do
    first=$(jq -r '.first_failure // empty' "$f")
    [ -z "$first" ] || echo "bench-serve.sh: $(basename "$f" .json): first failure: ${first:0:400}" >&2
  done
  exit 1
fi
