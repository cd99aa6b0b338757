#!/usr/bin/env python3
"""Writes cmd/crunner/hot-functions.txt: the functions crunner executes in the commands that
run per container (run, create, start, state, exec, kill, delete, ps, list), for the linker's
--symbol-ordering-file (lld), which places them together at the start of the text.

    sudo python3 bench/hot_functions/hot_functions.py [BINARY]   # default build/cmd/crunner/crunner

Why: crunner is a static-pie binary, and a page fault on its text maps the pages around it
(fault-around, 64 KiB), so code spread over the whole 3 MB text made nearly all of it
resident at every start (peak RSS). With the executed functions packed together, only those
blocks are touched (see docs/DESIGN.md §15 for the numbers).

How: bench/hot_functions/functrace.c runs each command under ptrace with an int3 at every
function entry (from nm), following the children (the container's init until it execs the
container's program) and the re-exec; each command runs once from a read-only bind mount
(no re-exec) and once from the build directory (with it). Stale or missing names in the file
are harmless (the link ignores them); regenerate it when start-up code changes much.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(SRC, "cmd", "crunner", "hot-functions.txt")
MARK = "CRUNNER_HOT_FUNCTIONS_NS"


def run(*a, **kw):
    return subprocess.run(list(a), check=kw.pop("check", True), **kw)


def symbols(binary, path):
    """One line per function address: "hexoffset name[,alias...]"."""
    nm = run("nm", "--defined-only", binary, capture_output=True, text=True).stdout
    by_addr = {}
    for line in nm.splitlines():
        f = line.split()
        if len(f) == 3 and f[1] in "tTwW":
            by_addr.setdefault(int(f[0], 16), []).append(f[2])
    with open(path, "w") as out:
        for a in sorted(by_addr):
            out.write("%x %s\n" % (a, ",".join(sorted(set(by_addr[a])))))


def main():
    if os.geteuid() != 0:
        sys.exit("hot_functions: needs root (it runs containers)")
    if not os.environ.get(MARK):  # a private mount namespace for the read-only bind
        os.execvpe("unshare", ["unshare", "-m", "--propagation", "private", sys.executable]
                   + sys.argv, dict(os.environ, **{MARK: "1"}))
    binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                             os.path.join(SRC, "build", "cmd", "crunner", "crunner"))
    tmp = tempfile.mkdtemp(prefix="crunner-hotfn-")
    try:
        tracer = os.path.join(tmp, "functrace")
        run("cc", "-O2", "-o", tracer, os.path.join(HERE, "functrace.c"))
        syms, hits = os.path.join(tmp, "syms"), os.path.join(tmp, "hits")
        symbols(binary, syms)
        ro = os.path.join(tmp, "ro")
        os.makedirs(ro)
        shutil.copy(binary, os.path.join(ro, "crunner"))
        run("mount", "--bind", ro, ro)
        run("mount", "-o", "remount,bind,ro", ro)
        mk = os.path.join(SRC, "tests", "fixtures", "make-bundle.sh")
        b_true, b_sleep = os.path.join(tmp, "b-true"), os.path.join(tmp, "b-sleep")
        run("bash", mk, b_true, "/bin/true", stdout=subprocess.DEVNULL)
        run("bash", mk, b_sleep, "sleep", "60", stdout=subprocess.DEVNULL)
        proc = os.path.join(tmp, "process.json")
        with open(proc, "w") as f:
            f.write('{"args":["/bin/true"],"cwd":"/","user":{"uid":0,"gid":0}}')
        root, log = os.path.join(tmp, "root"), os.path.join(tmp, "log.json")
        for n, exe in enumerate((os.path.join(ro, "crunner"), binary)):
            def t(*args, background=False):
                argv = [tracer, syms, hits, exe, "--root", root] + list(args)
                if background:
                    return subprocess.Popen(argv, stdout=subprocess.DEVNULL)
                return run(*argv, stdout=subprocess.DEVNULL, check=False)

            a, b, c = f"hot-a{n}", f"hot-b{n}", f"hot-c{n}"
            t("run", "--bundle", b_true, a)
            # create's init stays traced until start makes it exec the container's program
            tracer_create = t("create", "--bundle", b_sleep, b, background=True)
            for _ in range(600):
                if os.path.exists(os.path.join(root, b, "state.json")) and \
                        run(exe, "--root", root, "state", b, capture_output=True,
                            check=False).stdout.find(b'"created"') >= 0:
                    break
                time.sleep(0.05)
            t("state", b)
            t("start", b)
            tracer_create.wait()
            t("exec", b, "/bin/true")
            t("--log", log, "--log-format", "json", "exec", "--detach", "--pid-file",
              os.path.join(tmp, "pid"), "--process", proc, b)
            t("ps", "--format", "json", b)
            t("list")
            t("kill", b, "KILL")
            time.sleep(0.3)
            t("delete", b)
            t("--log", log, "--log-format", "json", "run", "-d", "--pid-file",
              os.path.join(tmp, "pid"), "--bundle", b_sleep, c)
            t("delete", "--force", c)
        names = []
        with open(hits) as f:
            for line in f:
                for name in line.strip().split(","):
                    if name and name not in names:
                        names.append(name)
        with open(OUT, "w") as f:
            f.write("".join(n + "\n" for n in names))
        print(f"hot_functions: {len(names)} names -> {OUT}")
    finally:
        subprocess.run(["umount", "-l", os.path.join(tmp, "ro")], stderr=subprocess.DEVNULL)
        for cid in ("hot-a0", "hot-b0", "hot-c0", "hot-a1", "hot-b1", "hot-c1"):
            subprocess.run([binary, "--root", os.path.join(tmp, "root"), "delete", "--force",
                            cid], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
