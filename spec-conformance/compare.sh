#!/bin/bash
# compare.sh [CRUNNER [RUNC]]: runs the conformance suite against crunner and runc one after
# the other (each with its own temp state root) and prints both summaries side by side.
# Full per-check output is kept in $OUT (default: a temp dir) as crunner.txt and runc.txt.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(dirname "$HERE")
CRUNNER=${1:-${CRUNNER:-$SRC/build/cmd/crunner/crunner}}
RUNC=${2:-$(command -v runc || echo /usr/sbin/runc)}
OUT=${OUT:-$(mktemp -d /tmp/conformance-compare.XXXXXX)}
mkdir -p "$OUT"
status=0
for pair in "crunner:$CRUNNER" "runc:$RUNC"; do
  name=${pair%%:*}; bin=${pair#*:}
  if [ ! -x "$bin" ]; then
    echo "$name: $bin not found, skipped" > "$OUT/$name.txt"
    continue
  fi
  python3 "$HERE/run.py" --runtime "$bin" > "$OUT/$name.txt" 2>&1 || status=1
done
python3 - "$OUT/crunner.txt" "$OUT/runc.txt" "crunner ($CRUNNER)" "runc ($RUNC)" <<'PY'
import sys
texts = [open(p).read() for p in sys.argv[1:3]]
heads = sys.argv[3:5]
tails = [t.strip().splitlines()[-3:] for t in texts]
width = max(40, max(len(h) for h in heads) + 2)
print(f"{heads[0]:{width}}| {heads[1]}")
for i in range(3):
    left = tails[0][i] if i < len(tails[0]) else ""
    right = tails[1][i] if i < len(tails[1]) else ""
    print(f"{left:{width}}| {right}")
print()
def results(text):
    r = {}
    for line in text.splitlines():
        w = line.split(" ", 1)
        if w[0] in ("PASS", "FAIL", "SKIP", "XFAIL") and len(w) == 2:
            r[w[1].split(":")[0].split(" (")[0].strip()] = w[0]
    return r
if all("# runtime" in t for t in texts):
    a, b = results(texts[0]), results(texts[1])
    diff = [(n, a.get(n, "-"), b.get(n, "-")) for n in sorted(set(a) | set(b))
            if a.get(n) != b.get(n)]
    print("checks whose result differs (crunner | runc):")
    for n, x, y in diff:
        print(f"  {n:45} {x:6} | {y}")
    if not diff:
        print("  (none)")
PY
echo "full output: $OUT/crunner.txt $OUT/runc.txt"
exit $status
