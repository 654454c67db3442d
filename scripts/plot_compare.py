#!/usr/bin/env python3
"""Draws the training curves of several runs in one SVG, from the CSV files
that `adjc --run --log FILE.csv` (or a native trainer's --log) writes.

For each run: its training loss per optimizer step as a moving average over
WINDOW steps (a solid line), and its test loss at the end of each epoch
(dots joined by a dashed line); the legend gives the last epoch's test loss
and accuracy when the log has an accuracy column. Standard library only.

Usage: scripts/plot_compare.py OUT.svg LABEL=RUN.csv [LABEL=RUN.csv ...]
       [--title TEXT] [--window N]
"""
import argparse
import csv
import math
import sys

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
W, H = 640, 400
LEFT, RIGHT, TOP, BOTTOM = 60, 20, 40, 50
LX = 330  # the legend's left edge, in the upper right where losses are low


def read_run(path):
    steps, epochs = [], []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row["kind"] == "step":
                steps.append((int(row["step"]), float(row["loss"])))
            elif row["kind"] == "epoch" and row.get("test_loss"):
                acc = row.get("accuracy")
                epochs.append((int(row["step"]), float(row["test_loss"]),
                               float(acc) if acc else None))
    if not steps:
        sys.exit(f"{path}: no step rows (was it written by --log?)")
    return steps, epochs


def smooth(points, window):
    out, total = [], 0.0
    for i, (step, loss) in enumerate(points):
        total += loss
        if i >= window:
            total -= points[i - window][1]
        out.append((step, total / min(i + 1, window)))
    return out


def nice_step(span, ticks=5):
    raw = span / ticks
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * mag >= raw:
            return m * mag
    return 10 * mag


def fmt(v):
    return f"{v:g}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("runs", nargs="+", metavar="LABEL=RUN.csv")
    ap.add_argument("--title", default="training loss")
    ap.add_argument("--window", type=int, default=25)
    a = ap.parse_args()
    runs = []
    for spec in a.runs:
        label, sep, path = spec.partition("=")
        if not sep:
            sys.exit(f"'{spec}' is not LABEL=RUN.csv")
        steps, epochs = read_run(path)
        runs.append((label, smooth(steps, a.window), epochs))

    xmax = max(max(s for s, _ in r[1]) for r in runs)
    ys = [l for r in runs for _, l in r[1]] + [e[1] for r in runs for e in r[2]]
    ymax = max(ys) * 1.05
    xstep, ystep = nice_step(xmax), nice_step(ymax)
    xmax = math.ceil(xmax / xstep) * xstep
    ymax = math.ceil(ymax / ystep) * ystep
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def px(x):
        return LEFT + pw * x / xmax

    def py(y):
        return TOP + ph * (1 - y / ymax)

    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2}" y="22" text-anchor="middle" font-size="15">'
           f'{a.title}</text>']
    for i in range(int(round(xmax / xstep)) + 1):
        x = i * xstep
        svg.append(f'<line x1="{px(x):.1f}" y1="{TOP}" x2="{px(x):.1f}" '
                   f'y2="{TOP + ph}" stroke="#ddd"/>')
        svg.append(f'<text x="{px(x):.1f}" y="{TOP + ph + 16}" '
                   f'text-anchor="middle">{fmt(x)}</text>')
    for i in range(int(round(ymax / ystep)) + 1):
        y = i * ystep
        svg.append(f'<line x1="{LEFT}" y1="{py(y):.1f}" x2="{LEFT + pw}" '
                   f'y2="{py(y):.1f}" stroke="#ddd"/>')
        svg.append(f'<text x="{LEFT - 6}" y="{py(y) + 4:.1f}" '
                   f'text-anchor="end">{fmt(round(y, 10))}</text>')
    svg.append(f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" '
               f'fill="none" stroke="#333"/>')
    svg.append(f'<text x="{LEFT + pw / 2}" y="{H - 12}" text-anchor="middle">'
               f'optimizer step</text>')
    svg.append(f'<text transform="translate(16 {TOP + ph / 2}) rotate(-90)" '
               f'text-anchor="middle">loss</text>')
    for k, (label, steps, epochs) in enumerate(runs):
        c = COLOURS[k % len(COLOURS)]
        pts = " ".join(f"{px(s):.1f},{py(l):.1f}" for s, l in steps)
        svg.append(f'<polyline points="{pts}" fill="none" stroke="{c}" '
                   f'stroke-width="1.5"/>')
        if epochs:
            pts = " ".join(f"{px(s):.1f},{py(l):.1f}" for s, l, _ in epochs)
            svg.append(f'<polyline points="{pts}" fill="none" stroke="{c}" '
                       f'stroke-dasharray="5,4"/>')
            for s, l, _ in epochs:
                svg.append(f'<circle cx="{px(s):.1f}" cy="{py(l):.1f}" r="3.5" '
                           f'fill="{c}"/>')
        text = label
        if epochs:
            _, tl, acc = epochs[-1]
            text += f": test loss {tl:.3f}"
            if acc is not None:
                text += f", accuracy {acc:.3f}"
        ly = TOP + 16 + 18 * k
        svg.append(f'<line x1="{LX}" y1="{ly - 4}" x2="{LX + 24}" '
                   f'y2="{ly - 4}" stroke="{c}" stroke-width="2"/>')
        svg.append(f'<text x="{LX + 30}" y="{ly}">{text}</text>')
    # What the line styles mean.
    ly = TOP + 16 + 18 * len(runs)
    svg.append(f'<line x1="{LX}" y1="{ly - 4}" x2="{LX + 24}" y2="{ly - 4}" '
               f'stroke="#333" stroke-width="1.5"/>')
    svg.append(f'<text x="{LX + 30}" y="{ly}">train loss, mean of '
               f'{a.window} steps</text>')
    ly += 18
    svg.append(f'<line x1="{LX}" y1="{ly - 4}" x2="{LX + 24}" y2="{ly - 4}" '
               f'stroke="#333" stroke-dasharray="5,4"/>')
    svg.append(f'<circle cx="{LX + 12}" cy="{ly - 4}" r="3.5" fill="#333"/>')
    svg.append(f'<text x="{LX + 30}" y="{ly}">test loss after each epoch'
               f'</text>')
    svg.append("</svg>")
    with open(a.out, "w") as f:
        f.write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
