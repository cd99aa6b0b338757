#!/bin/bash
# The whole test suite: installs dependencies, builds, and runs every suite through ctest
# (unit, integration on real containers, spec-conformance, cgroup v2 in a guest, garden-shim).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-deps.sh
BUILD_DIR=${BUILD_DIR:-build} bash scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure -j1 "$@"
