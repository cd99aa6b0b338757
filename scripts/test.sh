#!/bin/bash
# The whole test suite (the README's command; CI runs it through .ci/run), in five phases:
#   setup-deps  scripts/setup-deps.sh (Debian packages; nothing is fetched when all are there)
#   build       scripts/build.sh into ${BUILD_DIR:-build}
#   ctest       every suite through ctest: unit, integration on real containers,
#               spec-conformance, the guest suites, garden-shim, crunner-image, callers
#   fuzz        scripts/fuzz.sh: every libFuzzer target over its committed corpus (regression
#               inputs replayed first), then ${FUZZ_RUNS:-20000} generated inputs from a fixed
#               seed (FUZZ_SEED, default 1), at most ${FUZZ_SECONDS:-300} s per target;
#               CRUNNER_FUZZ_JOB=0 skips it
#   sanitizer   scripts/sanitize.sh: builds crunner, garden-shim and the unit tests in the
#               fuzz phase's clang ASan+UBSan tree (build-fuzz: the libraries are built
#               already) and runs every unit test, the integration suites listed there and a
#               garden-shim pass against a sanitized shim; CRUNNER_SANITIZE_JOB=0 skips it
# Each phase ends with a line giving its wall time, the CPU time (user+sys) of what it ran
# and the load average; the last line sums them all up. Every phase runs even when an
# earlier one failed (ctest needs the build: it is counted failed, not run, when the build
# failed); the exit status is 1 when any failed.
#   scripts/test.sh [ctest args]   the ctest phase gets the arguments; fuzz and sanitizer
#                                  are skipped then
#   scripts/test.sh --quick [ctest args]
#                                  the quick tier, for use before each commit: setup-deps,
#                                  build, then only the tests labelled `quick` (unit tests and
#                                  the integration suites that take seconds: ctest -L quick;
#                                  the label is set in tests/CMakeLists.txt)
set -uo pipefail
cd "$(dirname "$0")/.."
quick=0
if [ "${1:-}" = --quick ]; then
  quick=1
  shift
fi
BUILD_DIR=${BUILD_DIR:-build}
export BUILD_DIR

# CPU seconds (user+sys) of everything this shell ran and waited for so far: the cutime and
# cstime fields of its /proc stat, in clock ticks.
TICKS=$(getconf CLK_TCK)
cpu_so_far() {
  awk -v t="$TICKS" '{ printf "%d", ($16 + $17) / t }' "/proc/$$/stat"
}
rc=0
summary=()
# phase NAME command...: runs it, prints its times, records it for the summary.
phase() {
  local name=$1
  shift
  local start=$SECONDS cpu0 cpu1 status=ok
  cpu0=$(cpu_so_far)
  echo "test.sh: phase $name: $*"
  "$@" || status=FAILED
  cpu1=$(cpu_so_far)
  [ $status = ok ] || rc=1
  last_status=$status
  local load
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  echo "test.sh: phase $name $status: $((SECONDS - start)) s wall, $((cpu1 - cpu0)) s CPU (load $load)"
  summary+=("$name $status $((SECONDS - start))s/$((cpu1 - cpu0))s")
}
not_run() {
  echo "test.sh: phase $1 FAILED: not run ($2)"
  rc=1
  summary+=("$1 FAILED (not run: $2)")
}

# A selection that matches no test fails (it would otherwise pass having run nothing).
run_ctest() (
  cd "$BUILD_DIR" && ctest --output-on-failure --no-tests=error -j1 "$@"
)

total_start=$SECONDS
phase setup-deps bash scripts/setup-deps.sh
phase build bash scripts/build.sh
if [ "$last_status" = ok ]; then
  if [ $quick = 1 ]; then
    phase ctest run_ctest -L quick "$@"
  else
    phase ctest run_ctest "$@"
  fi
else
  not_run ctest "the build failed"
fi
if [ $quick = 0 ] && [ $# -eq 0 ]; then
  if [ "${CRUNNER_FUZZ_JOB:-1}" != 0 ]; then
    phase fuzz env FUZZ_RUNS="${FUZZ_RUNS:-20000}" FUZZ_SEED="${FUZZ_SEED:-1}" \
      bash scripts/fuzz.sh "${FUZZ_SECONDS:-300}"
  fi
  if [ "${CRUNNER_SANITIZE_JOB:-1}" != 0 ]; then
    phase sanitizer bash scripts/sanitize.sh
  fi
fi
verdict=passed
[ $rc = 0 ] || verdict=FAILED
tier=whole
[ $quick = 0 ] || tier=quick
[ $# -eq 0 ] || tier="$tier, ctest $*"
phases=$(printf '%s, ' "${summary[@]}")
echo "test.sh: $verdict ($tier) in $((SECONDS - total_start)) s; wall/CPU per phase: ${phases%, }"
exit $rc
