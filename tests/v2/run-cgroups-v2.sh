#!/bin/bash
# Runs the cgroup tests (fake-tree unit tests and the [real] ones: OOM, pids, freezer,
# kill_all, eBPF device filter, cpu quota, CLONE_INTO_CGROUP) inside the throw-away v2vm
# guest, whose /sys/fs/cgroup is pure cgroup v2 with every controller.
#
# usage: run-cgroups-v2.sh UNIT_TESTS_BINARY [CATCH2 TEST SPEC...]
# Exit 77 (ctest: skipped) when the v2vm tool is not there.
set -euo pipefail
UNIT=$(readlink -f "${1:?usage: $0 UNIT_TESTS_BINARY [TEST SPEC...]}")
shift
SPEC=("$@")
[ ${#SPEC[@]} -gt 0 ] || SPEC=("[cgroups]")

here=$(cd "$(dirname "$0")" && pwd)
src=${CRUNNER_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
. "$here/find-v2vm.sh"

dir=$(dirname "$UNIT")
echo "== cgroup v2 guest: $UNIT ${SPEC[*]}"
# One guest for the whole group; -s 2 so that the spinner and the test itself both run.
# --durations: a line per finished test case, so a guest that stops answering shows after
# which one (one run in a stop's CI timed out at 600 s with no output at all).
v2vm_run -d "$dir" -s 2 -m 1024 -t 600 -- \
  "$UNIT" --reporter compact --order decl --durations yes "${SPEC[@]}"
