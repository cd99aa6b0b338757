#!/bin/bash
# Sourced by scripts/fuzz.sh and scripts/sanitize.sh: configures the one clang tree both jobs
# build in, ${FUZZ_BUILD_DIR:-build-fuzz} (-DCRUNNER_FUZZ=ON: every C++ file compiled with
# -fsanitize=fuzzer-no-link,address,undefined, see CMakeLists.txt), and sets BUILD to it.
# One set of flags in one place: the two jobs share the objects (ninja's, ccache's), and
# configuring the directory with other flags would rebuild all of it.
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
LAUNCHER=()
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=1
  LAUNCHER=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
CC=clang CXX=clang++ cmake -S . -B "$BUILD" -G Ninja -DCRUNNER_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo "${LAUNCHER[@]}" >/dev/null
