#!/bin/bash
# The whole test suite: installs dependencies, builds, and runs every suite through ctest
# (unit, integration on real containers, spec-conformance, cgroup v2 in a guest, garden-shim),
# then the fuzz job (scripts/fuzz.sh, its own build in build-fuzz): every libFuzzer target
# over its committed corpus (regression inputs replayed first), then ${FUZZ_RUNS:-20000}
# generated inputs from a fixed seed (FUZZ_SEED, default 1), at most ${FUZZ_SECONDS:-300} s
# per target; CRUNNER_FUZZ_JOB=0 skips it.
# Then the sanitizer job (scripts/sanitize.sh: an ASan+UBSan build in build-asan running every
# unit test, the integration suites listed there and a garden-shim pass against a sanitized
# shim); CRUNNER_SANITIZE_JOB=0 skips it.
# Each job ends with a one-line summary. With arguments (passed to the main ctest run) the
# extra jobs are skipped. Every part runs even when an earlier one failed; the exit status
# is 1 when any failed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-deps.sh
BUILD_DIR=${BUILD_DIR:-build} bash scripts/build.sh
rc=0
(cd "${BUILD_DIR:-build}" && ctest --output-on-failure -j1 "$@") || rc=1
if [ $# -eq 0 ] && [ "${CRUNNER_FUZZ_JOB:-1}" != 0 ]; then
  start=$SECONDS
  FUZZ_RUNS=${FUZZ_RUNS:-20000} FUZZ_SEED=${FUZZ_SEED:-1} bash scripts/fuzz.sh "${FUZZ_SECONDS:-300}" || rc=1
  echo "test.sh: fuzz job took $((SECONDS - start)) s"
fi
if [ $# -eq 0 ] && [ "${CRUNNER_SANITIZE_JOB:-1}" != 0 ]; then
  start=$SECONDS
  bash scripts/sanitize.sh || rc=1
  echo "test.sh: sanitizer job took $((SECONDS - start)) s"
fi
exit $rc
