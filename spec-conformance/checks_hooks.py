"""config.md hooks + runtime.md lifecycle: when each hook runs, where, with which state."""

import json
import os
import time

from harness import POLL_TIMEOUT, Fail, expect, expect_eq, host_ns
from registry import check
from checks_runtime import alive

CREATE_PHASE = ("prestart", "createRuntime", "createContainer")
RUNTIME_NS = ("prestart", "createRuntime", "poststart", "poststop")
POSTSTART_XFAIL = {"runc": "runc 1.1 runs poststart hooks at the end of `create`, before "
                           "the program runs (fixed in runc 1.2)"}


def recorder(ctx, name, d, in_container=False):
    """A hook that saves its stdin (the state) as NAME.json, its mount namespace as NAME.mnt
    and appends NAME to seq. Host hooks live in the temp dir (not in the rootfs); container
    hooks (startContainer) are resolved in the container and write to /out."""
    if in_container:
        # only in the rootfs: the path must resolve in the container's mount namespace
        ctx.script(os.path.join(d, "..", "bundle", "rootfs", f"conf-hook-{name}.sh"),
                   f"cat > /out/{name}.json\nreadlink /proc/self/ns/mnt > /out/{name}.mnt\n"
                   f"echo {name} >> /out/seq")
        return f"/conf-hook-{name}.sh", [f"/conf-hook-{name}.sh"]
    path = ctx.script(os.path.join(ctx.tmp, f"hook-{name}.sh"),
                      f'cat > {d}/{name}.json\nreadlink /proc/self/ns/mnt > {d}/{name}.mnt\n'
                      f'echo {name} >> {d}/seq')
    return path, [path]


def all_hooks_bundle(ctx, script="sleep 100000", phases=None):
    b = ctx.bundle()
    out = ctx.outdir(b)
    b.sh(script)
    for ph in phases or (CREATE_PHASE + ("startContainer", "poststart", "poststop")):
        path, args = recorder(ctx, ph, out, in_container=(ph == "startContainer"))
        b.add_hook(ph, path, args)
    return b, out


def hook_state(ctx, out, name):
    p = os.path.join(out, f"{name}.json")
    expect(os.path.exists(p), f"the {name} hook did not run")
    try:
        return json.loads(ctx.read(p))
    except ValueError:
        raise Fail(f"the {name} hook got invalid JSON on stdin: {ctx.read(p)[:200]!r}")


def seq(ctx, out):
    p = os.path.join(out, "seq")
    return ctx.read(p).split() if os.path.exists(p) else []


def check_hook_state(ctx, st, name, cid, bundle, statuses):
    expect_eq(st.get("id"), cid, f"{name} state id")
    expect(isinstance(st.get("ociVersion"), str), f"{name} state has no ociVersion")
    expect_eq(os.path.realpath(st.get("bundle", "")), os.path.realpath(bundle.path),
              f"{name} state bundle")
    expect(st.get("status") in statuses,
           f"{name} state status {st.get('status')!r}, expected one of {statuses}")


def check_create_hook(ctx, phase):
    b, out = all_hooks_bundle(ctx, phases=(phase,))
    cid, _r = ctx.create(b)
    st = hook_state(ctx, out, phase)
    check_hook_state(ctx, st, phase, cid, b, ("creating", "created"))
    pid = ctx.must_state(cid)["pid"]
    mnt = ctx.read(os.path.join(out, f"{phase}.mnt")).strip()
    if phase == "createContainer":
        expect_eq(mnt, os.readlink(f"/proc/{pid}/ns/mnt"),
                  "createContainer hook mount namespace (must be the container's)")
        # pid is REQUIRED when the status is created or running (optional while creating)
        if st.get("status") == "created" or st.get("pid") is not None:
            expect(isinstance(st.get("pid"), int) and st["pid"] > 0,
                   f"createContainer state pid {st.get('pid')!r} with status {st.get('status')}")
    else:
        # the runtime's namespace: not the container's (the runtime itself may run in a
        # private mount namespace of its own, e.g. crun through its wrapper)
        expect(mnt != os.readlink(f"/proc/{pid}/ns/mnt"),
               f"{phase} hook ran in the container's mount namespace {mnt}")
        expect_eq(st.get("pid"), pid, f"{phase} state pid")
        # on Linux they run after the container namespaces exist
        expect(os.readlink(f"/proc/{st['pid']}/ns/net") != host_ns("net"),
               f"{phase}: the state pid is not in the container's network namespace")
    expect_eq(seq(ctx, out), [phase], "hooks run during create")


@check("hooks.prestart", "config.md/runtime.md: prestart hooks run during create, in the "
       "runtime namespace, after the container namespaces exist, state on stdin")
def _(ctx):
    check_create_hook(ctx, "prestart")


@check("hooks.createRuntime", "config.md: createRuntime hooks run during create in the runtime "
       "namespace with the state on stdin")
def _(ctx):
    check_create_hook(ctx, "createRuntime")


@check("hooks.createContainer", "config.md: createContainer hooks run during create in the "
       "container namespace, path resolved in the runtime namespace")
def _(ctx):
    check_create_hook(ctx, "createContainer")


@check("hooks.startContainer", "config.md: startContainer hooks run at start, in the container, "
       "before the program, path resolved in the container")
def _(ctx):
    b, out = all_hooks_bundle(ctx, "[ -e /out/startContainer.json ] && echo yes > /out/saw; "
                              "sleep 100000", phases=("startContainer",))
    cid, _r = ctx.create(b)
    expect(not os.path.exists(os.path.join(out, "startContainer.json")),
           "startContainer ran during create")
    ctx.start(cid)
    expect(ctx.wait_file(os.path.join(out, "saw")),
           "the program did not see the startContainer hook's output (hook not run before it)")
    st = hook_state(ctx, out, "startContainer")
    check_hook_state(ctx, st, "startContainer", cid, b, ("created",))
    pid = ctx.must_state(cid)["pid"]
    expect_eq(ctx.read(os.path.join(out, "startContainer.mnt")).strip(),
              os.readlink(f"/proc/{pid}/ns/mnt"), "startContainer hook mount namespace")


@check("hooks.poststart", "config.md: poststart hooks run after the program started, state "
       "running", xfail=POSTSTART_XFAIL)
def _(ctx):
    b, out = all_hooks_bundle(ctx, "echo x > /out/started; sleep 100000", phases=("poststart",))
    cid, _r = ctx.create(b)
    expect(not os.path.exists(os.path.join(out, "poststart.json")), "poststart ran during create")
    ctx.start(cid)
    # "after the user-specified process is executed but before the start operation returns"
    expect(os.path.exists(os.path.join(out, "poststart.json")),
           "poststart had not run when start returned")
    expect(os.path.exists(os.path.join(out, "started")) or
           ctx.wait_file(os.path.join(out, "started")), "the program never ran")
    st = hook_state(ctx, out, "poststart")
    check_hook_state(ctx, st, "poststart", cid, b, ("running",))
    expect_eq(st.get("pid"), ctx.must_state(cid)["pid"], "poststart state pid")


@check("hooks.poststart-waits-for-program", "config.md: poststart hooks MUST be called after the "
       "user-specified process is executed (not while startContainer hooks still run)",
       xfail=POSTSTART_XFAIL)
def _(ctx):
    b = ctx.bundle()
    out = ctx.outdir(b)
    b.sh("echo x > /out/started; sleep 100000")
    ctx.script(os.path.join(b.rootfs, "conf-hold.sh"),
               "touch /out/holding\nwhile [ ! -e /out/release ]; do sleep 0.05; done")
    b.add_hook("startContainer", "/conf-hold.sh", ["/conf-hold.sh"])
    path, args = recorder(ctx, "poststart", out)
    b.add_hook("poststart", path, args)
    cid, _r = ctx.create(b)
    expect(not os.path.exists(os.path.join(out, "poststart.json")), "poststart ran during create")
    p = ctx.rt_async("start", cid)
    if not ctx.wait_file(os.path.join(out, "holding")):
        open(os.path.join(out, "release"), "w").close()
        raise Fail(f"the startContainer hook never ran ({ctx.rt_wait(p).brief()})")
    # the startContainer hook is blocked, so the program cannot have been executed yet
    early = os.path.exists(os.path.join(out, "poststart.json"))
    open(os.path.join(out, "release"), "w").close()
    r = ctx.rt_wait(p)
    expect(not early, "poststart ran while the startContainer hook was still running, before "
           "the program was executed")
    expect(r.rc == 0, f"start failed: {r.brief()}")
    expect(os.path.exists(os.path.join(out, "poststart.json")), "poststart had not run when "
           "start returned")
    expect(ctx.wait_file(os.path.join(out, "started")), "the program never ran")


@check("hooks.poststop", "config.md: poststop hooks run at delete, after the container is "
       "destroyed, with state stopped")
def _(ctx):
    b, out = all_hooks_bundle(ctx, "true", phases=("poststop",))
    cg = f"/crunner-test-conformance-ps-{os.getpid()}"
    b.linux["cgroupsPath"] = cg
    dirs = [f"/sys/fs/cgroup/pids{cg}", f"/sys/fs/cgroup/unified{cg}"]
    ctx.cgroup_dirs.extend(dirs)
    b.add_hook("poststop", "/bin/sh", ["sh", "-c", f"if [ -d {dirs[0]} ] || [ -d {dirs[1]} ]; "
                                       f"then echo cgroup-present; else echo cgroup-gone; fi "
                                       f"> {out}/at-poststop"])
    cid, _r = ctx.create(b)
    expect(any(os.path.isdir(d) for d in dirs), f"no cgroup {cg} under pids or unified")
    container_mnt = os.readlink(f"/proc/{ctx.must_state(cid)['pid']}/ns/mnt")
    ctx.start(cid)
    ctx.wait_status(cid, "stopped")
    expect(not os.path.exists(os.path.join(out, "poststop.json")), "poststop ran before delete")
    ctx.delete(cid)
    st = hook_state(ctx, out, "poststop")
    check_hook_state(ctx, st, "poststop", cid, b, ("stopped",))
    expect(ctx.read(os.path.join(out, "poststop.mnt")).strip() != container_mnt,
           "the poststop hook ran in the container's mount namespace")
    expect_eq(ctx.read(os.path.join(out, "at-poststop")).strip(), "cgroup-gone",
              "the container's cgroup when poststop runs (must be destroyed before)")


@check("hooks.lifecycle-order", "runtime.md lifecycle: prestart, createRuntime, createContainer "
       "at create; startContainer, poststart at start; poststop at delete",
       xfail=POSTSTART_XFAIL)
def _(ctx):
    b, out = all_hooks_bundle(ctx, "while [ ! -e /out/go ]; do sleep 0.05; done")
    cid, _r = ctx.create(b)
    expect_eq(seq(ctx, out), list(CREATE_PHASE), "hooks run by create")
    ctx.start(cid)
    want = list(CREATE_PHASE) + ["startContainer", "poststart"]
    deadline = time.monotonic() + POLL_TIMEOUT
    while len(seq(ctx, out)) < len(want) and time.monotonic() < deadline:
        time.sleep(0.05)
    expect_eq(seq(ctx, out), want, "hooks run by create + start")
    open(os.path.join(out, "go"), "w").close()
    ctx.wait_status(cid, "stopped")
    ctx.delete(cid)
    expect_eq(seq(ctx, out), want + ["poststop"], "hooks run by the whole lifecycle")


@check("hooks.listed-order", "config.md: hooks MUST be called in the listed order")
def _(ctx):
    b = ctx.bundle("true")
    d = os.path.join(ctx.tmp, "o")
    os.makedirs(d)
    for ph in ("prestart", "poststop"):
        for i in range(3):
            p = ctx.script(os.path.join(ctx.tmp, f"{ph}{i}.sh"), f"echo {ph}{i} >> {d}/seq")
            b.add_hook(ph, p, [p])
    cid, _r = ctx.create(b)
    ctx.start(cid)
    ctx.wait_status(cid, "stopped")
    ctx.delete(cid)
    expect_eq(seq(ctx, d), ["prestart0", "prestart1", "prestart2",
                            "poststop0", "poststop1", "poststop2"], "hook order")


@check("hooks.args-env", "config.md hooks: path, args (argv incl. argv[0]) and env are used")
def _(ctx):
    b = ctx.bundle("true")
    d = os.path.join(ctx.tmp, "o")
    os.makedirs(d)
    b.add_hook("prestart", "/bin/sh",
               ["custom-argv0", "-c",
                f'{{ /usr/bin/tr "\\0" " " < /proc/$$/cmdline; '
                f'echo "|$0|$1|$FOO|$PATH"; }} > {d}/args',
                "zero", "first"],
               env=["FOO=bar baz", "PATH=/conformance"])
    cid, _r = ctx.create(b)
    got = ctx.read(os.path.join(d, "args")).strip()
    expect(got.startswith("custom-argv0 -c ") and
           got.endswith(" zero first |zero|first|bar baz|/conformance"),
           f"hook saw cmdline|$0|$1|$FOO|$PATH = {got!r}")


def failing_create_hook(ctx, phase):
    b = ctx.bundle()
    out = ctx.outdir(b)
    b.sh("echo ran > /out/ran")
    b.add_hook(phase, "/bin/sh", ["sh", "-c", "exit 3"])
    cid, r = ctx.create(b, expect_ok=False)
    if r.rc == 0:
        ctx.rt("start", cid)
        raise Fail(f"create succeeded although a {phase} hook failed")
    st = ctx.state(cid)
    if st is not None and st.get("status") != "stopped":
        raise Fail(f"after the failed {phase} hook the container is {st.get('status')}")
    expect(not os.path.exists(os.path.join(out, "ran")), "the program ran")


@check("hooks.prestart-fails", "runtime.md: a failing prestart hook MUST error and stop the "
       "container", negative=True)
def _(ctx):
    failing_create_hook(ctx, "prestart")


@check("hooks.createRuntime-fails", "runtime.md: a failing createRuntime hook MUST error and "
       "stop the container", negative=True)
def _(ctx):
    failing_create_hook(ctx, "createRuntime")


@check("hooks.createContainer-fails", "runtime.md: a failing createContainer hook MUST error and "
       "stop the container", negative=True)
def _(ctx):
    failing_create_hook(ctx, "createContainer")


@check("hooks.startContainer-fails", "runtime.md: a failing startContainer hook MUST error, stop "
       "the container and not run the program",
       xfail={"runc": "runc 1.1 `start` only opens exec.fifo and exits 0; the init then fails "
                      "in the startContainer hook and exits"})
def _(ctx):
    b = ctx.bundle()
    out = ctx.outdir(b)
    b.sh("echo ran > /out/ran; sleep 100000")
    b.add_hook("startContainer", "/bin/sh", ["sh", "-c", "exit 3"])
    cid, _r = ctx.create(b)
    r = ctx.rt("start", cid)
    ctx.wait_status(cid, "stopped")
    expect(not os.path.exists(os.path.join(out, "ran")), "the program ran")
    expect(r.rc != 0, "start succeeded although a startContainer hook failed (the container "
           "stopped without running the program)")


@check("hooks.poststart-fails", "runtime.md: a failing poststart hook is a warning; the remaining "
       "hooks and the lifecycle continue", xfail=POSTSTART_XFAIL)
def _(ctx):
    b = ctx.bundle()
    out = ctx.outdir(b)
    b.sh("echo ran > /out/ran; sleep 100000")
    b.add_hook("poststart", "/bin/sh", ["sh", "-c", "exit 3"])
    b.add_hook("poststart", "/bin/sh", ["sh", "-c", f"echo second > {out}/second"])
    cid, r = ctx.create(b, expect_ok=False)
    expect(r.rc == 0, f"create failed: {r.brief()}")
    r = ctx.start(cid, expect_ok=False)
    expect(r.rc == 0, f"start failed because of a poststart hook: {r.brief()}")
    expect(ctx.wait_file(os.path.join(out, "ran")), "the program did not run")
    expect(ctx.wait_file(os.path.join(out, "second")), "the next poststart hook did not run")
    ctx.wait_status(cid, "running")


@check("hooks.poststop-fails", "runtime.md: a failing poststop hook is a warning; the remaining "
       "hooks run and the container is deleted",
       xfail={"runc": "runc 1.1 stops at the first failing poststop hook (it only warns)"})
def _(ctx):
    b = ctx.bundle("true")
    d = os.path.join(ctx.tmp, "o")
    os.makedirs(d)
    b.add_hook("poststop", "/bin/sh", ["sh", "-c", "exit 3"])
    b.add_hook("poststop", "/bin/sh", ["sh", "-c", f"echo second > {d}/second"])
    cid, _r = ctx.create(b)
    ctx.start(cid)
    ctx.wait_status(cid, "stopped")
    r = ctx.rt("delete", cid)
    expect(ctx.state(cid) is None, f"the container still exists after delete ({r.brief()})")
    expect(r.rc == 0, f"delete failed because of a poststop hook: {r.brief()}")
    expect(os.path.exists(os.path.join(d, "second")), "the next poststop hook did not run")


@check("hooks.create-failure-runs-poststop", "runtime.md lifecycle: after a failed prestart hook "
       "the lifecycle continues at delete (step 12) and poststop hooks run (step 13)")
def _(ctx):
    b = ctx.bundle("true")
    d = os.path.join(ctx.tmp, "o")
    os.makedirs(d)
    b.add_hook("prestart", "/bin/sh", ["sh", "-c", "exit 3"])
    b.add_hook("poststop", "/bin/sh", ["sh", "-c", f"echo ran > {d}/poststop"])
    cid, r = ctx.create(b, expect_ok=False)
    expect(r.rc != 0, "create succeeded although a prestart hook failed")
    if ctx.state(cid) is not None:
        ctx.rt("delete", "--force", cid)
    expect(os.path.exists(os.path.join(d, "poststop")), "poststop hooks did not run")


@check("hooks.timeout", "config.md hooks: timeout is the number of seconds before aborting the "
       "hook (an aborted create hook fails create and the hook is killed)", negative=True)
def _(ctx):
    b = ctx.bundle("true")
    pidfile = os.path.join(ctx.tmp, "hook.pid")
    b.add_hook("prestart", "/bin/sh", ["sh", "-c", f"echo $$ > {pidfile}; exec sleep 100000"],
               timeout=1)
    cid, r = ctx.create(b, expect_ok=False)
    expect(r.rc != 0, "create succeeded although the prestart hook never finished")
    expect(os.path.exists(pidfile), "the hook never ran")
    pid = int(ctx.read(pidfile))
    deadline = time.monotonic() + POLL_TIMEOUT
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.05)
    if alive(pid):
        os.kill(pid, 9)
        raise Fail("the timed-out hook is still running")


@check("hooks.relative-path", "config.md hooks: path MUST be absolute (a relative one is refused)",
       negative=True)
def _(ctx):
    b = ctx.bundle("true")
    b.add_hook("prestart", "bin/true", ["true"])
    ctx.run_fails(b, "a relative hook path")


@check("hooks.timeout-zero", "config.md hooks: timeout, if set, MUST be greater than zero",
       negative=True)
def _(ctx):
    b = ctx.bundle("true")
    b.add_hook("prestart", "/bin/true", ["true"], timeout=0)
    ctx.run_fails(b, "a hook timeout of 0")
