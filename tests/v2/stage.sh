# Sourced by the v2 guest runners after find-v2vm.sh: stage_test TAG TEST_FILE stages, in one
# temporary host directory shared (read-write 9p) into the guest, the runtime binary $BIN
# (under its own name: the harness checks crunner's wording only for "crunner"), harness.py,
# tests/integration/TEST_FILE and make-bundle.sh, so the build and source directories may be
# anywhere. Sets $stage (removed on exit) and $name.
stage_test() {
  local tag=$1 test=$2
  [ -x "$BIN" ] || { echo "run-$tag-v2: $BIN is not executable" >&2; exit 1; }
  stage=$(mktemp -d "/tmp/crunner-test-v2$tag-XXXXXX")
  trap 'rm -rf "$stage"' EXIT
  mkdir -p "$stage/src/tests/integration" "$stage/src/tests/fixtures" "$stage/bin"
  name=$(basename "$BIN")
  cp "$BIN" "$stage/bin/$name"
  cp "$src/tests/integration/harness.py" "$src/tests/integration/$test" \
     "$stage/src/tests/integration/"
  cp "$src/tests/fixtures/make-bundle.sh" "$stage/src/tests/fixtures/"
}
