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
