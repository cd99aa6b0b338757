#!/bin/bash
# The seccomp filter cache's gain: compile with libseccomp vs load from the cache.
# Usage: bench/seccomp_cache.sh [iterations] [config.json|profile.json]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
[ -x "$BUILD_DIR/tests/seccomp-cache-bench" ] || nice -n 10 bash scripts/build.sh >/dev/null
exec "$BUILD_DIR/tests/seccomp-cache-bench" "$@"
