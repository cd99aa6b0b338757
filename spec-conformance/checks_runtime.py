"""runtime.md: state, the create/start/kill/delete operations, their errors, the lifecycle."""

import os
import time

from harness import Fail, expect, expect_eq, host_ns
from registry import check

STATUSES = {"creating", "created", "running", "stopped"}
SLEEPER = ("sleep", "100000")


def sleeper(ctx, **kw):
    b = ctx.bundle(*SLEEPER)
    return b


def alive(pid):
    """True when pid exists and is not a zombie (a stopped init may wait for its reaper)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def check_common_state(ctx, st, cid, bundle):
    expect(isinstance(st.get("ociVersion"), str) and st["ociVersion"],
           f"ociVersion missing or not a string: {st.get('ociVersion')!r}")
    expect_eq(st.get("id"), cid, "state id")
    expect(st.get("status") in STATUSES or isinstance(st.get("status"), str),
           f"status not a string: {st.get('status')!r}")
    b = st.get("bundle")
    expect(isinstance(b, str) and os.path.isabs(b), f"bundle is not an absolute path: {b!r}")
    expect_eq(os.path.realpath(b), os.path.realpath(bundle.path), "state bundle")


def check_live_pid(st):
    pid = st.get("pid")
    expect(isinstance(pid, int) and pid > 0, f"pid must be a positive int, got {pid!r}")
    expect(os.path.exists(f"/proc/{pid}"), f"pid {pid} is not a process on the host")
    # "as seen by the host": that host pid must be the container's process.
    expect(os.readlink(f"/proc/{pid}/ns/uts") != host_ns("uts"),
           f"pid {pid} is not in the container's uts namespace (not a host pid of it?)")
    return pid


# ---- preflight (registered first: negative checks depend on it) -------------------------
@check("preflight.basic", "the basic bundle runs and a container goes through create, state, "
       "start and delete (negative checks are meaningless otherwise)")
def _(ctx):
    b = ctx.bundle("echo", "preflight-ok")
    expect_eq(ctx.run_ok(b).strip(), "preflight-ok", "output of run")
    b = sleeper(ctx)
    cid, _r = ctx.create(b)
    expect_eq(ctx.must_state(cid).get("status"), "created", "status after create")
    ctx.start(cid)
    ctx.wait_status(cid, "running")
    ctx.kill(cid, "KILL")
    ctx.wait_status(cid, "stopped")
    ctx.delete(cid)
    expect(ctx.state(cid) is None, "state still answers after delete")


# ---- state -------------------------------------------------------------------------------
@check("state.created", "runtime.md State: ociVersion, id, status created, pid, bundle")
def _(ctx):
    b = sleeper(ctx)
    cid, _r = ctx.create(b)
    st = ctx.must_state(cid)
    check_common_state(ctx, st, cid, b)
    expect_eq(st.get("status"), "created", "status after create")
    check_live_pid(st)


@check("state.running", "runtime.md State: status running with the same pid after start")
def _(ctx):
    b = sleeper(ctx)
    cid, _r = ctx.create(b)
    pid = ctx.must_state(cid)["pid"]
    ctx.start(cid)
    st = ctx.wait_status(cid, "running")
    check_common_state(ctx, st, cid, b)
    expect_eq(check_live_pid(st), pid, "pid after start")


@check("state.stopped", "runtime.md State: status stopped once the container process exited")
def _(ctx):
    b = ctx.bundle("true")
    cid, _r = ctx.create(b)
    ctx.start(cid)
    st = ctx.wait_status(cid, "stopped")
    check_common_state(ctx, st, cid, b)
    pid = st.get("pid")
    expect(pid in (None, 0) or not alive(pid),
           f"stopped container reports live pid {pid}")


@check("state.stopped-external", "runtime.md State: stopped when the container process exited "
       "for any reason (killed from outside the runtime)")
def _(ctx):
    b = sleeper(ctx)
    cid, _r = ctx.create(b)
    ctx.start(cid)
    pid = check_live_pid(ctx.wait_status(cid, "running"))
    os.kill(pid, 9)
    ctx.wait_status(cid, "stopped")
    ctx.delete(cid)


@check("state.annotations", "runtime.md State: annotations are the config's annotations")
def _(ctx):
    b = sleeper(ctx)
    ann = {"org.example.conformance": "yes", "second": "two words"}
    b.cfg["annotations"] = ann
    cid, _r = ctx.create(b)
    st = ctx.must_state(cid)
    expect_eq(st.get("annotations"), ann, "state annotations")


@check("state.bundle-absolute", "runtime.md State: bundle is an absolute path (relative --bundle)")
def _(ctx):
    b = sleeper(ctx)
    b.save()
    cid = ctx.new_id()
    r = ctx.rt("create", "--bundle", os.path.basename(b.path), cid, cwd=os.path.dirname(b.path))
    if r.rc != 0:
        raise Fail(f"create with a relative bundle failed: {r.brief()}")
    st = ctx.must_state(cid)
    check_common_state(ctx, st, cid, b)


@check("state.missing", "runtime.md state: querying a container that does not exist MUST error",
       negative=True)
def _(ctx):
    r = ctx.rt("state", ctx.new_id("-missing"))
    expect(r.rc != 0, f"state of a missing container succeeded: {r.out[:200]!r}")


@check("state.no-id", "runtime.md state: MUST generate an error if not provided the ID",
       negative=True)
def _(ctx):
    r = ctx.rt("state")
    expect(r.rc != 0, "state without an ID succeeded")


# ---- create ------------------------------------------------------------------------------
@check("create.not-run-args", "runtime.md create: process.args MUST NOT be applied until start")
def _(ctx):
    b = ctx.bundle()
    out = ctx.outdir(b)
    b.sh("echo ran > /out/ran; sleep 100000")
    cid, _r = ctx.create(b)
    ctx.must_state(cid)
    # The state of the init between create and start is stable: look twice.
    expect(not os.path.exists(os.path.join(out, "ran")), "process.args ran during create")
    expect_eq(ctx.must_state(cid)["status"], "created", "status while waiting for start")
    expect(not os.path.exists(os.path.join(out, "ran")), "process.args ran before start")
    ctx.start(cid)
    expect(ctx.wait_file(os.path.join(out, "ran")), "process.args never ran after start")


@check("create.applies-config", "runtime.md create: config (except process) MUST be applied")
def _(ctx):
    b = sleeper(ctx)
    b.cfg["hostname"] = "conf-created"
    cid, _r = ctx.create(b)
    pid = check_live_pid(ctx.must_state(cid))
    for ns in ("pid", "net", "ipc", "uts", "mnt"):
        expect(os.readlink(f"/proc/{pid}/ns/{ns}") != host_ns(ns),
               f"{ns} namespace not created by create")
    expect_eq(os.readlink(f"/proc/{pid}/root"), "/", "created init's root (after pivot_root)")
    # the hostname is set in the container's uts namespace before start
    import subprocess
    p = subprocess.run(["nsenter", "-t", str(pid), "-u", "hostname"], capture_output=True,
                       text=True)
    expect_eq(p.stdout.strip(), "conf-created", "hostname inside the created container")


@check("create.duplicate-id", "runtime.md create: non-unique ID MUST error, no new container")
def _(ctx):
    b = sleeper(ctx)
    cid, _r = ctx.create(b)
    pid = ctx.must_state(cid)["pid"]
    b2 = ctx.bundle(*SLEEPER, sub="bundle2")
    b2.cfg["annotations"] = {"second": "1"}
    b2.save()
    r = ctx.rt("create", "--bundle", b2.path, cid)
    expect(r.rc != 0, "create with a duplicate id succeeded")
    st = ctx.must_state(cid)
    expect_eq(st["status"], "created", "first container status")
    expect_eq(st["pid"], pid, "first container pid")
    expect_eq(os.path.realpath(st["bundle"]), os.path.realpath(b.path), "first container bundle")


@check("create.invalid-id", "runtime.md create: an invalid ID MUST error, no new container",
       negative=True)
def _(ctx):
    b = sleeper(ctx)
    b.save()
    for bad in ("../escape", "a/b", ""):
        r = ctx.rt("create", "--bundle", b.path, bad)
        if r.rc == 0:
            ctx.rt("delete", "--force", bad)
            raise Fail(f"create with invalid id {bad!r} succeeded")
    expect(not os.path.exists(os.path.join(os.path.dirname(ctx.root), "escape")),
           "an id with ../ created something outside the state root")


@check("create.missing-id", "runtime.md create: MUST error if not provided the container ID",
       negative=True)
def _(ctx):
    b = sleeper(ctx)
    b.save()
    r = ctx.rt("create", "--bundle", b.path)
    expect(r.rc != 0, "create without an ID succeeded")


@check("create.missing-config", "runtime.md create: a bundle without config.json MUST error",
       negative=True)
def _(ctx):
    b = sleeper(ctx)
    os.unlink(os.path.join(b.path, "config.json"))
    cid = ctx.new_id()
    r = ctx.rt("create", "--bundle", b.path, cid)
    expect(r.rc != 0, "create of a bundle without config.json succeeded")
    expect(ctx.state(cid) is None, "a container exists after the failed create")


@check("create.unappliable", "runtime.md create: a property that cannot be applied MUST error "
       "and no container MUST be created", negative=True)
def _(ctx):
    b = sleeper(ctx)
    b.bind(os.path.join(ctx.tmp, "does-not-exist"), "/mnt")
    ctx.run_fails(b, "a bind mount of a missing source")


@check("create.missing-executable", "runtime.md create/start: a missing program MUST error",
       negative=True)
def _(ctx):
    b = ctx.bundle("/no/such/program")
    cid, r = ctx.create(b, expect_ok=False)
    if r.rc == 0:
        r = ctx.start(cid, expect_ok=False)
        expect(r.rc != 0, "create and start of a missing executable both succeeded")


@check("create.id-reusable-after-delete", "runtime.md delete: resources of create are deleted "
       "(the ID can be created again)")
def _(ctx):
    b = ctx.bundle("true")
    cid, _r = ctx.create(b)
    ctx.start(cid)
    ctx.wait_status(cid, "stopped")
    ctx.delete(cid)
    cid2, _r = ctx.create(b, cid=cid)
    expect_eq(ctx.must_state(cid2)["status"], "created", "status of the re-created container")


# ---- start -------------------------------------------------------------------------------
@check("start.runs-process", "runtime.md start: MUST run the user-specified program")
def _(ctx):
    b = ctx.bundle()
    out = ctx.outdir(b)
    # written then renamed: wait_file must not see an empty file before echo wrote to it
    b.sh('echo "$0:$1" > /out/args.tmp && mv /out/args.tmp /out/args; sleep 100000')
    b.process["args"] += ["zero", "second"]
    cid, _r = ctx.create(b)
    ctx.start(cid)
    expect(ctx.wait_file(os.path.join(out, "args")), "the program did not run")
    expect_eq(ctx.read(os.path.join(out, "args")).strip(), "zero:second", "argv seen")
    ctx.wait_status(cid, "running")


@check("start.missing", "runtime.md start: a container that does not exist MUST error",
       negative=True)
def _(ctx):
    r = ctx.rt("start", ctx.new_id("-missing"))
    expect(r.rc != 0, "start of a missing container succeeded")


@check("start.no-id", "runtime.md start: MUST generate an error if not provided the ID",
       negative=True)
def _(ctx):
    expect(ctx.rt("start").rc != 0, "start without an ID succeeded")


@check("start.running", "runtime.md start: not created -> error and no effect (running)")
def _(ctx):
    b = ctx.bundle()
    out = ctx.outdir(b)
    b.sh("echo x >> /out/count; sleep 100000")
    cid, _r = ctx.create(b)
    ctx.start(cid)
    st = ctx.wait_status(cid, "running")
    expect(ctx.wait_file(os.path.join(out, "count")), "the program did not run")
    r = ctx.rt("start", cid)
    expect(r.rc != 0, "a second start succeeded")
    st2 = ctx.must_state(cid)
    expect_eq(st2["status"], "running", "status after the refused start")
    expect_eq(st2["pid"], st["pid"], "pid after the refused start")
    # if the refused start had run the program again it would have appended a line
    ctx.kill(cid, "KILL")
    ctx.wait_status(cid, "stopped")
    expect_eq(ctx.read(os.path.join(out, "count")), "x\n", "times the program ran")


@check("start.stopped", "runtime.md start: not created -> error and no effect (stopped)")
def _(ctx):
    b = ctx.bundle()
    out = ctx.outdir(b)
    b.sh("echo x >> /out/count")
    cid, _r = ctx.create(b)
    ctx.start(cid)
    ctx.wait_status(cid, "stopped")
    r = ctx.rt("start", cid)
    expect(r.rc != 0, "start of a stopped container succeeded")
    expect_eq(ctx.must_state(cid)["status"], "stopped", "status after the refused start")
    expect_eq(ctx.read(os.path.join(out, "count")), "x\n", "times the program ran")


@check("start.no-process", "runtime.md start: MUST generate an error if process was not set",
       negative=True)
def _(ctx):
    b = sleeper(ctx)
    del b.cfg["process"]
    cid, r = ctx.create(b, expect_ok=False)
    if r.rc == 0:
        expect(ctx.rt("start", cid).rc != 0, "start without process succeeded")


# ---- kill --------------------------------------------------------------------------------
@check("kill.signal", "runtime.md kill: MUST send the specified signal to the container process")
def _(ctx):
    b = ctx.bundle()
    out = ctx.outdir(b)
    b.sh("trap 'echo usr1 > /out/sig; exit 0' USR1; echo ready > /out/ready; "
         "while :; do sleep 0.1; done")
    cid, _r = ctx.create(b)
    ctx.start(cid)
    expect(ctx.wait_file(os.path.join(out, "ready")), "the program did not start")
    ctx.kill(cid, "USR1")
    expect(ctx.wait_file(os.path.join(out, "sig")), "SIGUSR1 never reached the process")
    ctx.wait_status(cid, "stopped")


@check("kill.numeric", "runtime.md kill: a numeric signal is the signal with that number")
def _(ctx):
    b = sleeper(ctx)
    cid, _r = ctx.create(b)
    ctx.start(cid)
    ctx.wait_status(cid, "running")
    ctx.kill(cid, "9")
    ctx.wait_status(cid, "stopped")


@check("kill.created", "runtime.md kill: a created container can be signaled")
def _(ctx):
    b = sleeper(ctx)
    cid, _r = ctx.create(b)
    ctx.kill(cid, "KILL")
    ctx.wait_status(cid, "stopped")


@check("kill.stopped", "runtime.md kill: neither created nor running -> error, no effect")
def _(ctx):
    b = ctx.bundle("true")
    cid, _r = ctx.create(b)
    ctx.start(cid)
    ctx.wait_status(cid, "stopped")
    r = ctx.rt("kill", cid, "KILL")
    expect(r.rc != 0, "kill of a stopped container succeeded")
    expect_eq(ctx.must_state(cid)["status"], "stopped", "status after the refused kill")


@check("kill.missing", "runtime.md kill: a container that does not exist MUST error", negative=True)
def _(ctx):
    expect(ctx.rt("kill", ctx.new_id("-missing"), "KILL").rc != 0,
           "kill of a missing container succeeded")


@check("kill.no-id", "runtime.md kill: MUST generate an error if not provided the ID",
       negative=True)
def _(ctx):
    expect(ctx.rt("kill").rc != 0, "kill without an ID succeeded")


# ---- delete ------------------------------------------------------------------------------
@check("delete.running", "runtime.md delete: not stopped -> error and no effect (running)")
def _(ctx):
    b = sleeper(ctx)
    cid, _r = ctx.create(b)
    ctx.start(cid)
    st = ctx.wait_status(cid, "running")
    r = ctx.rt("delete", cid)
    expect(r.rc != 0, "delete of a running container succeeded")
    st2 = ctx.must_state(cid)
    expect_eq(st2["status"], "running", "status after the refused delete")
    expect_eq(st2["pid"], st["pid"], "pid after the refused delete")
    expect(os.path.exists(f"/proc/{st['pid']}"), "the container process is gone")


@check("delete.created", "runtime.md delete: not stopped -> error and no effect (created)",
       xfail={"runc": "runc deletes (kills) a created container on plain `delete`",
              "crunner": "crunner follows runc here (docs/CONTRACTS.md#oci-lifecycle-and-hooks: "
                         "created -> kill and destroy)"})
def _(ctx):
    b = sleeper(ctx)
    cid, _r = ctx.create(b)
    pid = ctx.must_state(cid)["pid"]
    r = ctx.rt("delete", cid)
    st = ctx.state(cid)
    expect(r.rc != 0, "delete of a created container succeeded")
    expect(st is not None and st["status"] == "created" and st["pid"] == pid,
           f"the refused delete changed the container: {st}")


@check("delete.stopped", "runtime.md delete: deletes a stopped container")
def _(ctx):
    b = ctx.bundle("true")
    cid, _r = ctx.create(b)
    ctx.start(cid)
    ctx.wait_status(cid, "stopped")
    ctx.delete(cid)
    expect(ctx.state(cid) is None, "state still answers after delete")
    r = ctx.rt("list", "-q")
    expect(cid not in r.out.split(), "list still shows the deleted container")


@check("delete.missing", "runtime.md delete: a container that does not exist MUST error",
       negative=True)
def _(ctx):
    expect(ctx.rt("delete", ctx.new_id("-missing")).rc != 0,
           "delete of a missing container succeeded")


@check("delete.no-id", "runtime.md delete: MUST generate an error if not provided the ID",
       negative=True)
def _(ctx):
    expect(ctx.rt("delete").rc != 0, "delete without an ID succeeded")


@check("delete.resources", "runtime.md delete: resources created by create MUST be deleted, "
       "others MUST NOT")
def _(ctx):
    b = sleeper(ctx)
    cg = f"/crunner-test-conformance-{os.getpid()}-{int(time.time() * 1000) % 100000}"
    b.linux["cgroupsPath"] = cg
    host_dir = os.path.join(ctx.tmp, "foreign")
    os.makedirs(host_dir)
    b.bind(host_dir, "/foreign")
    holder = ctx.spawn_helper(["unshare", "--uts", "sleep", "100000"])
    uts = f"/proc/{holder.pid}/ns/uts"
    deadline = time.monotonic() + 30
    while os.readlink(uts) == host_ns("uts") and time.monotonic() < deadline:
        time.sleep(0.05)
    b.set_namespaces([n for n in b.linux["namespaces"] if n["type"] != "uts"] +
                     [{"type": "uts", "path": uts}])
    del b.cfg["hostname"]  # not ours to change in a joined uts namespace
    cid, _r = ctx.create(b)
    pid = ctx.must_state(cid)["pid"]
    dirs = []
    for ctrl in ("pids", "memory", "unified"):
        d = f"/sys/fs/cgroup/{ctrl}{cg}"
        ctx.cgroup_dirs.append(d)
        dirs.append(d)
    existing = [d for d in dirs if os.path.isdir(d)]
    expect(existing, f"no cgroup {cg} was created under pids/memory/unified")
    ctx.start(cid)
    ctx.kill(cid, "KILL")
    ctx.wait_status(cid, "stopped")
    ctx.delete(cid)
    expect(not alive(pid), "the container process survived delete")
    left = [d for d in existing if os.path.isdir(d)]
    expect(not left, f"cgroups left behind after delete: {left}")
    expect(os.path.isdir(host_dir), "the bind mount source was deleted")
    expect(holder.poll() is None and os.path.exists(uts),
           "the joined (foreign) uts namespace holder was killed")


# ---- lifecycle ---------------------------------------------------------------------------
@check("lifecycle.order", "runtime.md lifecycle: created -> running -> stopped -> deleted")
def _(ctx):
    b = ctx.bundle()
    out = ctx.outdir(b)
    b.sh("while [ ! -e /out/go ]; do sleep 0.05; done")
    cid, _r = ctx.create(b)
    expect_eq(ctx.must_state(cid)["status"], "created", "status after create")
    ctx.start(cid)
    ctx.wait_status(cid, "running")  # the program blocks until /out/go exists
    open(os.path.join(out, "go"), "w").close()
    ctx.wait_status(cid, "stopped")
    ctx.delete(cid)
    expect(ctx.state(cid) is None, "container still exists after delete")
