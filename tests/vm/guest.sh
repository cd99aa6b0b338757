# Sourced by scripts that run a test group in the guest:
#
#   . tests/vm/guest.sh [BUILD_DIR]
#   guest_run [run-in-guest.sh OPTIONS] [--] COMMAND [ARGS...]
#
# guest_run is run-in-guest.sh with this source tree ($GUEST_SRC) and the build directory
# ($GUEST_BUILD: BUILD_DIR, else $CRUNNER_BUILD_DIR, else $GUEST_SRC/build) shared read-only
# at their paths, and CRUNNER_SOURCE_DIR, CRUNNER_BUILD_DIR and CRUNNER (the crunner built
# there) in the command's environment; its status is the command's (124: timeout, 125: the
# guest failed). tests/guest.cmake does the same for ctest (add_guest_test).
GUEST_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
GUEST_BUILD=$(cd "${1:-${CRUNNER_BUILD_DIR:-$GUEST_SRC/build}}" && pwd)
guest_run() {
  bash "$GUEST_SRC/tests/vm/run-in-guest.sh" --share "$GUEST_SRC" --share "$GUEST_BUILD" \
    -e CRUNNER_SOURCE_DIR="$GUEST_SRC" -e CRUNNER_BUILD_DIR="$GUEST_BUILD" \
    -e CRUNNER="$GUEST_BUILD/cmd/crunner/crunner" "$@"
}
