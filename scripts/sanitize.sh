#!/bin/bash
# The sanitizer job (part of scripts/test.sh): builds crunner, garden-shim and its helpers and
# the unit tests in the fuzz job's clang tree (scripts/fuzz-tree.sh: ${FUZZ_BUILD_DIR:-build-fuzz},
# the whole tree compiled with -fsanitize=fuzzer-no-link,address,undefined; run after
# scripts/fuzz.sh, the library objects are already there) and runs, under ASan+UBSan, the
# unit tests (crunner, garden-shim, crunner-image), the integration suites that drive
# crunner's parsing, lifecycle, exec, hooks and failure paths, and a garden-shim pass
# (hostile input and stream-in/out against a sanitized shim, dadoo and crunner). Outside
# libFuzzer the coverage instrumentation only counts (the ASan runtime's no-op callbacks).
# Suites whose containers run under small memory limits (test_cgroups, spec-conformance) or
# that measure/compare with other runtimes stay in the plain build only: ASan's shadow memory
# and allocator would change what they see.
# Any sanitizer report aborts the process it is in, which fails the test that ran it; the
# last line says how many tests ran and whether any failed (exit status 1 then).
#   scripts/sanitize.sh [ctest args]    (default: the selection below)
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
# Sets BUILD.
source scripts/fuzz-tree.sh
# Only what the selected suites run (no crunner-image, benches or docs).
cmake --build "$BUILD" -j"$(nproc)" --target crunner unit-tests garden-shim garden-dadoo \
  garden-init garden-unit-tests image-unit-tests
echo "sanitize: build took $((SECONDS - start)) s"
# detect_leaks: crunner clears PR_SET_DUMPABLE around clone, and LeakSanitizer's ptrace
# of its own process fails then; leaks of a one-shot CLI are not what this job hunts.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1:detect_stack_use_after_return=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Tests that assert memory bounds print them instead (see tests/garden/test_hostile.py).
export CRUNNER_SANITIZED=1
SUITES='^unit:|^garden unit:|^image unit:'
SUITES+='|^integration: test_(lifecycle|exec|cleanup|reliability|hooks|process|seccomp)$'
SUITES+='|^garden: test_(files|hostile)$'
cd "$BUILD"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
rc=0
if [ $# -gt 0 ]; then
  ctest --output-on-failure -j1 "$@" 2>&1 | tee "$log" || rc=1
else
  ctest --output-on-failure -j1 -R "$SUITES" 2>&1 | tee "$log" || rc=1
fi
summary=$(grep -E '^[0-9]+% tests passed' "$log" | tail -n1 || true)
if [ $rc -eq 0 ]; then
  echo "sanitize: passed under ASan+UBSan (${summary:-no tests}) in $((SECONDS - start)) s"
else
  echo "sanitize: FAILED under ASan+UBSan (${summary:-ctest failed}) in $((SECONDS - start)) s" >&2
fi
exit $rc
