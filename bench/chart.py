"""SVG bar charts for the benchmarks (Python standard library only).

write_svg: bench/run.py's medians, one panel per scenario, one horizontal bar per runtime
(its median, labelled), so the runtimes of one scenario can be compared at a glance; peak
RSS and garden-shim get panels of their own (their units differ).
write_panels: the same drawing for any list of (title, [(name, value)], unit) panels
(bench/garden_cell.py).
"""

from xml.sax.saxutils import escape

COLORS = {"crunner": "#1f77b4", "crun": "#ff7f0e", "runc": "#2ca02c", "floor": "#7f7f7f",
          "garden-shim": "#9467bd", "crunner directly": "#1f77b4"}
ORDER = ["crunner", "crun", "runc", "floor"]
TITLES = [("run", "run /bin/true (ms)"), ("cycle", "create + start + delete (ms)"),
          ("exec", "exec /bin/true (ms)"), ("cg-none", "create + delete, no limits (ms)"),
          ("cg-limits", "create + delete, typical limits (ms)")]


def panels(summary, garden):
    out = []
    for key, title in TITLES:
        row = summary.get(key) or {}
        bars = [(n, row[n]["median_ms"]) for n in ORDER if n in row]
        if bars:
            out.append((title, bars, "ms"))
    row = summary.get("run") or {}
    rss = [(n, row[n]["rss_mib"]) for n in ORDER if n in row and n != "floor" and row[n]["rss_mib"]]
    if rss:
        out.append(("peak RSS of the runtime, run (MiB)", rss, "MiB"))
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
            parts.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 14}">{v:.2f} {unit}</text>')
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
    write_panels(path, "crunner vs crun vs runc: medians (shorter is better)", subtitle,
                 panels(summary, garden))
