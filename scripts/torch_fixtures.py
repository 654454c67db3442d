#!/usr/bin/python3
"""Writes the PyTorch reference values that Adjoint's op tests compare with.

PyTorch is the reference, not a test dependency: this script is run by hand
(with Debian's python3-torch, `/usr/bin/python3 scripts/torch_fixtures.py`)
whenever an op is added or changed, and its output, tests/fixtures/*.json,
is committed. CI and the tests only read the JSON.

elementwise.json: for every UNARY entry of ir/Ops.def, its Torch column
evaluated in float64 at fixed points (attributes at their Ops.def defaults),
with the derivative from autograd; for the binary ops below, their values on
a grid of pairs.

conv2d.json: for each configuration in CONV2D, random x, w and dy (seeded),
y = F.conv2d(x, w, ...) and the gradients of sum(y * dy) with respect to x
and w from autograd, all in float64 and flattened row-major with their
shapes. `padding` is written as given to PyTorch ([h, w], or "same", which
the tests resolve as the frontend does), so a "same" configuration with an
even kernel checks on which side PyTorch puts the odd zero.
"""
import json
import math
import os
import re
import sys

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPS_DEF = os.path.join(ROOT, "ir", "Ops.def")
OUT = os.path.join(ROOT, "tests", "fixtures", "elementwise.json")
CONV2D_OUT = os.path.join(ROOT, "tests", "fixtures", "conv2d.json")

# (name, x shape, w shape, F.conv2d keyword arguments): odd sizes, strides
# that leave rows out, asymmetric "same", dilation, groups, depthwise.
CONV2D = [
    ("plain", (2, 3, 5, 5), (4, 3, 3, 3), {}),
    ("stride2_padding", (3, 2, 7, 6), (4, 2, 3, 2),
     {"stride": 2, "padding": [1, 2]}),
    ("dilation2_groups2", (2, 4, 8, 7), (6, 2, 3, 3),
     {"stride": [1, 2], "padding": 2, "dilation": 2, "groups": 2}),
    ("same_even_kernel", (2, 3, 6, 5), (2, 3, 4, 2), {"padding": "same"}),
    ("same_dilated", (1, 2, 7, 7), (3, 2, 3, 4),
     {"padding": "same", "dilation": [2, 1]}),
    ("depthwise_stride3", (2, 3, 7, 8), (6, 1, 2, 3),
     {"stride": [3, 2], "padding": [0, 1], "dilation": [1, 2], "groups": 3}),
]

# Points where every unary op is compared: a grid, values near 0 and the
# tails. Points outside an op's domain (log of a negative) give NaN in
# PyTorch and are skipped by the tests.
POINTS = sorted(set([round(-4 + 0.25 * i, 4) for i in range(33)] +
                    [1e-3, -1e-3, 0.1, -0.1, 12.0, -12.0, 30.0, -30.0]))

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: torch.pow(a, b),
    "maximum": torch.maximum,
    "minimum": torch.minimum,
    "gt_mask": lambda a, b: (a > b).double(),
    "ge_mask": lambda a, b: (a >= b).double(),
    "eq_mask": lambda a, b: (a == b).double(),
    "ne_mask": lambda a, b: (a != b).double(),
}
PAIRS = [(a, b) for a in (-2.0, -0.5, 0.0, 0.5, 1.5, 3.0)
         for b in (-1.5, 0.0, 0.5, 1.5, 2.0)]


def split_args(text):
    """Top-level arguments of a macro call's text between its parens."""
    args, depth, cur, in_str = [], 0, "", False
    for c in text:
        if c == '"':
            in_str = not in_str
        if not in_str and c in "(":
            depth += 1
        if not in_str and c in ")":
            depth -= 1
        if not in_str and c == "," and depth == 0:
            args.append(cur.strip())
            cur = ""
        else:
            cur += c
    args.append(cur.strip())
    return args


def strings(arg):
    """The value of one or more adjacent C string literals."""
    return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', arg))


def unary_entries():
    text = open(OPS_DEF).read()
    for m in re.finditer(r"^UNARY\(", text, re.M):
        depth, i = 0, m.end() - 1
        while True:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            if depth == 0:
                break
            i += 1
        args = split_args(text[m.end():i])
        attrs = {}
        for spec in filter(None, strings(args[5]).split(",")):
            name, rest = spec.split(":")
            if "=" in rest:
                attrs[name.strip()] = float(rest.split("=")[1])
        yield strings(args[1]), attrs, strings(args[6])


def finite(values):
    """JSON has no NaN or infinity: non-finite values become null."""
    return [v if math.isfinite(v) else None for v in values]


def pair(v):
    return list(v) if isinstance(v, (list, tuple)) else [v, v]


def conv2d_fixtures():
    """The CONV2D configurations with their PyTorch values and gradients."""
    gen = torch.Generator().manual_seed(0)

    def rand(shape):
        return (torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1)

    out = []
    for name, xs, ws, kw in CONV2D:
        x = rand(xs).requires_grad_()
        w = rand(ws).requires_grad_()
        y = F.conv2d(x, w, **kw)
        dy = rand(tuple(y.shape))
        dx, dw = torch.autograd.grad((y * dy).sum(), (x, w))
        pad = kw.get("padding", 0)
        out.append({
            "name": name,
            "stride": pair(kw.get("stride", 1)),
            "padding": pad if isinstance(pad, str) else pair(pad),
            "dilation": pair(kw.get("dilation", 1)),
            "groups": kw.get("groups", 1),
            "x_shape": list(xs), "w_shape": list(ws),
            "y_shape": list(y.shape),
            "x": x.detach().flatten().tolist(),
            "w": w.detach().flatten().tolist(),
            "dy": dy.flatten().tolist(),
            "y": y.detach().flatten().tolist(),
            "dx": dx.flatten().tolist(), "dw": dw.flatten().tolist(),
        })
    return out


def write(path, data):
    with open(path, "w") as fh:
        json.dump(data, fh, indent=1, sort_keys=True, allow_nan=False)
        fh.write("\n")


def main():
    # One thread: PyTorch's sums then run in one order, so a rerun writes
    # the same bytes and only a changed op changes its fixture.
    torch.set_num_threads(1)
    write(CONV2D_OUT, {"conv2d": conv2d_fixtures()})
    print(f"wrote {os.path.relpath(CONV2D_OUT, ROOT)}: {len(CONV2D)} conv2d "
          f"configurations")
    out = {"unary": {}, "binary": {}}
    for name, attrs, expr in unary_entries():
        x = torch.tensor(POINTS, dtype=torch.float64, requires_grad=True)
        env = {"torch": torch, "F": F, "x": x, **attrs}
        y = eval(expr, env)
        (dy,) = torch.autograd.grad(y.sum(), x)
        out["unary"][name] = {
            "torch": expr, "attrs": attrs, "x": POINTS,
            "f": finite(y.tolist()), "df": finite(dy.tolist()),
        }
    a = torch.tensor([p[0] for p in PAIRS], dtype=torch.float64)
    b = torch.tensor([p[1] for p in PAIRS], dtype=torch.float64)
    for name, f in BINARY.items():
        v = f(a, b)
        out["binary"][name] = {
            "a": a.tolist(), "b": b.tolist(),
            "f": finite(v.tolist())}
    write(OUT, out)
    print(f"wrote {os.path.relpath(OUT, ROOT)}: {len(out['unary'])} unary, "
          f"{len(out['binary'])} binary ops (torch {torch.__version__})")


if __name__ == "__main__":
    sys.exit(main())
