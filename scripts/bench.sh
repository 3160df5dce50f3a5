#!/usr/bin/env bash
# Measures the release binary against plain tools (issue 7), in one run, and prints
# medians, ratios and peak memory side by side with the targets:
#
#   (a) `arazzo validate` of provision-mcp-server pointed at the real 2.1 MB Composio
#       description, against `jq empty` on that description;
#   (b) a full `arazzo run` of provision-mcp-server against a fast local Composio
#       stand-in, against one curl process sending the same four requests (--next);
#       once with the workflow as shipped (its 48 KB provisioning subset) and once
#       pointed at the real description;
#   (c) a batch of 10,000 provisioning runs (`--each`, one user per line) at
#       concurrency 64 against the same stand-in: runs per second and peak RSS.
#
# Usage: scripts/bench.sh [--phases]
#   RUNS=N      timed runs per command (default 30; 3 warm-up runs come first)
#   RSS_RUNS=N  runs per command measured for peak RSS (default 10)
#   BATCH_LINES=N  lines of the batch (default 10000); BATCH_RUNS=N timed batches (default 5)
#   ARAZZO_BENCH_OPENAPI=PATH   the Composio description
#                               (default ../shared/fixtures/composio/composio-openapi-original.json)
#   --phases    also build and run `cargo bench --bench phases`: the time and peak
#               RSS of each phase of a cold `validate` and `run`
#   STRICT=1    exit 1 when a target is missed
#   ARAZZO_BIN=PATH  measure this arazzo binary instead of building one (to compare builds)
#
# Needs cargo, rustc, jq, curl, hyperfine and GNU time (/usr/bin/time); installs
# the last four from Debian when they are missing. Everything it sends goes to
# 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-30}
RSS_RUNS=${RSS_RUNS:-10}
WARMUP=3
PHASES=0
for arg in "$@"; do
  case "$arg" in
    --phases) PHASES=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "bench.sh: unknown argument \`$arg\` (try --help)" >&2
      exit 2
      ;;
  esac
done

# --- Tools ------------------------------------------------------------------------
missing=()
command -v jq >/dev/null 2>&1 || missing+=(jq)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v hyperfine >/dev/null 2>&1 || missing+=(hyperfine)
[ -x /usr/bin/time ] || missing+=(time)
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench.sh: installing ${missing[*]} from Debian" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
fi
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi

OPENAPI=${ARAZZO_BENCH_OPENAPI:-../shared/fixtures/composio/composio-openapi-original.json}
if [ ! -f "$OPENAPI" ]; then
  echo "bench.sh: the Composio description \`$OPENAPI\` is missing (set ARAZZO_BENCH_OPENAPI)" >&2
  exit 1
fi
OPENAPI=$(realpath "$OPENAPI")

# --- Build --------------------------------------------------------------------------
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
if [ -n "${ARAZZO_BIN:-}" ]; then
  ARAZZO=$(realpath "$ARAZZO_BIN")
else
  echo "building the release binary…" >&2
  cargo build --release --locked --bin arazzo >&2
  ARAZZO="$TARGET_DIR/release/arazzo"
fi
mkdir -p "$TARGET_DIR/bench"
STANDIN="$TARGET_DIR/bench/standin"
rustc --edition 2021 -O benches/support/standin_main.rs -o "$STANDIN"

WORK=$(mktemp -d)
STANDIN_PID=""
cleanup() {
  if [ -n "$STANDIN_PID" ]; then kill "$STANDIN_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# The shipped workflow, pointed at the real description and at the shipped subset.
line='url: ../openapi/composio-openapi-original.json'
shipped=workflows/provision-mcp-server.arazzo.yaml
grep -qF "$line" "$shipped" || {
  echo "bench.sh: $shipped no longer names its source as \`$line\`" >&2
  exit 1
}
sed "s#$line#url: file://$OPENAPI#" "$shipped" >"$WORK/real.arazzo.yaml"
sed "s#$line#url: file://$(realpath openapi/composio-openapi-original.json)#" "$shipped" \
  >"$WORK/shipped.arazzo.yaml"

# --- The stand-in -------------------------------------------------------------------
"$STANDIN" 127.0.0.1:0 >"$WORK/addr" &
STANDIN_PID=$!
for _ in $(seq 100); do
  [ -s "$WORK/addr" ] && break
  sleep 0.05
done
ADDR=$(head -n1 "$WORK/addr")
BASE="http://$ADDR"
KEY=bench-api-key-5f0c1d2e

COMMON_ARGS="run provision-mcp-server --server composioApi=$BASE -i apiKey=$KEY -i toolkitSlug=linear -i authType=use_composio_managed_auth -i 'serverName=Linear Bot'"
RUN_ARGS="$COMMON_ARGS -i userId=alice"
BATCH_LINES=${BATCH_LINES:-10000}
BATCH_RUNS=${BATCH_RUNS:-5}
awk -v n="$BATCH_LINES" 'BEGIN { for (i = 1; i <= n; i++) printf "{\"userId\":\"user-%05d\"}\n", i }' >"$WORK/users.jsonl"
BATCH="$ARAZZO $COMMON_ARGS --each $WORK/users.jsonl --concurrency 64 -o json -f $WORK/shipped.arazzo.yaml"
# Each batch starts afresh: the journal of the one before would otherwise be
# refused (it records finished lines).
BATCH_PREP="rm -f $WORK/users.jsonl.journal"
H="-H 'x-api-key: $KEY'"
J="-H 'content-type: application/json'"
CURL4="curl -sS --fail -o /dev/null $H $J --data-binary '{\"toolkit\":{\"slug\":\"linear\"},\"auth_config\":{\"type\":\"use_composio_managed_auth\"}}' $BASE/api/v3/auth_configs \
 --next -sS --fail -o /dev/null $H $J --data-binary '{\"name\":\"Linear Bot\",\"auth_config_ids\":[\"ac_bench_1\"],\"managed_auth_via_composio\":true}' $BASE/api/v3/mcp/servers \
 --next -sS --fail -o /dev/null $H $BASE/api/v3/mcp/mcp_bench_1 \
 --next -sS --fail -o /dev/null $H $J --data-binary '{\"user_id\":\"alice\"}' $BASE/api/v3/mcp/servers/mcp_bench_1/instances"
# Calibration: 1 and 201 GETs on one connection bound what a request costs curl
# and the stand-in together.
CURL1="curl -sS --fail -o /dev/null $H $BASE/api/v3/mcp/mcp_bench_1"
CURL201="curl -sS --fail $H '$BASE/api/v3/mcp/mcp_bench_1?n=[0-200]'"

# Each command must succeed before it is timed.
check() {
  if ! eval "$1" >"$WORK/check.out" 2>&1; then
    echo "bench.sh: this command failed:" >&2
    echo "  $1" >&2
    cat "$WORK/check.out" >&2
    exit 1
  fi
}
VALIDATE="$ARAZZO validate $WORK/real.arazzo.yaml"
JQ="jq empty $OPENAPI"
RUN_SHIPPED="$ARAZZO $RUN_ARGS -f $WORK/shipped.arazzo.yaml"
RUN_REAL="$ARAZZO $RUN_ARGS -f $WORK/real.arazzo.yaml"
for c in "$VALIDATE" "$JQ" "$RUN_SHIPPED" "$RUN_REAL" "$CURL4" "$CURL1" "$CURL201"; do
  check "$c"
done
eval "$BATCH_PREP"
check "$BATCH"
reports=$(grep -c '"status": *"succeeded"' "$WORK/check.out" || true)
if [ "$reports" != "$BATCH_LINES" ]; then
  echo "bench.sh: the batch wrote $reports succeeded reports for $BATCH_LINES lines" >&2
  exit 1
fi

# --- Timing -------------------------------------------------------------------------
echo "timing ($RUNS runs per command after $WARMUP warm-up runs)…" >&2
LOG="$TARGET_DIR/bench/hyperfine.log"
hyperfine --shell=none --warmup "$WARMUP" --runs "$RUNS" --export-json "$WORK/times.json" \
  -n validate "$VALIDATE" -n jq "$JQ" \
  -n run-shipped "$RUN_SHIPPED" -n run-real "$RUN_REAL" \
  -n curl4 "$CURL4" -n curl1 "$CURL1" -n curl201 "$CURL201" >"$LOG" 2>&1 || {
  cat "$LOG" >&2
  exit 1
}
echo "timing the batch ($BATCH_RUNS runs of $BATCH_LINES lines after 1 warm-up run)…" >&2
hyperfine --shell=none --warmup 1 --runs "$BATCH_RUNS" --export-json "$WORK/batch.json" \
  --prepare "$BATCH_PREP" -n batch "$BATCH" >>"$LOG" 2>&1 || {
  cat "$LOG" >&2
  exit 1
}
median_ms() { jq -r --arg n "$1" '.results[] | select(.command == $n) | .median * 1000' "$WORK/times.json"; }
stddev_ms() { jq -r --arg n "$1" '.results[] | select(.command == $n) | .stddev * 1000' "$WORK/times.json"; }

# --- Peak RSS -----------------------------------------------------------------------
echo "measuring peak RSS ($RSS_RUNS runs per command)…" >&2
# Prints "median max" of the peak RSS in MiB over RSS_RUNS runs.
peak_rss() {
  local i
  for i in $(seq "$RSS_RUNS"); do
    if [ -n "${PREP:-}" ]; then eval "$PREP"; fi
    eval "/usr/bin/time -f '%M' -o '$WORK/rss' $1" >/dev/null 2>&1
    tail -n1 "$WORK/rss"
  done | sort -n | awk '{ v[NR] = $1 } END {
      m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      printf "%.1f %.1f\n", m / 1024, v[NR] / 1024 }'
}
declare -A RSS
RSS[validate]=$(peak_rss "$VALIDATE")
RSS[jq]=$(peak_rss "$JQ")
RSS[run-shipped]=$(peak_rss "$RUN_SHIPPED")
RSS[run-real]=$(peak_rss "$RUN_REAL")
RSS[curl4]=$(peak_rss "$CURL4")
RSS[batch]=$(RSS_RUNS=3 PREP="$BATCH_PREP" peak_rss "$BATCH")

# --- Report -------------------------------------------------------------------------
MISSED=0
row() { # name label
  read -r rss_med rss_max <<<"${RSS[$1]}"
  printf "  %-46s %9.2f ms  ±%7.2f  %8.1f MiB  (max %.1f)\n" "$2" "$(median_ms "$1")" "$(stddev_ms "$1")" "$rss_med" "$rss_max"
}
verdict() { # label ratio limit
  local ok
  ok=$(awk -v r="$2" -v l="$3" 'BEGIN { print (r <= l) ? "met" : "MISSED" }')
  [ "$ok" = met ] || MISSED=1
  printf "  %-46s %9.2f×     target ≤ %s×: %s\n" "$1" "$2" "$3" "$ok"
}
memory() { # name label [limit in MB]
  local ok rss_med rss_max limit=${3:-50}
  read -r rss_med rss_max <<<"${RSS[$1]}"
  # 50 MB = 47.68 MiB; the largest of the runs is judged.
  ok=$(awk -v m="$rss_max" -v l="$limit" 'BEGIN { print (m <= l * 1e6 / 1048576) ? "met" : "MISSED" }')
  [ "$ok" = met ] || MISSED=1
  printf "  %-46s %9.1f MiB  target ≤ %s MB (%.1f MiB): %s\n" "$2" "$rss_max" "$limit" "$(awk -v l="$limit" 'BEGIN { print l * 1e6 / 1048576 }')" "$ok"
}
ratio() { awk -v a="$(median_ms "$1")" -v b="$(median_ms "$2")" 'BEGIN { printf "%.3f", a / b }'; }

echo
if [ -n "${ARAZZO_BIN:-}" ]; then
  built="$ARAZZO"
else
  built="$(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo '+changes')"
fi
echo "arazzo $("$ARAZZO" --version 2>/dev/null | awk '{print $NF}') ($built), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "medians of $RUNS runs (hyperfine, no shell; ± is the standard deviation); peak RSS: median of $RSS_RUNS runs (GNU time)"
echo
echo "(a) validate, real Composio description ($(du -k "$OPENAPI" | cut -f1) KiB)"
row validate "arazzo validate provision-mcp-server"
row jq "jq empty (same description)"
verdict "time arazzo / jq" "$(ratio validate jq)" 0.333
memory validate "arazzo peak RSS (max of runs)"
echo
echo "(b) run against the local stand-in (4 requests)"
row run-shipped "arazzo run, shipped 48 KB subset"
row run-real "arazzo run, real 2.1 MB description"
row curl4 "curl, the same 4 requests, one process"
verdict "time arazzo (shipped) / curl" "$(ratio run-shipped curl4)" 1.5
verdict "time arazzo (real) / curl" "$(ratio run-real curl4)" 1.5
memory run-shipped "arazzo peak RSS, shipped (max of runs)"
memory run-real "arazzo peak RSS, real (max of runs)"
awk -v one="$(median_ms curl1)" -v many="$(median_ms curl201)" 'BEGIN {
  printf "  calibration: curl 1 GET %.2f ms, 201 GETs %.2f ms: a request costs curl and the\n", one, many
  printf "  stand-in together about %.0f µs, so the stand-in is a small part of either side\n",
    (many - one) * 1000 / 200 }'
echo
batch_ms=$(jq -r '.results[0].median * 1000' "$WORK/batch.json")
batch_sd=$(jq -r '.results[0].stddev * 1000' "$WORK/batch.json")
per_s=$(awk -v n="$BATCH_LINES" -v ms="$batch_ms" 'BEGIN { printf "%.0f", n / (ms / 1000) }')
echo "(c) batch: $BATCH_LINES runs of provision-mcp-server (shipped), --each, --concurrency 64"
read -r rss_med rss_max <<<"${RSS[batch]}"
printf "  %-46s %9.0f ms  ±%7.0f  %8.1f MiB  (max %.1f)\n" "arazzo run --each (median of $BATCH_RUNS)" "$batch_ms" "$batch_sd" "$rss_med" "$rss_max"
ok=$(awk -v r="$per_s" 'BEGIN { print (r >= 2000) ? "met" : "MISSED" }')
[ "$ok" = met ] || MISSED=1
printf "  %-46s %9d /s    target ≥ 2000/s: %s\n" "workflow runs per second" "$per_s" "$ok"
memory batch "arazzo peak RSS (max of 3 runs)" 200
echo
echo "hyperfine's own output: $LOG"

if [ "$PHASES" = 1 ]; then
  echo
  echo "phases of a cold validate and run (cargo bench --bench phases)…" >&2
  cargo bench --locked --bench phases 2>/dev/null
fi

if [ "${STRICT:-0}" = 1 ] && [ "$MISSED" = 1 ]; then
  exit 1
fi
