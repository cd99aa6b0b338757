#!/bin/bash
# Runs tests/integration/test_systemd.py (the systemd cgroup driver, --systemd-cgroup) against
# a built crunner inside the throw-away v2vm guest, where tests/v2/systemd-in-guest.sh boots a
# real systemd as PID 1 of new namespaces and runs the file in a scope of it.
#
# usage: run-systemd-v2.sh CRUNNER_BINARY [CASE...]
# Staged like run-integration-v2.sh (one temporary directory shared into the guest).
# Exit 77 (ctest: skipped) when the v2vm tool is not there.
set -euo pipefail
BIN=$(readlink -f "${1:?usage: $0 CRUNNER_BINARY [CASE...]}")
shift

here=$(cd "$(dirname "$0")" && pwd)
src=${CRUNNER_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
. "$here/find-v2vm.sh"
. "$here/stage.sh"
stage_test sd test_systemd.py
mkdir -p "$stage/src/tests/v2"
cp "$src/tests/v2/systemd-in-guest.sh" "$stage/src/tests/v2/"

# Inside: make-bundle.sh wants /bin/busybox (the guest's / is a fresh tmpfs; /usr is the
# host's), then the test file; its exit status is ours.
inner='[ -e /bin/busybox ] || { mkdir -p /bin && ln -s /usr/bin/busybox /bin/busybox; }
exec bash "$CRUNNER_SOURCE_DIR/tests/v2/systemd-in-guest.sh" \
  python3 "$CRUNNER_SOURCE_DIR/tests/integration/test_systemd.py" "$@"'
echo "== cgroup v2 guest: test_systemd.py against $BIN ${*:-}"
# One guest for the whole file; 2 CPUs so that a spinner and the runtime both make progress.
# (not exec: the EXIT trap removes the staging directory)
rc=0
v2vm_run -d "$stage" -s 2 -m 1024 -t 840 \
  -e CRUNNER="$stage/bin/$name" -e CRUNNER_SOURCE_DIR="$stage/src" \
  -e SYSTEMD_LOG_LEVEL="${SYSTEMD_LOG_LEVEL:-notice}" -e SYSTEMD_LOG_COPY="$stage/systemd.log" -- \
  /usr/bin/bash -c "$inner" test_systemd "$@" || rc=$?
# SYSTEMD_LOG_KEEP=FILE keeps systemd's whole log (with SYSTEMD_LOG_LEVEL=debug: every D-Bus
# message it handled).
[ -z "${SYSTEMD_LOG_KEEP:-}" ] || cp "$stage/systemd.log" "$SYSTEMD_LOG_KEEP" || true
exit $rc
