#!/usr/bin/env bash
# Fuzzes arazzo's parsers with cargo-fuzz (libFuzzer), each target for a
# bounded time.
#
#   scripts/fuzz.sh                   every target, 60 s each
#   scripts/fuzz.sh 300               every target, 300 s each
#   scripts/fuzz.sh 120 condition     one target (or several), 120 s each
#   FUZZ_SECONDS=600 scripts/fuzz.sh  the same, from the environment
#
# Targets (fuzz/fuzz_targets/, each calling arazzo::fuzzing::<name>):
# expression, condition, template, criteria, document, openapi.
#
# Works on stable Rust: cargo-fuzz passes nightly-only flags (-Z...), which
# RUSTC_BOOTSTRAP=1 lets stable rustc accept. The sanitizer is off
# (--sanitizer none): the code is safe Rust, and AddressSanitizer would only
# slow the build and each run; libFuzzer still catches panics, stack
# overflows, time-outs (-timeout) and memory blow-ups (-rss_limit_mb).
# Each target runs with a 2 MiB main-thread stack (ulimit -s), the size of a
# test or tokio worker thread, so that deep recursion shows up here.
#
# Seed corpora come from the repository's fixtures and ../shared (corpus,
# suites); they and what the fuzzer adds live in fuzz/corpus/<target>/, and
# crashing inputs in fuzz/artifacts/<target>/ (both ignored by git). A crash
# found here belongs, once fixed, in tests/fixtures/fuzz/<target>/, which
# tests/fuzz_regressions.rs runs in `cargo test`.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
seconds=${FUZZ_SECONDS:-60}
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi
all=(expression condition template criteria document openapi)
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${all[@]}")

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1

echo "fuzz.sh: building the targets (release, with coverage instrumentation)" >&2
cargo fuzz build --sanitizer none

triple=$(rustc -vV | sed -n 's/^host: //p')
bin_dir=$root/fuzz/target/$triple/release
shared=$root/../shared

# Copies seed files into a corpus directory, each named by its content's hash.
seed_files() {
  local dir=$1
  shift
  local f
  for f in "$@"; do
    [[ -f $f && $(stat -c %s "$f") -le 262144 ]] || continue
    cp "$f" "$dir/$(sha1sum "$f" | cut -c1-16)"
  done
}

# Writes each string of a JSON array (or the `expr` of each object) to its own file.
seed_strings() {
  local dir=$1 file=$2 filter=$3
  [[ -f $file ]] || return 0
  python3 - "$dir" "$file" "$filter" <<'PY'
import hashlib, json, sys
out, path, key = sys.argv[1], sys.argv[2], sys.argv[3]
data = json.load(open(path))
items = []
for group in ("valid", "invalid"):
    for v in data.get(group, []):
        items.append(v.get(key) if isinstance(v, dict) else v)
for s in items:
    if isinstance(s, str):
        b = s.encode()
        open(f"{out}/{hashlib.sha1(b).hexdigest()[:16]}", "wb").write(b)
PY
}

seed() {
  local target=$1 dir=$root/fuzz/corpus/$1
  mkdir -p "$dir"
  case $target in
    expression)
      seed_strings "$dir" "$shared/suites/swaggerexpert-arazzo-runtime-expression/vectors-arazzo-1.0.1.json" expr
      seed_strings "$dir" "$shared/suites/swaggerexpert-arazzo-runtime-expression/vectors-arazzo-1.1.json" expr
      ;;
    condition)
      seed_strings "$dir" "$shared/suites/swaggerexpert-arazzo-criterion/vectors.json" expr
      ;;
    template)
      printf '%s' 'id={$inputs.id}&n={$steps.a.outputs.n#/0}' >"$dir/t1"
      printf '%s' '{"a": ["$inputs.x", {"b": "x-{$response.body#/id}"}], "c": "$statusCode"}' >"$dir/t2"
      printf '%s' '<r>{$inputs.name}</r> {not} {$100}' >"$dir/t3"
      ;;
    criteria)
      printf '\0%s' '^[a-z]+(?=x)\d{2,}$' >"$dir/c1"
      printf '\1%s' "\$[?@.status == 'sold' && count(@.tags[*]) > 1]" >"$dir/c2"
      printf '\2%s' "count(/r/p) > 1 and /r/@a = '1'" >"$dir/c3"
      printf '\2%s\0%s' '//p[contains(., "y")]' '<?xml version="1.0"?><r xmlns:q="u"><q:p>y</q:p></r>' >"$dir/c4"
      ;;
    document)
      seed_files "$dir" "$root"/workflows/*.yaml
      mapfile -t docs < <(grep -rlE '^arazzo:|"arazzo"' "$shared/corpus" "$shared/reference" --include='*.yaml' --include='*.yml' --include='*.json' 2>/dev/null || true)
      seed_files "$dir" "${docs[@]}"
      ;;
    openapi)
      mapfile -t apis < <(grep -rlE '^openapi:|"openapi"' "$shared/corpus" --include='*.yaml' --include='*.yml' --include='*.json' 2>/dev/null || true)
      seed_files "$dir" "${apis[@]}"
      # The real Composio description is 2.1 MB: its first operations only.
      python3 - "$dir" "$root/openapi/composio-openapi-original.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[2]))
doc["paths"] = dict(list(doc["paths"].items())[:6])
open(f"{sys.argv[1]}/composio-head.json", "w").write(json.dumps(doc))
PY
      ;;
  esac
}

# Longest input, and whether libFuzzer may try that length from the start
# (deep nesting needs long inputs; documents start from long seeds anyway).
max_len() {
  case $1 in
    document | openapi) echo "-max_len=262144" ;;
    *) echo "-max_len=4096 -len_control=0" ;;
  esac
}

failed=()
for target in "${targets[@]}"; do
  seed "$target"
  mkdir -p "$root/fuzz/artifacts/$target"
  echo "fuzz.sh: $target for ${seconds}s" >&2
  log=$root/fuzz/artifacts/$target.log
  status=0
  (
    ulimit -s 2048
    exec "$bin_dir/$target" "$root/fuzz/corpus/$target" \
      -artifact_prefix="$root/fuzz/artifacts/$target/" \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      $(max_len "$target") -print_final_stats=1
  ) >"$log" 2>&1 || status=$?
  # The start and end (executions, coverage, corpus size), and any failure.
  grep -E '^(#[0-9]+\s+(INITED|DONE)|Done|stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|==[0-9]+==|SUMMARY|.*(panicked|overflow|Test unit written))' "$log" || true
  [[ $status -eq 0 ]] || failed+=("$target")
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz.sh: failures in: ${failed[*]} (inputs in fuzz/artifacts/<target>/, logs in fuzz/artifacts/<target>.log)" >&2
  exit 1
fi
echo "fuzz.sh: no failures" >&2
