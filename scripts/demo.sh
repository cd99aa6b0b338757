#!/bin/bash
# The main job: installs dependencies, builds crunner, builds a busybox bundle and runs a
# real container in new pid/mount/uts/ipc/net namespaces that prints what it sees.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-deps.sh
# Only what it runs: crunner (libcrunner and its main), not the other executables, the unit
# tests or the man pages.
bash scripts/build.sh crunner
B=$(mktemp -d /tmp/crunner-demo.XXXXXX)
trap 'rm -rf "$B"' EXIT
bash tests/fixtures/make-bundle.sh "$B/bundle" sh -c \
  'echo "hello from $(hostname): pid $$ in its own pid namespace"; echo "network:"; ip -o link | cut -d: -f2; echo "mounts:"; cut -d" " -f2,3 /proc/mounts | head -5'
cd "$B/bundle"
exec "$OLDPWD/build/cmd/crunner/crunner" --root "$B/state" run "demo-$$"
