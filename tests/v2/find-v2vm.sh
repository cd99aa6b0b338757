# Sourced by the v2 guest runners: sets V2VM to shared/tools/v2vm/run-in-v2vm.sh ($V2VM_TOOL,
# then ../shared beside the source tree, then /work/shared), or exits 77 (ctest: skipped).
# Needs $src (the source tree).
V2VM=
for cand in "${V2VM_TOOL:-}" "$src/../shared/tools/v2vm/run-in-v2vm.sh" \
            /work/shared/tools/v2vm/run-in-v2vm.sh; do
  if [ -n "$cand" ] && [ -f "$cand" ]; then
    V2VM=$cand
    break
  fi
done
if [ -z "$V2VM" ]; then
  echo "SKIP: v2vm tool (shared/tools/v2vm/run-in-v2vm.sh) not found" >&2
  exit 77
fi

# v2vm_run V2VM_OPTS... -- CMD ARGS...: runs CMD in a guest (with -v: on failure the tool
# shows the guest's console), its output line-buffered (stdbuf), and returns its exit status.
# A guest that has not reached CMD within V2VM_BOOT_LIMIT s (default 240; a boot takes ~3 s
# idle; one CI run in ~30 timed out at 600 s with no output at all) is stopped (TERM to the
# tool we started: it removes its VM) and booted once more, saying so. A CMD that started
# and then failed or hung is never retried.
v2vm_run() {
  local opts=() log rc attempt pid tailpid waited
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    opts+=("$1")
    shift
  done
  shift
  log=$(mktemp)
  for attempt in 1 2; do
    : >"$log"
    bash "$V2VM" -v "${opts[@]}" -- /usr/bin/bash -c \
      'echo "== v2vm guest up: running $1"; exec stdbuf -oL -eL "$@"' v2vm "$@" >"$log" 2>&1 &
    pid=$!
    tail -n +1 -f --pid="$pid" "$log" &
    tailpid=$!
    waited=0
    while kill -0 "$pid" 2>/dev/null; do
      if [ "$waited" -ge "${V2VM_BOOT_LIMIT:-240}" ] && ! grep -q '^== v2vm guest up' "$log"; then
        echo "== v2vm: no guest after ${waited} s; stopping it (pid $pid)"
        kill -TERM "$pid"
        break
      fi
      sleep 1
      waited=$((waited + 1))
    done
    rc=0
    wait "$pid" || rc=$?
    wait "$tailpid" || true
    if [ "$rc" -eq 0 ] || grep -q '^== v2vm guest up' "$log"; then
      break
    fi
    [ "$attempt" = 2 ] || echo "== v2vm: the guest never started the command (exit $rc); booting another"
  done
  rm -f "$log"
  return "$rc"
}
