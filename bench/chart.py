"""SVG bar charts for the benchmarks (Python standard library only).

write_svg: bench/run.py's results, one panel per scenario, one horizontal bar per runtime
(its median wall time, labelled), so the runtimes of one scenario can be compared at a
glance; then peak RSS, the counts of the plain scenarios (syscalls, page faults, processes
and threads created) and garden-shim get panels of their own (their units differ).
write_panels: the same drawing for any list of (title, [(name, value)], unit) panels
(bench/garden_cell.py).
"""

from xml.sax.saxutils import escape

COLORS = {"crunner": "#1f77b4", "crun": "#ff7f0e", "runc": "#2ca02c", "floor": "#7f7f7f",
          "garden-shim": "#9467bd", "crunner directly": "#1f77b4"}
ORDER = ["crunner", "crun", "runc", "floor"]
KINDS = [("run", "run /bin/true"), ("cycle", "create + start + delete"),
         ("exec", "exec /bin/true")]
VARIANTS = [("", ""), ("+seccomp", ", Docker seccomp"), ("+limits", ", typical limits")]
COUNTS = [("syscalls", "syscalls"), ("faults", "page faults"),
          ("tasks", "processes + threads created")]


def _count(row, key):
    c = row.get("counts")
    if not c:
        return None
    return c["minflt"] + c["majflt"] if key == "faults" else c.get(key)


def panels(summary, garden):
    """(title, [(runtime, value)], unit) per panel: wall medians per scenario, peak RSS of
    run, then the counts of the plain scenarios."""
    out = []
    for kind, kt in KINDS:
        for v, vt in VARIANTS:
            row = summary.get(kind + v) or {}
            bars = [(n, row[n]["median_ms"]) for n in ORDER if n in row]
            if bars:
                out.append((f"{kt}{vt}: wall, median (ms)", bars, "ms"))
    row = summary.get("run") or {}
    rss = [(n, row[n]["rss_mib"]) for n in ORDER if n in row and row[n]["rss_mib"]]
    if rss:
        out.append(("run /bin/true: peak RSS (MiB)", rss, "MiB"))
    for key, ct in COUNTS:
        for kind, kt in KINDS:
            row = summary.get(kind) or {}
            bars = [(n, _count(row[n], key)) for n in ORDER if n in row]
            bars = [(n, x) for n, x in bars if x is not None]
            if bars:
                out.append((f"{kt}: {ct}", bars, ""))
    if garden and garden.get("shim_ms") and garden.get("direct_ms"):
        out.append(("garden: create + run + destroy (ms)",
                    [("garden-shim", garden["shim_ms"]), ("crunner directly", garden["direct_ms"])],
                    "ms"))
    return out


def write_panels(path, title, subtitle, ps, colors=None, label_w=140):
    """ps: [(panel title, [(bar name, value)], unit)]; colors: bar name -> colour; label_w:
    the width of the bar names' column."""
    colors = dict(COLORS, **(colors or {}))
    width, bar_h, gap, top = 760, 20, 6, 56
    plot_w = width - label_w - 90
    y = top
    parts = []
    for ptitle, bars, unit in ps:
        parts.append(f'<text x="10" y="{y + 14}" font-weight="bold">{escape(ptitle)}</text>')
        y += 22
        peak = max(v for _, v in bars) or 1.0
        for name, v in bars:
            w = max(1.0, plot_w * v / peak)
            color = colors.get(name, "#444")
            parts.append(f'<text x="{label_w - 8}" y="{y + 14}" text-anchor="end">'
                         f'{escape(name)}</text>')
            parts.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                         f'fill="{color}"/>')
            label = f"{v:.2f} {unit}" if unit else f"{v:g}"
            parts.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 14}">{label}</text>')
            y += bar_h + gap
        y += 14
    height = y + 10
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">'
            f'<rect width="100%" height="100%" fill="white"/>'
            f'<text x="10" y="22" font-size="16" font-weight="bold">{escape(title)}</text>'
            f'<text x="10" y="40" fill="#555">{escape(subtitle)}</text>')
    with open(path, "w") as f:
        f.write(head + "".join(parts) + "</svg>\n")


def write_svg(path, summary, garden, subtitle):
    write_panels(path, "crunner vs crun vs runc: wall medians and counts (shorter is better)",
                 subtitle, panels(summary, garden))
