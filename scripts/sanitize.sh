#!/bin/bash
# The sanitizer job: builds the tree with -DCRUNNER_SANITIZE=ON (ASan+UBSan, GCC, crunner
# linked against a shared libstdc++) in ${ASAN_BUILD_DIR:-build-asan} and runs, under the
# sanitizers, the unit tests and the integration suites that drive crunner's parsing,
# lifecycle, exec, hooks and failure paths. Suites whose containers run under small memory
# limits (test_cgroups, spec-conformance) or that measure/compare with other runtimes stay
# in the plain build only: ASan's shadow memory and allocator would change what they see.
# Any sanitizer report aborts the process it is in, which fails the test that ran it.
#   scripts/sanitize.sh [ctest args]    (default: the selection below)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${ASAN_BUILD_DIR:-build-asan}
LAUNCHER=()
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=1
  LAUNCHER=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B "$BUILD" -G Ninja -DCRUNNER_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "${LAUNCHER[@]}" >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target crunner unit-tests
# detect_leaks: crunner clears PR_SET_DUMPABLE around clone, and LeakSanitizer's ptrace
# of its own process fails then; leaks of a one-shot CLI are not what this job hunts.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1:detect_stack_use_after_return=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
SUITES='^unit: |^integration: test_(lifecycle|exec|cleanup|reliability|hooks|process|seccomp)$'
cd "$BUILD"
if [ $# -gt 0 ]; then
  ctest --output-on-failure -j1 "$@"
else
  ctest --output-on-failure -j1 -R "$SUITES"
fi
