#!/bin/bash
# Configures and builds crunner into ${BUILD_DIR:-build}: every target, or only the named ones
# (and what they need).
#   scripts/build.sh [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
# ccache (when installed) makes rebuilds in other checkouts of the tree cheap.
LAUNCHER=()
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=1
  LAUNCHER=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} "${LAUNCHER[@]}" >/dev/null
TARGETS=()
[ $# -eq 0 ] || TARGETS=(--target "$@")
cmake --build "$BUILD_DIR" -j"$(nproc)" "${TARGETS[@]}"
