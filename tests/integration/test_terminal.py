#!/usr/bin/env python3
"""Terminals: the console socket protocol (one sendmsg: pty name + master fd, not waiting for
accept), consoleSize, the terminal/console-socket pairing errors, and foreground `run` with
terminal true proxying the user's terminal."""

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402


def terminal(on=True, size=None):
    def edit(c):
        c["process"]["terminal"] = on
        if size:
            c["process"]["consoleSize"] = {"height": size[0], "width": size[1]}
    return edit


def read_until(fd, needle, timeout=30):
    """Reads fd until needle (bytes) appears; returns everything read (needle may be absent)."""
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf and time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.5)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the other side is gone
                break
            if not chunk:
                break
            buf += chunk
    return buf




@h.case
def console_socket(t):
    srv, sock = t.console_listener()
    b = t.bundle("sh", edit=terminal(True))
    cid = t.cid("cons")
    res = t.create(b, cid, ["--console-socket", sock])
    # create must have finished without anyone calling accept() yet
    t.require("create exits before accept", res[0] == 0, res)
    t.eq("status created", t.status(cid), "created")
    msg, fds, conn = t.receive_console(srv)
    t.check("payload is the pty name", msg and msg.startswith(b"/"), msg)
    t.require("exactly one fd", len(fds) == 1, fds)
    master = fds[0]
    t.check("the fd is a tty", os.isatty(master))
    st = os.fstat(master)
    t.eq("the fd is a pty master (/dev/ptmx 5:2)", (os.major(st.st_rdev), os.minor(st.st_rdev)),
         (5, 2))
    t.eq("one message only, then EOF", conn.recv(4096), b"")
    t.ok("start", t.rt(["start", cid]))
    # (needles differ from the typed text: the tty echoes what we type)
    os.write(master, b"echo hi-$((40+2)); tty; [ -t 0 ] && echo stdin-$((1))tty\n")
    out = read_until(master, b"stdin-1tty\r\n")
    t.contains("shell answers through the master", out.decode(errors="replace"), "hi-42\r\n")
    t.contains("stdin is a tty", out.decode(errors="replace"), "stdin-1tty")
    t.check("process tty is a /dev/pts node", b"\r\n/dev/pts/" in out, out)
    os.write(master, b"stat -c %t:%T /dev/console; for i in 0 1 2; do readlink /proc/$$/fd/$i; "
             b"done; echo done-$((1))\n")
    out = read_until(master, b"done-1\r\n")
    t.check("/dev/console is the pty (major 136 = 0x88)", b"\r\n88:" in out, out)
    t.eq("fds 0-2 are the pty", out.count(b"/dev/pts/0\r\n"), 3)
    os.write(master, b"exit 3\n")
    t.check("stopped after exit", t.wait_status(cid, "stopped"), t.state(cid))


@h.case
def console_size(t):
    srv, sock = t.console_listener()
    b = t.bundle("sh", "-c", "stty size; sleep 1000", edit=terminal(True, (37, 101)))
    cid = t.cid("size")
    t.require("create", t.create(b, cid, ["--console-socket", sock])[0] == 0)
    _, fds, _ = t.receive_console(srv)
    t.require("fd", len(fds) == 1)
    t.ok("start", t.rt(["start", cid]))
    out = read_until(fds[0], b"37 101\r\n")
    t.check("consoleSize applied (stty size)", b"37 101\r\n" in out, out)
    rows, cols = struct.unpack("HHHH", fcntl.ioctl(fds[0], termios.TIOCGWINSZ, b"\0" * 8))[:2]
    t.eq("master window size", (rows, cols), (37, 101))


@h.case
def run_detached_with_console_socket(t):
    srv, sock = t.console_listener()
    b = t.bundle("sh", "-c", "echo detached-tty; sleep 1000", edit=terminal(True))
    cid = t.cid("rund")
    t.ok("run -d --console-socket", t.rt(["run", "-d", "--console-socket", sock, "--bundle", b,
                                          cid]))
    _, fds, _ = t.receive_console(srv)
    t.require("fd", len(fds) == 1)
    out = read_until(fds[0], b"detached-tty")
    t.contains("output through the master", out.decode(errors="replace"), "detached-tty")
    t.eq("running", t.status(cid), "running")


@h.case
def terminal_pairing_errors(t):
    b = t.bundle("sh", edit=terminal(True))
    cid = t.cid("noconsole")
    t.fails("terminal true without --console-socket: create fails", t.create(b, cid))
    t.eq("nothing created", t.state(cid), None)
    t.check("no state dir", not os.path.exists(os.path.join(t.root, cid)))
    cid = t.cid("noconsoled")
    t.fails("terminal true without --console-socket: run -d fails",
            t.rt(["run", "-d", "--bundle", b, cid]))
    t.eq("nothing created (run -d)", t.state(cid), None)
    srv, sock = t.console_listener()
    b2 = t.bundle("sh", edit=terminal(False))
    cid = t.cid("notty")
    t.fails("--console-socket with terminal false fails", t.create(b2, cid,
                                                                   ["--console-socket", sock]))
    t.eq("nothing created (no tty)", t.state(cid), None)
    cid = t.cid("badsock")
    t.fails("unreachable console socket fails", t.create(b, cid, ["--console-socket",
                                                                  t.path("no-such.sock")]))
    t.eq("nothing created (bad socket)", t.state(cid), None)
    t.check("no process left in the bundle", h.wait_for(
        lambda: not h.processes_rooted_in(os.path.join(b, "rootfs")), 30),
        h.processes_rooted_in(os.path.join(b, "rootfs")))


def open_pty(rows, cols):
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    return master, slave


def spawn_on_pty(argv, slave):
    def ctty():
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    return subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True, preexec_fn=ctty)


@h.case
def run_foreground_interactive(t):
    # `spec`-style config (terminal true, sh) and no console socket: the runtime proxies our
    # terminal (a pty made here) to the container.
    b = t.bundle("sh", edit=terminal(True))
    cid = t.cid("tty")
    master, slave = open_pty(30, 90)
    t.on_cleanup(lambda: os.close(master))
    t.on_cleanup(lambda: os.close(slave))
    before = termios.tcgetattr(slave)
    p = spawn_on_pty([h.RUNTIME, "--root", t.root, "run", "--bundle", b, cid], slave)
    t.procs.append(p)
    t.require("container running", t.wait_status(cid, "running"), t.state(cid))
    os.write(master, b"echo hi-$((40+2)); [ -t 0 ] && echo in-$((1))tty\n")
    out = read_until(master, b"in-1tty\r\n")
    t.contains("interactive shell answers", out.decode(errors="replace"), "hi-42\r\n")
    t.contains("stdin is a tty inside", out.decode(errors="replace"), "in-1tty\r\n")
    os.write(master, b"stty size\n")
    out = read_until(master, b"30 90\r\n")
    t.check("window size copied from our terminal", b"30 90\r\n" in out, out)
    # resize: the runtime gets SIGWINCH and resizes the container's pty
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    got = b""

    def resized():
        nonlocal got
        os.write(master, b"stty size\n")
        got = read_until(master, b"40 120\r\n", timeout=2)
        return b"40 120\r\n" in got
    t.check("window resize forwarded", h.wait_for(resized, 30, 0.2), got)
    os.write(master, b"exit 5\n")
    try:
        rc = p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        rc = None
    t.eq("exit status of the shell", rc, 5)
    t.eq("terminal settings restored", termios.tcgetattr(slave), before)
    t.eq("container deleted", t.state(cid), None)


@h.case
def readme_flow_spec_then_run(t):
    # `crunner spec && crunner run x` in a bundle with a rootfs: an interactive shell.
    b = t.bundle(name="readme")
    os.remove(os.path.join(b, "config.json"))
    t.require("spec", t.rt(["spec"], cwd=b)[0] == 0)
    cid = t.cid("readme")
    master, slave = open_pty(24, 80)
    t.on_cleanup(lambda: os.close(master))
    t.on_cleanup(lambda: os.close(slave))

    def ctty():
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    p = subprocess.Popen([h.RUNTIME, "--root", t.root, "run", cid], cwd=b, stdin=slave,
                         stdout=slave, stderr=slave, start_new_session=True, preexec_fn=ctty)
    t.procs.append(p)
    os.write(master, b"echo inside-$((6*7)) $(hostname)\n")
    out = read_until(master, b"inside-42")
    t.contains("interactive shell from the default spec", out.decode(errors="replace"),
               "inside-42")
    os.write(master, b"exit\n")
    try:
        rc = p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        rc = None
    t.eq("exit 0", rc, 0)

@h.case
def run_foreground_tty_signal(t):
    b = t.bundle("sh", "-c", 'trap "exit 9" HUP; echo ready; while :; do sleep 1 & wait $!; done',
                 edit=terminal(True))
    cid = t.cid("ttysig")
    master, slave = open_pty(24, 80)
    t.on_cleanup(lambda: os.close(master))
    t.on_cleanup(lambda: os.close(slave))
    p = spawn_on_pty([h.RUNTIME, "--root", t.root, "run", "--bundle", b, cid], slave)
    t.procs.append(p)
    out = read_until(master, b"ready")
    t.require("container started", b"ready" in out, out)
    p.send_signal(signal.SIGHUP)
    try:
        rc = p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        rc = None
    t.eq("signal forwarded to the container (trap exits 9)", rc, 9)


if __name__ == "__main__":
    h.main()
