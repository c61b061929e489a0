#!/usr/bin/env python3
"""Draws the dashboards of deploy/monitoring/dashboards as SVG pictures from
a live Prometheus, the way Grafana lays them out: every panel at its place
on the 24-column grid, its queries run over the last minutes through
Prometheus' HTTP API (query_range for graphs, an instant query for stats
and bar gauges). No Grafana is needed (none can be installed here); the
pictures in docs/OBSERVABILITY.md come from this script, and the live test
(tests/integration/test_observability.py) draws them on every run into
test-output/dashboards/.

    scripts/dashboard-snapshot.py [--prometheus URL] [--minutes N]
                                  [--var name=value]... OUT_DIR

A dashboard variable not given with --var takes its first value. Only the
Python standard library is used.
"""
import argparse
import html
import json
import math
import os
import re
import sys
import time
import urllib.parse
import urllib.request

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
DASHBOARDS = os.path.join(ROOT, "deploy/monitoring/dashboards")
PALETTE = ["#7eb26d", "#eab839", "#6ed0e0", "#ef843c", "#e24d42", "#1f78c1", "#ba43a9", "#705da0",
           "#508642", "#cca300", "#447ebc", "#c15c17"]
COL, ROW, PAD = 50, 30, 6  # pixels per grid column and row, and between panels
BG, PANEL, TEXT, DIM, GRID = "#111217", "#181b1f", "#ccccdc", "#8e8e9e", "#2c3235"


class Prometheus:
    def __init__(self, url):
        self.url = url.rstrip("/")

    def get(self, path, **params):
        query = urllib.parse.urlencode(params, doseq=True)
        with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=30) as r:
            body = json.load(r)
        if body.get("status") != "success":
            raise RuntimeError(body.get("error", "query failed"))
        return body["data"]

    def range(self, expr, start, end, step):
        return self.get("/api/v1/query_range", query=expr, start=start, end=end, step=step)["result"]

    def instant(self, expr, at):
        return self.get("/api/v1/query", query=expr, time=at)["result"]

    def label_values(self, label, match):
        return self.get(f"/api/v1/label/{label}/values", **{"match[]": match})


def legend(fmt, labels):
    text = re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt or "")
    return text.strip() or "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items() if k != "__name__") + "}"


def number(v, unit):
    if v is None or math.isnan(v):
        return "–"
    if unit == "percentunit":
        return f"{v * 100:.3g}%"
    if unit == "s":
        if v == 0:
            return "0 s"
        return f"{v * 1000:.3g} ms" if abs(v) < 1 else f"{v:.3g} s"
    if unit == "bytes":
        for u in ("B", "KiB", "MiB", "GiB"):
            if abs(v) < 1024 or u == "GiB":
                return f"{v:.3g} {u}"
            v /= 1024
    suffix = {"reqps": " req/s", "ops": "/s"}.get(unit, "")
    return f"{v:.3g}{suffix}"


def substitute(expr, variables, step, minutes):
    expr = expr.replace("$__rate_interval", f"{max(4 * 5, 2 * step)}s").replace("$__interval", f"{step}s")
    expr = expr.replace("$__range", f"{minutes}m")
    for k, v in variables.items():
        expr = expr.replace("${" + k + "}", v).replace("$" + k, v)
    return expr


class Svg:
    def __init__(self):
        self.parts = []

    def add(self, s):
        self.parts.append(s)

    def text(self, x, y, s, size=12, color=TEXT, anchor="start", weight="normal"):
        self.add(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{color}" text-anchor="{anchor}"'
                 f' font-weight="{weight}">{html.escape(s)}</text>')


def legend_rows(names, width):
    """<names> flowed into rows that fit <width> pixels (about 6 px a
    character), at most three rows; the rest is counted."""
    rows, row, used = [], [], 0
    for i, name in enumerate(names):
        need = 18 + 6 * len(name)
        if row and used + need > width:
            rows.append(row)
            row, used = [], 0
            if len(rows) == 3:
                return rows, len(names) - i
        row.append((i, name))
        used += need
    if row:
        rows.append(row)
    return rows, 0


def draw_graph(svg, x, y, w, h, series, unit):
    """Lines of <series> [(name, [(t, v)])] in the box, with their legend."""
    left, right, top = x + 72, x + w - 8, y + 4
    rows, hidden = legend_rows([name[:60] for name, _ in series], right - left)
    bottom = y + h - 8 - 14 * len(rows)
    points = [(t, v) for _, vs in series for t, v in vs if not math.isnan(v)]
    if not points or bottom - top < 20:
        svg.text(x + w / 2, y + h / 2, "No data", 14, DIM, "middle")
        return
    t0, t1 = min(p[0] for p in points), max(p[0] for p in points)
    v0, v1 = min(0, min(p[1] for p in points)), max(p[1] for p in points)
    if v1 <= v0:
        v1 = v0 + 1
    t1 = t1 if t1 > t0 else t0 + 1
    for i in range(4):
        gy = bottom - (bottom - top) * i / 3
        svg.add(f'<line x1="{left}" y1="{gy:.1f}" x2="{right}" y2="{gy:.1f}" stroke="{GRID}"/>')
        svg.text(left - 4, gy + 4, number(v0 + (v1 - v0) * i / 3, unit), 10, DIM, "end")
    for i, (_, vs) in enumerate(series):
        pts = " ".join(f"{left + (t - t0) / (t1 - t0) * (right - left):.1f},"
                       f"{bottom - (v - v0) / (v1 - v0) * (bottom - top):.1f}"
                       for t, v in vs if not math.isnan(v))
        if pts:
            svg.add(f'<polyline points="{pts}" fill="none" stroke="{PALETTE[i % len(PALETTE)]}" stroke-width="1.5"/>')
    for r, row in enumerate(rows):
        lx, ly = left, bottom + 16 + 14 * r
        for i, name in row:
            svg.add(f'<rect x="{lx}" y="{ly - 8}" width="10" height="3" fill="{PALETTE[i % len(PALETTE)]}"/>')
            svg.text(lx + 14, ly - 2, name, 10, DIM)
            lx += 18 + 6 * len(name)
    if hidden:
        svg.text(right, bottom + 16 + 14 * (len(rows) - 1) - 2, f"+{hidden} more", 10, DIM, "end")


def draw_stat(svg, x, y, w, h, values, unit, red_from):
    if not values:
        svg.text(x + w / 2, y + h / 2, "No data", 14, DIM, "middle")
        return
    cell = w / len(values)
    for i, (name, v) in enumerate(values):
        bad = red_from is not None and v is not None and v >= red_from
        color = "#e24d42" if bad else "#56a64b"
        svg.add(f'<rect x="{x + i * cell + 4:.1f}" y="{y + 4}" width="{cell - 8:.1f}" height="{h - 8}" rx="3" fill="{color}"/>')
        svg.text(x + i * cell + cell / 2, y + h / 2 + 10, number(v, unit), min(32, h / 2), "#ffffff", "middle", "bold")


def draw_bars(svg, x, y, w, h, values, unit):
    if not values:
        svg.text(x + w / 2, y + h / 2, "No data", 14, DIM, "middle")
        return
    values = values[: max(1, int(h // 22))]
    top = max((v for _, v in values if v is not None and not math.isnan(v)), default=0) or 1
    row = h / len(values)
    for i, (name, v) in enumerate(values):
        ry = y + i * row
        svg.text(x + 4, ry + row / 2 + 4, name[:40], 11, TEXT)
        bw = (w * 0.55 - 60) * (0 if v is None or math.isnan(v) else max(v, 0) / top)
        svg.add(f'<rect x="{x + w * 0.42:.1f}" y="{ry + row / 2 - 7:.1f}" width="{bw:.1f}" height="14" fill="{PALETTE[i % len(PALETTE)]}"/>')
        svg.text(x + w - 6, ry + row / 2 + 4, number(v, unit), 11, TEXT, "end")


def render(prom, dashboard, variables, minutes):
    end = time.time()
    start = end - 60 * minutes
    step = max(1, int(60 * minutes / 150))
    panels = []
    for p in dashboard["panels"]:
        panels.append(p)
        panels.extend(p.get("panels", []))
    height = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels) * ROW + 60
    svg = Svg()
    svg.add(f'<svg xmlns="http://www.w3.org/2000/svg" width="{24 * COL}" height="{height}"'
            f' font-family="Inter, Helvetica, Arial, sans-serif">')
    svg.add(f'<rect width="100%" height="100%" fill="{BG}"/>')
    title = dashboard["title"] + "".join(f"  ({k} = {v})" for k, v in variables.items())
    svg.text(12, 28, title, 18, TEXT, weight="bold")
    svg.text(24 * COL - 12, 28, time.strftime("last %%d minutes, to %H:%M:%S", time.localtime(end)) % minutes,
             12, DIM, "end")
    drawn = 0
    for p in panels:
        g = p["gridPos"]
        x, y = g["x"] * COL + PAD / 2, 40 + g["y"] * ROW + PAD / 2
        w, h = g["w"] * COL - PAD, g["h"] * ROW - PAD
        if p["type"] == "row":
            svg.text(x + 4, y + 20, p["title"], 14, TEXT, weight="bold")
            continue
        svg.add(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="2" fill="{PANEL}" stroke="#22252b"/>')
        svg.text(x + 8, y + 18, p["title"], 12, TEXT, weight="bold")
        unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit")
        steps = p.get("fieldConfig", {}).get("defaults", {}).get("thresholds", {}).get("steps", [])
        red_from = next((s["value"] for s in steps if s.get("color") == "red"), None)
        inner = (x + 6, y + 26, w - 12, h - 32)
        if p["type"] == "timeseries":
            series = []
            for t in p["targets"]:
                for s in prom.range(substitute(t["expr"], variables, step, minutes), start, end, step):
                    series.append((legend(t.get("legendFormat"), s["metric"]),
                                   [(float(ts), float(v)) for ts, v in s["values"]]))
            draw_graph(svg, *inner, series, unit)
            drawn += bool(series)
        else:
            values = []
            for t in p["targets"]:
                for s in prom.instant(substitute(t["expr"], variables, step, minutes), end):
                    values.append((legend(t.get("legendFormat"), s["metric"]), float(s["value"][1])))
            (draw_stat if p["type"] == "stat" else draw_bars)(svg, *inner, values, unit,
                                                               *([red_from] if p["type"] == "stat" else []))
            drawn += bool(values)
    svg.add("</svg>")
    return "\n".join(svg.parts) + "\n", drawn


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prometheus", default="http://127.0.0.1:9090")
    ap.add_argument("--minutes", type=int, default=15)
    ap.add_argument("--var", action="append", default=[], help="name=value of a dashboard variable")
    ap.add_argument("out")
    args = ap.parse_args()
    prom = Prometheus(args.prometheus)
    given = dict(v.split("=", 1) for v in args.var)
    os.makedirs(args.out, exist_ok=True)
    for name in sorted(os.listdir(DASHBOARDS)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(DASHBOARDS, name)) as f:
            dashboard = json.load(f)
        variables = {}
        for v in dashboard["templating"]["list"]:
            if v["type"] == "query":
                m = re.fullmatch(r"label_values\((\w+), *(\w+)\)", v["definition"])
                values = prom.label_values(m.group(2), m.group(1))
                variables[v["name"]] = given.get(v["name"], values[0] if values else "")
        text, drawn = render(prom, dashboard, variables, args.minutes)
        path = os.path.join(args.out, name[:-5] + ".svg")
        with open(path, "w") as f:
            f.write(text)
        print(f"{path}: {drawn} panels with data", file=sys.stderr)


if __name__ == "__main__":
    main()
