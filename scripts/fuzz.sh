#!/bin/bash
# Builds the libFuzzer targets (fuzz/*_fuzz.cpp, clang, -DCRUNNER_FUZZ=ON) in their own
# build directory and runs each one for SECONDS (default 60) over its committed seeds
# in fuzz/corpus/<target>/ (every seed, regression inputs included, is replayed first).
# New inputs go to $BUILD/corpus/<target>/, never into the repository's corpus.
# Fails on the first crash, leak, timeout or out-of-memory of any target; the input that
# caused it is saved as $BUILD/crashes/<target>/<kind>-<sha1>: fix the bug, then commit
# the input into fuzz/corpus/<target>/ so every later run replays it.
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (FUZZ_BUILD_DIR, default build-fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
shift || true
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
LAUNCHER=()
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=1
  LAUNCHER=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
if [ $# -gt 0 ]; then
  TARGETS=("$@")
else
  TARGETS=()
  for f in fuzz/*_fuzz.cpp; do TARGETS+=("$(basename "$f" .cpp)"); done
fi
CC=clang CXX=clang++ cmake -S . -B "$BUILD" -G Ninja -DCRUNNER_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo "${LAUNCHER[@]}" >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target "${TARGETS[@]}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
for t in "${TARGETS[@]}"; do
  work="$BUILD/corpus/$t" crashes="$BUILD/crashes/$t"
  mkdir -p "$work" "$crashes" "fuzz/corpus/$t"
  echo "fuzz: $t for ${SECS}s"
  log="$BUILD/$t.log"
  if "$BUILD/fuzz/$t" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
       -print_final_stats=1 -artifact_prefix="$crashes/" "$work" "fuzz/corpus/$t" >"$log" 2>&1; then
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$log" |
      sed "s/^/fuzz: $t /" || true
  else
    echo "fuzz: $t FAILED; the input is in $crashes/:" >&2
    ls -l "$crashes" >&2 || true
    tail -n 60 "$log" >&2
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${#TARGETS[@]} targets ran ${SECS}s each without a crash"
