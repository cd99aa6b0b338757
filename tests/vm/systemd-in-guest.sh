#!/bin/bash
# Runs inside the guest (run-in-guest.sh --feature systemd): boots a real systemd (the host's /lib/systemd/systemd, shared in
# through /usr) as PID 1 of new pid + mount + cgroup namespaces, with its own cgroup2 mount
# rooted at a delegated subtree of the guest (/sys/fs/cgroup/crunner-systemd), then runs
# COMMAND inside those namespaces as a transient scope of that systemd (systemd-run --scope),
# the way kubelet or containerd run under systemd. The command reaches systemd's D-Bus at
# /run/systemd/private (its direct socket; no dbus-daemon).
#
# usage: systemd-in-guest.sh COMMAND [ARGS...]     (exit status: COMMAND's)
#
# systemd runs with a unit path holding one empty target (no generators, nothing else is
# started), so it only manages cgroups: ~5-10 s to be ready in the emulated guest.
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }
SD=/lib/systemd/systemd
[ -x "$SD" ] || { echo "systemd-in-guest: $SD not found" >&2; exit 1; }

work=$(mktemp -d /tmp/crunner-systemd-XXXXXX)
mkdir -p "$work/units" "$work/empty"
cat > "$work/units/crunner-test.target" <<'EOF'
[Unit]
Description=crunner tests: nothing but the manager
EOF
: > "$work/systemd.log"

# The delegated subtree. Only the new namespaces' PID 1 moves into it (writing 0 to
# cgroup.procs moves the writer), before it unshares its cgroup namespace: that cgroup is
# then the namespace's root, and no process outside systemd's reach sits in it (the
# no-internal-processes rule would keep systemd from enabling any controller below it).
cg=/sys/fs/cgroup/crunner-systemd
mkdir -p "$cg"

# PID 1 of the new namespaces: a private cgroup2 mount (rooted at our cgroup, by the cgroup
# namespace), /proc, an empty /run, no generators, the console to a log file; then systemd.
unshare --pid --mount --fork --propagation private bash -c '
  set -e
  echo 0 > '"$cg"'/cgroup.procs
  exec unshare --cgroup bash -c "$1" "$0"
' "$work" '
  set -e
  umount /sys/fs/cgroup
  mount -t cgroup2 cgroup2 /sys/fs/cgroup
  mount -t proc proc /proc
  mount -t tmpfs -o mode=755 tmpfs /run
  for d in /usr/lib/systemd/system-generators /usr/lib/systemd/system-environment-generators; do
    [ -d "$d" ] && mount --bind "$0/empty" "$d"
  done
  mount --bind "$0/systemd.log" /dev/console
  export container=crunner-test SYSTEMD_UNIT_PATH="$0/units"
  exec '"$SD"' --system --unit=crunner-test.target --log-target="${SYSTEMD_LOG_TARGET:-console}" --log-level="${SYSTEMD_LOG_LEVEL:-notice}" --log-time=yes \
    </dev/null >>"$0/systemd.log" 2>&1
' &
outer=$!

# systemd's pid (as seen here) and its socket; systemd creates /run/systemd/private once its
# manager is up.
sdpid=
for _ in $(seq 1200); do
  [ -n "$sdpid" ] || sdpid=$(pgrep -P "$outer" 2>/dev/null | head -1 || true)
  if [ -n "$sdpid" ] && [ -S "/proc/$sdpid/root/run/systemd/private" ] &&
     [ -d "/proc/$sdpid/root/run/systemd/system" ]; then
    break
  fi
  kill -0 "$outer" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$sdpid" ] || [ ! -S "/proc/$sdpid/root/run/systemd/private" ]; then
  echo "systemd-in-guest: systemd did not come up; its log:" >&2
  cat "$work/systemd.log" >&2
  exit 1
fi
echo "# systemd $($SD --version | head -1 | cut -d' ' -f2) is pid 1 of its namespaces (pid $sdpid here), up after ${SECONDS}s"

# The command starts in a cgroup inside systemd's tree (the guest mounts cgroup2 with
# nsdelegate: systemd may not pull a process in from outside its cgroup namespace), then
# systemd-run makes it a scope.
stage="$cg/crunner-stage"
mkdir -p "$stage"
rc=0
bash -c 'echo 0 > "$0/cgroup.procs" && exec "$@"' "$stage" \
  nsenter -t "$sdpid" -m -p -C -- systemd-run --quiet --scope --unit=crunner-tests.scope \
  -p Delegate=no -- "$@" || rc=$?
rmdir "$stage" 2>/dev/null || true
[ -z "${SYSTEMD_LOG_COPY:-}" ] || cp "$work/systemd.log" "$SYSTEMD_LOG_COPY" || true
if [ $rc -ne 0 ]; then
  echo "# systemd log (last ${SYSTEMD_LOG_LINES:-40} lines):" >&2
  tail -n "${SYSTEMD_LOG_LINES:-40}" "$work/systemd.log" >&2
fi
exit $rc
