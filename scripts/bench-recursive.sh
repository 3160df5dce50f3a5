#!/usr/bin/env bash
# Times `arazzo validate` on descriptions with recursive, fanning-out, chained
# and looping schemas (1 to 2 MB each, written by gen-recursive-fixtures.py
# --big), and prints wall time and peak memory per document, side by side with
# a baseline binary when one is given.
#
# Usage: scripts/bench-recursive.sh [BASELINE_BIN]
#   ARAZZO_BIN=PATH  the binary measured (default: target/release/arazzo, built)
#   RUNS=N           timed runs per document and binary (default 5; the median
#                    wall time and the largest peak RSS are printed)
#   LIMIT=S          seconds a run may take before it is stopped (default 30)
#
# Target (issue 14): every document under 1 s and 100 MiB on a 2-core machine.
# Needs python3 and GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
LIMIT=${LIMIT:-30}
BASE=${1:-}
if [ -z "${ARAZZO_BIN:-}" ]; then
  cargo build --release --locked -q
  ARAZZO_BIN=target/release/arazzo
fi
ARAZZO_BIN=$(realpath "$ARAZZO_BIN")
[ -n "$BASE" ] && BASE=$(realpath "$BASE")
[ -x /usr/bin/time ] || { echo "bench-recursive.sh: needs GNU time (apt-get install time)" >&2; exit 2; }

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python3 scripts/gen-recursive-fixtures.py "$dir" --big
# filters-bad: the filter language with the deepest comparison of one step
# wrong, which a validator explains through every alternative at every level.
python3 - "$dir" <<'PY'
import json, sys
d = json.load(open(f"{sys.argv[1]}/filters.arazzo.json"))
leaf = d["workflows"][0]["steps"][1]["requestBody"]["payload"]["where"]
while "children" in leaf:
    leaf = leaf["children"][0]
leaf["op"] = "neq"
json.dump(d, open(f"{sys.argv[1]}/filters-bad.arazzo.json", "w"), indent=1)
PY
cp "$dir/filters.openapi.json" "$dir/filters-bad.openapi.json"

# One document, one binary: "median-seconds max-peak-MiB diagnostics" or
# "stopped" when a run passed the limit or the memory it was given.
measure() {
  local bin=$1 name=$2 times=() peak=0 n=0 out
  for _ in $(seq "$RUNS"); do
    if ! out=$( (cd "$dir" && ulimit -v $((4 * 1024 * 1024)) &&
      /usr/bin/time -f '%e %M' timeout "$LIMIT" "$bin" validate --format json "$name.arazzo.json" \
        2>"$dir/err" >"$dir/out") ; tail -1 "$dir/err"); then
      echo "stopped"
      return
    fi
    read -r secs kib <<<"$out"
    if ! [[ "$secs" =~ ^[0-9.]+$ ]] || ! python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$dir/out" 2>/dev/null; then
      echo "stopped ($(grep -m1 -v '^Command' "$dir/err" | cut -c1-60))"
      return
    fi
    times+=("$secs")
    [ "$kib" -gt "$peak" ] && peak=$kib
    n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$dir/out")
  done
  local median
  median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '%s s  %d MiB  %s diagnostics' "$median" $((peak / 1024)) "$n"
}

printf '%-8s %8s  %-40s %s\n' document size "arazzo ($ARAZZO_BIN)" "${BASE:+baseline ($BASE)}"
for name in mutual deep filters filters-bad chain fanout cycle; do
  size=$(( $(stat -c %s "$dir/$name.openapi.json") / 1024 ))
  new=$(measure "$ARAZZO_BIN" "$name")
  old=""
  [ -n "$BASE" ] && old=$(measure "$BASE" "$name")
  printf '%-8s %6sKB  %-40s %s\n' "$name" "$size" "$new" "$old"
done
