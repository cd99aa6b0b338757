#!/usr/bin/env python3
"""OCI runtime-spec conformance suite, runnable against any runtime.

    RUNTIME=/usr/sbin/runc python3 spec-conformance/run.py [-k PATTERN] [--list]
    python3 spec-conformance/run.py --runtime build/cmd/crunner/crunner

One line per check (PASS / FAIL / SKIP / XFAIL), then `N skipped`, `N expected failures`
and finally `N passed, N failed`. Exit status 1 when any check failed.
"""

import argparse
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tempfile
import traceback

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Ctx, Fail, Skip  # noqa: E402
from registry import CHECKS  # noqa: E402
import checks_runtime  # noqa: E402,F401
import checks_hooks  # noqa: E402,F401
import checks_config  # noqa: E402,F401
import checks_linux  # noqa: E402,F401
import checks_cgroups  # noqa: E402,F401
import checks_devcgroup  # noqa: E402,F401
import checks_seccomp  # noqa: E402,F401
import checks_process  # noqa: E402,F401


def runtime_kind(runtime):
    """"runc", "crun", "crunner", ... from the first word of `RUNTIME --version`."""
    try:
        p = subprocess.run([runtime, "--version"], capture_output=True, text=True, timeout=30)
        m = re.match(r"[A-Za-z0-9_.-]+", p.stdout.strip())
        if m:
            return m.group(0).lower()
    except (OSError, subprocess.TimeoutExpired):
        pass
    return os.path.basename(runtime)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runtime", default=os.environ.get("RUNTIME"),
                    help="runtime binary (default: $RUNTIME)")
    ap.add_argument("--root", default=None,
                    help="state root passed as `--root` (default: a fresh temp dir per run)")
    ap.add_argument("-k", action="append", default=[], metavar="PATTERN",
                    help="run only checks whose name matches this glob (repeatable)")
    ap.add_argument("--list", action="store_true", help="list the checks and exit")
    ap.add_argument("-v", "--verbose", action="store_true", help="show tracebacks")
    args = ap.parse_args()

    selected = [c for c in CHECKS
                if not args.k or c.name == "preflight.basic"
                or any(fnmatch.fnmatch(c.name, p) or p in c.name for p in args.k)]
    if args.list:
        for c in selected:
            print(f"{c.name}\t{c.spec}")
        return 0
    if not args.runtime:
        ap.error("no runtime: set RUNTIME or pass --runtime")
    runtime = shutil.which(args.runtime) or args.runtime
    runtime = os.path.abspath(runtime)
    if not os.access(runtime, os.X_OK):
        ap.error(f"runtime {runtime} is not executable")
    if os.geteuid() != 0:
        ap.error("the conformance suite needs root")

    kind = runtime_kind(runtime)
    own_root = args.root is None
    root = args.root or tempfile.mkdtemp(prefix="conformance-root-")
    os.makedirs(root, exist_ok=True)
    print(f"# runtime {runtime} ({kind}), state root {root}, {len(selected)} checks", flush=True)

    passed = failed = skipped = xfailed = 0
    preflight_error = None
    try:
        for c in selected:
            if c.negative and preflight_error:
                print(f"FAIL {c.name}: not meaningful, preflight.basic failed: {preflight_error}",
                      flush=True)
                failed += 1
                continue
            try:
                with Ctx(runtime, root, c.name, kind) as ctx:
                    c.fn(ctx)
                print(f"PASS {c.name}", flush=True)
                for note in ctx.notes:
                    print(f"  note: {note}", flush=True)
                passed += 1
            except Skip as e:
                print(f"SKIP {c.name}: {e}", flush=True)
                skipped += 1
            except Exception as e:  # a check's own crash is a failure too
                reason = str(e) if isinstance(e, Fail) else f"{type(e).__name__}: {e}"
                reason = reason.replace("\n", " | ")
                if c.name == "preflight.basic":
                    preflight_error = reason[:120]
                if args.verbose and not isinstance(e, Fail):
                    traceback.print_exc()
                if kind in c.xfail:
                    print(f"XFAIL {c.name}: {reason} [expected for {kind}: {c.xfail[kind]}]",
                          flush=True)
                    xfailed += 1
                else:
                    print(f"FAIL {c.name}: {reason}", flush=True)
                    failed += 1
    finally:
        if own_root:
            shutil.rmtree(root, ignore_errors=True)
    print(f"{skipped} skipped")
    print(f"{xfailed} expected failures")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
