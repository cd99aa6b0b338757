"""bench/run.py's verdicts, text output and markdown report (report.md, chart.svg,
samples.json)."""

import datetime
import json
import os
import subprocess

import chart

RUNTIMES = ("crunner", "crunner-base", "crun", "runc", "floor")
KIND_TITLES = {"run": "run /bin/true", "cycle": "create + start + delete --force",
               "exec": "exec ID /bin/true"}
VARIANT_TITLES = {"": "", "+seccomp": ", Docker's default seccomp profile",
                  "+limits": ", typical limits"}
VARIANTS = ("", "+seccomp", "+limits")
COUNT_COLUMNS = [  # (key, header)
    ("syscalls", "syscalls"), ("processes", "processes"), ("threads", "threads"),
    ("execs", "execs"), ("minflt", "minor faults"), ("majflt", "major faults"),
    ("nvcsw", "voluntary cs"), ("nivcsw", "involuntary cs")]
STRACE_COLUMNS = [("proc_sys_bytes", "/proc+/sys bytes read"),
                  ("proc_sys_opens", "/proc+/sys opens"), ("cgroup_writes", "cgroup writes"),
                  ("ipc_messages", "messages between its processes")]


def title(sc):
    kind, _, v = sc.partition("+")
    return KIND_TITLES[kind] + VARIANT_TITLES["+" + v if v else ""]


def method_text(layout, args):
    return (f"one private mount namespace for the whole run (unshare -m); {layout}; every "
            f"runtime invoked directly (no wrapper) by bench/measure.c, state roots on a tmpfs; "
            f"busybox bundle running /bin/true; {args.warmup} warm-up + {args.n} measured "
            f"iterations, interleaved round-robin with a rotating first runtime; wall time = "
            f"fork to reaping of each command, summed over a scenario's commands; CPU, page "
            f"faults and context switches = rusage of every process the commands created "
            f"(measure.c is their subreaper, so a create's container init counts too); peak "
            f"RSS = the largest single process; counts: {args.counts} perf-counted runs per "
            f"unit (medians) and one strace -f run, never timed; floor = unshare -pfmnuiC "
            f"--mount-proc chroot ROOTFS /bin/true.")


def _get(summary, sc, rt, key, sub=None):
    row = summary.get(sc, {}).get(rt)
    if not row:
        return None
    v = row.get(sub, {}) if sub else row
    return v.get(key) if v else None


def _faults(summary, sc, rt):
    c = _get(summary, sc, rt, "counts")
    return None if not c else c["minflt"] + c["majflt"]


def verdicts(summary):
    """[(goal, met or None when not measured, detail)] one per goal of issue 26."""
    out = []

    def ratio_goal(goal, kind, other, limit):
        parts, met = [], True
        for v in VARIANTS:
            a = _get(summary, kind + v, "crunner", "median_ms")
            base = "run" if other == "floor" else kind + v
            b = _get(summary, base, other, "median_ms")
            if a is None or not b:
                continue
            r = a / b
            over = "" if r <= limit else f" (over by {r - limit:.2f})"
            parts.append(f"{kind + v} {r:.2f}{over}")
            met = met and r <= limit
        out.append((goal, met if parts else None, ", ".join(parts) or "not measured"))

    def fewer_goal(goal, value, floor=None):
        parts, met = [], True
        for kind in ("run", "exec", "cycle"):
            for v in VARIANTS:
                a, b = value(kind + v, "crunner"), value(kind + v, "crun")
                if a is None or b is None:
                    continue
                parts.append(f"{kind + v} {a:g} vs {b:g}")
                met = met and (a < b or a == b == floor)
        out.append((goal, met if parts else None, ", ".join(parts) or "not measured"))

    ratio_goal("run <= 0.7x crun (wall, medians)", "run", "crun", 0.7)
    ratio_goal("run <= 1.3x the floor (wall, medians)", "run", "floor", 1.3)
    ratio_goal("exec <= 0.5x crun (wall, medians)", "exec", "crun", 0.5)
    fewer_goal("fewer syscalls than crun (crunner vs crun)",
               lambda sc, rt: _get(summary, sc, rt, "syscalls", "counts"))
    fewer_goal("fewer page faults than crun (minor + major)",
               lambda sc, rt: _faults(summary, sc, rt))
    fewer_goal("fewer processes and threads created than crun (or both at the minimum, 1: "
               "the container's process, which a new pid namespace needs)",
               lambda sc, rt: _get(summary, sc, rt, "tasks", "counts"), floor=1)
    parts, met = [], True
    for v in VARIANTS:
        rss = _get(summary, "run" + v, "crunner", "rss_mib")
        if rss is not None:
            parts.append(f"run{v} {rss:.2f} MiB")
            met = met and rss <= 2.0
    out.append(("peak RSS of run <= 2 MiB", met if parts else None,
                ", ".join(parts) or "not measured"))
    return out


def verdict_lines(vs):
    word = {True: "MET", False: "NOT MET", None: "not measured"}
    return [f"{word[m]:12} {goal}: {detail}" for goal, m, detail in vs]


def _fmt(v, digits=2):
    if v is None:
        return "-"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:.{digits}f}"
    return f"{int(v)}"


def time_table(summary, sc):
    rows = ["| runtime | median ms | min ms | p90 ms | user ms | sys ms | peak RSS MiB |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for rt in RUNTIMES:
        r = summary[sc].get(rt)
        if r:
            rows.append(f"| {rt} | {r['median_ms']:.2f} | {r['min_ms']:.2f} | {r['p90_ms']:.2f} "
                        f"| {r['user_ms']:.2f} | {r['sys_ms']:.2f} | {r['rss_mib']:.2f} |")
    return rows


def count_table(summary, sc):
    cols = COUNT_COLUMNS + STRACE_COLUMNS
    rows = ["| runtime | " + " | ".join(h for _, h in cols) + " |",
            "|---|" + "---:|" * len(cols)]
    any_row = False
    for rt in RUNTIMES:
        r = summary[sc].get(rt)
        if not r or "counts" not in r:
            continue
        any_row = True
        c, s = r["counts"], r.get("strace", {})
        rows.append(f"| {rt} | " + " | ".join(_fmt(c.get(k)) for k, _ in COUNT_COLUMNS) + " | "
                    + " | ".join(_fmt(s.get(k)) for k, _ in STRACE_COLUMNS) + " |")
    return rows if any_row else []


def by_name_table(summary, sc, top=30):
    names = {}
    present = [rt for rt in RUNTIMES if summary[sc].get(rt, {}).get("strace")]
    if not present:
        return []
    for rt in present:
        for n, k in summary[sc][rt]["strace"]["by_name"].items():
            names.setdefault(n, {})[rt] = k
    order = sorted(names, key=lambda n: -max(names[n].get("crunner", 0), names[n].get("crun", 0)))
    rows = ["| syscall | " + " | ".join(present) + " |", "|---|" + "---:|" * len(present)]
    for n in order[:top]:
        rows.append(f"| {n} | " + " | ".join(str(names[n].get(rt, 0)) for rt in present) + " |")
    rest = order[top:]
    if rest:
        rows.append(f"| ({len(rest)} more) | " + " | ".join(
            str(sum(names[n].get(rt, 0) for n in rest)) for rt in present) + " |")
    rows.append("| **total (traced)** | " + " | ".join(
        str(summary[sc][rt]["strace"]["syscalls_traced"]) for rt in present) + " |")
    return rows


def phase_table(summary, sc):
    r = summary[sc].get("crunner")
    if not r or not r.get("phases"):
        return []
    ph = r["phases"]
    runs = max(p["runs"] for p in ph.values())
    rows = [f"| phase | median ms | sum over {runs} runs, ms |", "|---|---:|---:|"]
    for name, p in ph.items():
        rows.append(f"| {name} | {p['median_ms']:.3f} | {p['sum_ms']:.2f} |")
    total = sum(p["median_ms"] for n, p in ph.items() if "init:" not in n)
    rows.append(f"| **sum of the medians** (without init:, which runs during wait-init) | "
                f"{total:.3f} | |")
    return rows


def ratio_lines(summary):
    out = []
    for sc in summary:
        a = summary[sc].get("crunner")
        if not a:
            continue
        for other in ("crunner-base", "crun", "runc", "floor"):
            b = summary[sc].get(other) or (summary.get("run", {}).get("floor")
                                           if other == "floor" and sc.startswith("run") else None)
            if b:
                out.append((f"crunner/{other}", sc, a["median_ms"] / b["median_ms"]))
    return out


def machine_line(m):
    lb, la = m["load_before"], m["load_after"]
    return (f"{m['host']}: {m['cpu']}, {m['cpus']} CPUs, {m['mem_mib']} MiB, kernel "
            f"{m['kernel']}; load average (1/5/15 min) before the timed runs "
            f"{lb[0]:.2f}/{lb[1]:.2f}/{lb[2]:.2f}, after {la[0]:.2f}/{la[1]:.2f}/{la[2]:.2f}")


def print_text(result):
    s = result["summary"]
    print("\n# machine: " + machine_line(result["machine"]))
    for sc in s:
        print(f"\n{title(sc)} ({result['n']} iterations)")
        print(f"  {'runtime':12} {'median':>8} {'min':>8} {'p90':>8} {'user':>7} {'sys':>7} "
              f"{'RSS MiB':>8} {'syscalls':>9} {'procs':>6} {'faults':>7} {'/proc+sys B':>11}")
        for rt in RUNTIMES:
            r = s[sc].get(rt)
            if not r:
                continue
            c, st = r.get("counts", {}), r.get("strace", {})
            faults = c["minflt"] + c["majflt"] if c else None
            print(f"  {rt:12} {r['median_ms']:8.2f} {r['min_ms']:8.2f} {r['p90_ms']:8.2f} "
                  f"{r['user_ms']:7.2f} {r['sys_ms']:7.2f} {r['rss_mib']:8.2f} "
                  f"{_fmt(c.get('syscalls')):>9} {_fmt(c.get('tasks')):>6} {_fmt(faults):>7} "
                  f"{_fmt(st.get('proc_sys_bytes')):>11}")
    for sc in s:
        rows = phase_table(s, sc)
        if rows:
            print(f"\ncrunner --debug phases, {sc}")
            for line in rows[2:]:
                print("  " + line.strip("|").replace(" | ", "  "))
    print("\nratios of medians (< 1: crunner is faster)")
    for pair, sc, r in ratio_lines(s):
        print(f"  {pair:14} {sc:16} {r:.2f}")
    print("\nverdicts (issue 26 goals)")
    for line in verdict_lines(result["verdicts"]):
        print("  " + line)
    if result.get("dropped"):
        print("\ndropped: " + "; ".join(f"{k}: {v}" for k, v in result["dropped"].items()))


def write(directory, result, src):
    os.makedirs(directory, exist_ok=True)
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    commit = subprocess.run(["git", "-C", src, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    s = result["summary"]
    with open(os.path.join(directory, "samples.json"), "w") as f:
        json.dump(result, f, indent=1)
    chart.write_svg(os.path.join(directory, "chart.svg"), s, result.get("garden"),
                    f"crunner {commit}, {when}, {result['n']} interleaved iterations")
    md = [f"# bench/run.py report: crunner {commit}, {when}", "",
          "Machine: " + machine_line(result["machine"]) + ".", "",
          "Runtimes: " + ", ".join(f"{k}: {v}" for k, v in result["versions"].items()) + ".", "",
          "**Method.** " + result["method"], "", "## Verdicts (issue 26 goals)", "", "```"]
    md += verdict_lines(result["verdicts"]) + ["```", "", "![medians and counts](chart.svg)", ""]
    if result.get("dropped"):
        md += ["Dropped: " + "; ".join(f"{k}: {v}" for k, v in result["dropped"].items()), ""]
    md += ["## Wall time and CPU", ""]
    for sc in s:
        md += [f"### {title(sc)}", ""] + time_table(s, sc) + [""]
    md += ["## Counts (machine-independent; medians of the counted runs)", "",
           "Processes and threads created, execs, page faults: perf counters over every process "
           "of the unit; context switches: rusage; the last four columns: the strace run "
           "(messages = writes and sends on sockets and pipes, the runtime's sync round "
           "trips).", ""]
    for sc in s:
        rows = count_table(s, sc)
        if rows:
            md += [f"### {title(sc)}", ""] + rows + [""]
    md += ["## Syscalls by name (strace -f)", ""]
    for sc in s:
        rows = by_name_table(s, sc)
        if rows:
            md += [f"### {title(sc)}", ""] + rows + [""]
    md += ["## crunner --debug phases", ""]
    for sc in s:
        rows = phase_table(s, sc)
        if rows:
            md += [f"### {title(sc)}", ""] + rows + [""]
    md += ["## Ratios of medians (< 1: crunner is faster)", "", "| pair | scenario | ratio |",
           "|---|---|---:|"]
    md += [f"| {p} | {sc} | {r:.2f} |" for p, sc, r in ratio_lines(s)]
    md.append("")
    garden = result.get("garden")
    if garden:
        md += ["## garden-shim", "", garden.get("method", ""), "",
               "| measure | value |", "|---|---:|"]
        for k, v in garden.items():
            if k != "method":
                md.append(f"| {k} | {v:.2f} |" if isinstance(v, float) else f"| {k} | {v} |")
        md.append("")
    with open(os.path.join(directory, "report.md"), "w") as f:
        f.write("\n".join(md))
    print(f"\nreport: {os.path.join(directory, 'report.md')}", flush=True)
