#!/bin/bash
# Runs tests/integration/test_checkpoint.py against a built crunner inside the throw-away
# v2vm guest, where Debian's criu works once the modules of tests/v2/criu-modules.sh are
# loaded (on this host's kernel criu fails in vdso detection): checkpoint, restore,
# --leave-running, --pre-dump + --parent-path, and a failed restore, end to end.
#
# usage: run-criu-v2.sh CRUNNER_BINARY [CASE...]
# The binary, the test, the harness, make-bundle.sh and the modules are staged in one
# temporary host directory shared (read-write 9p) into the guest. Exit 77 (ctest: skipped)
# when the v2vm tool is not there, or criu is not installed.
set -euo pipefail
BIN=$(readlink -f "${1:?usage: $0 CRUNNER_BINARY [CASE...]}")
shift

here=$(cd "$(dirname "$0")" && pwd)
src=${CRUNNER_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
. "$here/find-v2vm.sh"
command -v criu >/dev/null || { echo "SKIP: criu is not installed (scripts/setup-deps.sh)" >&2; exit 77; }

. "$here/stage.sh"
stage_test criu test_checkpoint.py
V2VM=$V2VM bash "$here/criu-modules.sh" "$stage"

# Inside: the modules (and iptables' alternatives), `criu check` must pass (else the test
# would only run its host cases), then the test file; its exit status is ours.
inner='[ -e /bin/busybox ] || { mkdir -p /bin && ln -s /usr/bin/busybox /bin/busybox; }
"$STAGE/load-criu-modules.sh" || exit 1
criu check || { echo "run-criu-v2: criu check fails in the guest" >&2; exit 1; }
exec python3 -u "$CRUNNER_SOURCE_DIR/tests/integration/test_checkpoint.py" "$@"'
echo "== v2 guest: test_checkpoint.py (criu) against $BIN ${*:-}"
rc=0
v2vm_run -d "$stage" -s 2 -m 1024 -t 1140 \
  -e CRUNNER="$stage/bin/$name" -e CRUNNER_SOURCE_DIR="$stage/src" -e STAGE="$stage" -e CRUNNER_CRIU_CHECKED=1 -- \
  /usr/bin/bash -c "$inner" test_checkpoint "$@" || rc=$?
exit $rc
