#!/bin/bash
# Builds the libFuzzer targets (fuzz/*_fuzz.cpp, clang, -DCRUNNER_FUZZ=ON) in the clang
# tree that scripts/sanitize.sh builds its targets in too (scripts/fuzz-tree.sh) and runs
# each one for SECONDS (default 60) over its committed seeds
# in fuzz/corpus/<target>/ (every seed, regression inputs included, is replayed first).
# New inputs go to $BUILD/corpus/<target>/, never into the repository's corpus.
# FUZZ_RUNS=N (CI, scripts/test.sh): each target runs N inputs from seed ${FUZZ_SEED:-1}
# over the committed corpus only (a fresh work corpus), so every run tries the same inputs
# and the outcome does not depend on the machine's load; SECONDS is then only a cap.
# Fails on the first crash, leak, timeout or out-of-memory of any target; the input that
# caused it is saved as $BUILD/crashes/<target>/<kind>-<sha1>: fix the bug, then commit
# the input into fuzz/corpus/<target>/ so every later run replays it.
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (FUZZ_BUILD_DIR, default build-fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
shift || true
if [ $# -gt 0 ]; then
  TARGETS=("$@")
else
  TARGETS=()
  for f in fuzz/*_fuzz.cpp; do TARGETS+=("$(basename "$f" .cpp)"); done
fi
# The tree scripts/sanitize.sh builds its targets in too (sets BUILD).
source scripts/fuzz-tree.sh
cmake --build "$BUILD" -j"$(nproc)" --target "${TARGETS[@]}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
BOUND=(-max_total_time="$SECS")
what="${SECS}s each"
if [ -n "${FUZZ_RUNS:-}" ]; then
  BOUND+=(-runs="$FUZZ_RUNS" -seed="${FUZZ_SEED:-1}")
  what="$FUZZ_RUNS inputs each (seed ${FUZZ_SEED:-1}, at most ${SECS}s)"
fi
failed=()
execs=0
start=$SECONDS
for t in "${TARGETS[@]}"; do
  work="$BUILD/corpus/$t" crashes="$BUILD/crashes/$t"
  [ -z "${FUZZ_RUNS:-}" ] || rm -rf "$work"
  mkdir -p "$work" "$crashes" "fuzz/corpus/$t"
  echo "fuzz: $t for $what"
  log="$BUILD/$t.log"
  if "$BUILD/fuzz/$t" "${BOUND[@]}" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
       -print_final_stats=1 -artifact_prefix="$crashes/" "$work" "fuzz/corpus/$t" >"$log" 2>&1; then
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$log" |
      sed "s/^/fuzz: $t /" || true
    n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    execs=$((execs + ${n:-0}))
  else
    echo "fuzz: $t FAILED; the input is in $crashes/:" >&2
    ls -l "$crashes" >&2 || true
    tail -n 60 "$log" >&2
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs in $BUILD/crashes/); $((SECONDS - start)) s" >&2
  exit 1
fi
echo "fuzz: passed: ${#TARGETS[@]} targets ran $what without a finding ($execs inputs, $((SECONDS - start)) s)"
