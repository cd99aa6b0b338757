#!/bin/bash
# Runs tests/integration/test_cgroups.py against a built crunner inside the throw-away v2vm
# guest (pure cgroup v2, every controller): the CLI on real containers there, including the
# eBPF device filter (devices deny/allow, and replaced on update) and the container's init in
# its cgroup from the start (clone3 CLONE_INTO_CGROUP).
#
# usage: run-integration-v2.sh CRUNNER_BINARY [CASE...]
# The binary, harness.py, test_cgroups.py and make-bundle.sh are staged in one temporary host
# directory that is shared (read-write 9p) into the guest, so the build and source
# directories may be anywhere. The host's /usr (python3, busybox) is shared read-only by
# v2vm. Exit 77 (ctest: skipped) when the v2vm tool is not there.
set -euo pipefail
BIN=$(readlink -f "${1:?usage: $0 CRUNNER_BINARY [CASE...]}")
shift

here=$(cd "$(dirname "$0")" && pwd)
src=${CRUNNER_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
. "$here/find-v2vm.sh"
. "$here/stage.sh"
stage_test int test_cgroups.py

# Inside: make-bundle.sh wants /bin/busybox (the guest's / is a fresh tmpfs; /usr is the
# host's), then the test file; its exit status is ours.
inner='[ -e /bin/busybox ] || { mkdir -p /bin && ln -s /usr/bin/busybox /bin/busybox; }
exec python3 "$CRUNNER_SOURCE_DIR/tests/integration/test_cgroups.py" "$@"'
echo "== cgroup v2 guest: test_cgroups.py against $BIN ${*:-}"
# One guest for the whole file; 2 CPUs so that a spinner and the runtime both make progress.
# (not exec: the EXIT trap removes the staging directory)
rc=0
v2vm_run -d "$stage" -s 2 -m 1024 -t 840 \
  -e CRUNNER="$stage/bin/$name" -e CRUNNER_SOURCE_DIR="$stage/src" -- \
  /usr/bin/bash -c "$inner" test_cgroups "$@" || rc=$?
exit $rc
