#!/bin/bash
# Lists the ten longest functions of libcontainer/ and garden/api/ (or of the files and
# folders given) and fails when one is longer than 120 lines (FUNCTION_LINE_LIMIT): the
# container's lifecycle and the Garden handlers read as named steps (docs/DESIGN.md §2).
# A lambda counts as a function of its own (and inside the one that holds it).
#
# Where a function starts and ends comes from universal-ctags (Debian's universal-ctags,
# --fields=+ne: line and end), a real C/C++ parser, not a brace counter.
#
#   scripts/function-lengths.sh [PATH...]   exit 0: all within the limit; 1: some longer
#   scripts/function-lengths.sh --self-test the check itself: a function of limit+1 lines
#                                           fails it, one of exactly the limit passes
set -euo pipefail
LIMIT=${FUNCTION_LINE_LIMIT:-120}
cd "$(dirname "$0")/.."

if ! ctags --version 2>/dev/null | grep -q 'Universal Ctags'; then
  echo "function-lengths: needs universal-ctags (bash scripts/setup-deps.sh)" >&2
  exit 2
fi

# One line per function: LENGTH<TAB>FILE:LINE<TAB>NAME, longest first.
lengths() {
  ctags -R -f - -x --languages=C,C++ --kinds-C=f --kinds-C++=f --fields=+neZ \
    --_xformat='%F	%N	%{scope}	%n	%e' "$@" |
    awk -F'\t' '$5 != "" {
      scope = $3
      gsub(/(::)?__anon[0-9a-f]+/, "", scope)  # anonymous namespaces, enclosing lambdas
      sub(/^::/, "", scope)
      if ($2 ~ /^__anon/) name = "lambda in " scope
      else name = (scope == "" ? "" : scope "::") $2
      print ($5 - $4 + 1) "\t" $1 ":" $4 "\t" name
    }' | sort -t$'\t' -k1,1nr -k2,2
}

check() {
  local all
  all=$(lengths "$@")
  [ -n "$all" ] || { echo "function-lengths: no functions found in $*" >&2; exit 2; }
  echo "The ten longest functions in $* (limit $LIMIT lines):"
  head -n 10 <<<"$all" | awk -F'\t' '{printf "  %4d  %s  %s\n", $1, $3, $2}'
  local over
  over=$(awk -F'\t' -v l="$LIMIT" '$1 > l' <<<"$all")
  if [ -n "$over" ]; then
    echo "FAIL: longer than $LIMIT lines (split them into named steps):"
    awk -F'\t' '{printf "  %4d  %s  %s\n", $1, $3, $2}' <<<"$over"
    return 1
  fi
  echo "OK: none longer than $LIMIT lines"
}

# A function of `body + 2` lines (signature and closing brace included) in file $1.
write_function() {
  { echo "int f$2(int a) {"
    for ((i = 0; i < $2 - 2; i++)); do echo "  a += $i;"; done
    echo "  return a;"
    echo "}"; } >"$1"
}

self_test() {
  d=$(mktemp -d)
  trap 'rm -rf "$d"' EXIT
  mkdir "$d/long" "$d/fits"
  write_function "$d/long/long.cpp" $((LIMIT))  # LIMIT + 1 lines
  write_function "$d/fits/fits.cpp" $((LIMIT - 1))  # LIMIT lines
  local out
  if out=$(check "$d/long"); then
    echo "self-test FAIL: a function of $((LIMIT + 1)) lines passed:"; echo "$out"; exit 1
  fi
  grep -q "^  *$((LIMIT + 1))  f$LIMIT  " <<<"$out" ||
    { echo "self-test FAIL: the long function is not named:"; echo "$out"; exit 1; }
  out=$(check "$d/fits") ||
    { echo "self-test FAIL: a function of exactly $LIMIT lines failed:"; echo "$out"; exit 1; }
  echo "self-test OK: $((LIMIT + 1)) lines fail the check, $LIMIT pass"
}

if [ "${1:-}" = --self-test ]; then
  self_test
elif [ $# -gt 0 ]; then
  check "$@"
else
  check libcontainer garden/api
fi
