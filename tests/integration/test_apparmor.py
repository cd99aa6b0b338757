#!/usr/bin/env python3
"""process.apparmorProfile on a host without AppArmor (this kernel has none): a requested
profile is a clear error for run and exec (nothing left behind), no profile is fine, and
`features` reports apparmor disabled. Where AppArmor is enabled the cases only check that
an unconfined container still runs. Passes against runc 1.1.5 too, except the wording."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402


def apparmor_enabled():
    return h.read_file("/sys/module/apparmor/parameters/enabled").startswith("Y")


def set_profile(name):
    def edit(c):
        c["process"]["apparmorProfile"] = name
    return edit


@h.case
def profile_without_apparmor(t):
    rc, out, err = t.run_in(t.cid("noprof"), "echo unconfined")
    t.eq("no profile asked: runs", (rc, out), (0, "unconfined\n"))
    if apparmor_enabled():
        return
    cid = t.cid("prof")
    b = t.bundle("echo", "confined", edit=set_profile("crunner-test-profile"))
    res = t.rt(["run", "--bundle", b, cid])
    t.fails("a requested profile is refused", res)
    t.check("the container never ran", "confined" not in res[1], res)
    t.eq("nothing left behind", t.state(cid), None)
    if t.crunner_only():
        t.contains("clear error", res[2], 'apparmor profile "crunner-test-profile" requested '
                   "but AppArmor is not enabled on this host")


@h.case
def exec_apparmor_flag(t):
    if apparmor_enabled():
        return
    b = t.bundle("sleep", "600")
    cid = t.cid("exec")
    t.require("run -d", t.rt(["run", "-d", "--bundle", b, cid])[0] == 0)
    res = t.rt(["exec", "--apparmor", "crunner-test-profile", cid, "true"])
    t.fails("exec --apparmor refused", res)
    if t.crunner_only():
        t.contains("clear error", res[2], "AppArmor is not enabled on this host")
    t.ok("exec without a profile works", t.rt(["exec", cid, "true"]))


@h.case
def features_reports_apparmor(t):
    if not t.crunner_only():
        return  # runc 1.1.5 has no `features`
    import json
    rc, out, err = t.rt(["features"], root=False)
    t.require("features", rc == 0, err)
    t.eq("apparmor.enabled matches the host", json.loads(out)["linux"]["apparmor"]["enabled"],
         apparmor_enabled())


h.main()
