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

dropout.json: for each p of DROPOUT_P and each of float32 and float64, x
(no zeros) and dy, y = F.dropout(x, p, training=True) and dx, the gradient of
sum(y * dy), from PyTorch's CPU generator. Adjoint's masks come from its own
generator, so the tests check what carries over: with PyTorch's mask (y != 0)
Adjoint's formula x * (1 / (1 - p)) (the scale rounded to the dtype) gives y
and dy * mask * (1 / (1 - p)) gives dx, bit for bit, and p = 0 is the
identity.

optim.json, "optimizers": for each configuration in OPTIM (an optimizer of
ir/Optimizers.def with hyperparameters under Adjoint's keywords, and
optionally clip_norm), two parameters w [3, 2] and b [2] from fixed seeded
values take OPTIM_STEPS steps of torch.optim.SGD / Adam / AdamW
(foreach=False) in float64 on fixed seeded gradients, the learning rate of
each step given (it is @train_step's run-time %lr). With clip_norm, the
gradients first go through torch.nn.utils.clip_grad_norm_. After each step
the parameters and the optimizer state are recorded under Adjoint's names:
momentum_buffer as opt.momentum.<p>, exp_avg as opt.m.<p>, exp_avg_sq as
opt.v.<p>.

optim.json, "schedules": for each configuration in SCHEDULES (Adjoint's
--schedule text and warm-up), the learning rate PyTorch's scheduler gives
the optimizer step t = 0 .. SCHEDULE_STEPS - 1 (read before the step, the
scheduler stepped after it): StepLR, CosineAnnealingLR, and for Adjoint's
linear warm-up of W steps (runtime/Schedule.cpp: the rate times
min(1, (t + 1) / W)) LinearLR(start_factor=1/W, end_factor=1,
total_iters=W - 1), whose factor is (t + 1) / W up to t = W - 1 and 1
after. A warm-up composes with StepLR through ChainedScheduler; with
CosineAnnealingLR, whose recursive form does not chain, the reference is
the product of the two schedulers' rates, each run by itself (the cosine
one with initial lr, LinearLR with initial lr 1).
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
OPTIM_OUT = os.path.join(ROOT, "tests", "fixtures", "optim.json")
DROPOUT_OUT = os.path.join(ROOT, "tests", "fixtures", "dropout.json")
DROPOUT_P = [0.0, 0.1, 0.3, 0.5, 0.75]

# (name, Adjoint optimizer, hyperparameters under Adjoint's keywords, base
# lr, clip_norm or None). Every option of Optimizers.def, alone and where
# they interact (Nesterov with weight decay, clipping before Adam).
OPTIM = [
    ("sgd", "sgd", {}, 0.1, None),
    ("sgd_momentum", "sgd", {"momentum": 0.9}, 0.1, None),
    ("sgd_nesterov", "sgd", {"momentum": 0.9, "nesterov": True}, 0.1, None),
    ("sgd_weight_decay", "sgd", {"weight_decay": 0.1}, 0.1, None),
    ("sgd_momentum_weight_decay", "sgd",
     {"momentum": 0.8, "weight_decay": 0.05}, 0.1, None),
    ("sgd_nesterov_weight_decay", "sgd",
     {"momentum": 0.8, "nesterov": True, "weight_decay": 0.05}, 0.1, None),
    ("adam", "adam", {}, 0.01, None),
    ("adam_betas_eps", "adam", {"beta1": 0.8, "beta2": 0.95, "eps": 1e-3},
     0.01, None),
    ("adam_weight_decay", "adam", {"weight_decay": 0.1}, 0.01, None),
    ("adamw", "adamw", {}, 0.01, None),
    ("adamw_betas_eps_weight_decay", "adamw",
     {"beta1": 0.85, "beta2": 0.98, "eps": 1e-4, "weight_decay": 0.2}, 0.01,
     None),
    ("sgd_momentum_clip_norm", "sgd", {"momentum": 0.9}, 0.1, 1.5),
    ("adam_clip_norm", "adam", {}, 0.01, 1.5),
]
OPTIM_STEPS = 5
# Gradients grow with the step so that clip_norm = 1.5 leaves the first
# steps alone and scales the later ones.
OPTIM_GRAD_SCALE = [0.2, 0.5, 1.0, 2.0, 4.0]

# (name, Adjoint --schedule text, warm-up steps, base lr, default t_max:
# what adj_rt_schedule_lr is given for a cosine without t_max).
SCHEDULES = [
    ("constant_warmup4", "constant", 4, 0.1, 0),
    ("step3", "step:step_size=3,gamma=0.5", 0, 0.1, 0),
    ("step4_warmup3", "step:step_size=4,gamma=0.1", 3, 0.2, 0),
    ("cosine", "cosine:t_max=11,eta_min=0.001", 0, 0.1, 0),
    ("cosine_default_t_max", "cosine:eta_min=0.002", 0, 0.05, 11),
    ("cosine_warmup5", "cosine:t_max=11,eta_min=0.001", 5, 0.1, 0),
]
SCHEDULE_STEPS = 12

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


def optim_fixtures():
    """The OPTIM configurations, stepped by torch.optim."""
    gen = torch.Generator().manual_seed(1)

    def rand(shape):
        return torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1

    init = {"w": rand((3, 2)), "b": rand((2,))}
    grads = [{k: rand(tuple(v.shape)) * s for k, v in init.items()}
             for s in OPTIM_GRAD_SCALE]
    # A learning rate per step, as a schedule would give (%lr is run-time).
    lr_factor = [1.0, 0.9, 0.8, 1.2, 0.5][:OPTIM_STEPS]
    state_names = {"momentum_buffer": "momentum", "exp_avg": "m",
                   "exp_avg_sq": "v"}
    out = []
    for name, opt, hyper, lr, clip in OPTIM:
        params = {k: v.clone().requires_grad_() for k, v in init.items()}
        kw = {k: v for k, v in hyper.items() if not k.startswith("beta")}
        if "beta1" in hyper:
            kw["betas"] = (hyper["beta1"], hyper["beta2"])
        cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam,
               "adamw": torch.optim.AdamW}[opt]
        o = cls(list(params.values()), lr=lr, foreach=False, **kw)
        steps = []
        for t in range(OPTIM_STEPS):
            for k, p in params.items():
                p.grad = grads[t][k].clone()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(list(params.values()), clip)
            o.param_groups[0]["lr"] = lr * lr_factor[t]
            o.step()
            rec = {k: p.detach().flatten().tolist()
                   for k, p in params.items()}
            for k, p in params.items():
                for s, v in o.state[p].items():
                    if s in state_names and v is not None:
                        rec[f"opt.{state_names[s]}.{k}"] = v.flatten().tolist()
            steps.append(rec)
        out.append({
            "name": name, "optimizer": opt, "hyper": hyper,
            "clip_norm": clip or 0,
            "lr": [lr * f for f in lr_factor],
            "shapes": {k: list(v.shape) for k, v in init.items()},
            "init": {k: v.flatten().tolist() for k, v in init.items()},
            "grads": [{k: g.flatten().tolist() for k, g in gs.items()}
                      for gs in grads],
            "steps": steps,
        })
    return out


def schedule_lrs(make, lr):
    """The lr of each step under the scheduler make(optimizer)."""
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    o = torch.optim.SGD([p], lr=lr)
    sched = make(o)
    lrs = []
    for _ in range(SCHEDULE_STEPS):
        lrs.append(o.param_groups[0]["lr"])
        o.step()
        sched.step()
    return lrs


def schedule_fixtures():
    """The SCHEDULES configurations, from torch.optim.lr_scheduler."""
    S = torch.optim.lr_scheduler
    out = []
    for name, text, warmup, lr, default_t_max in SCHEDULES:
        kind, _, args = text.partition(":")
        a = dict(kv.split("=") for kv in args.split(",")) if args else {}

        def linear(o):
            return S.LinearLR(o, start_factor=1 / warmup, end_factor=1.0,
                              total_iters=warmup - 1)

        if kind == "constant":
            main = None
        elif kind == "step":
            def main(o):
                return S.StepLR(o, step_size=int(a["step_size"]),
                                gamma=float(a["gamma"]))
        else:
            def main(o):
                return S.CosineAnnealingLR(
                    o, T_max=int(a.get("t_max", default_t_max)),
                    eta_min=float(a["eta_min"]))
        if main is None:
            lrs = schedule_lrs(linear, lr)
        elif warmup == 0:
            lrs = schedule_lrs(main, lr)
        elif kind == "step":
            lrs = schedule_lrs(
                lambda o: S.ChainedScheduler([main(o), linear(o)]), lr)
        else:
            lrs = [x * f for x, f in zip(schedule_lrs(main, lr),
                                         schedule_lrs(linear, 1.0))]
        out.append({"name": name, "schedule": text, "warmup": warmup,
                    "lr": lr, "default_t_max": default_t_max, "lrs": lrs})
    return out


def dropout_fixtures():
    """F.dropout and its gradient for each p of DROPOUT_P, f32 and f64."""
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)  # F.dropout draws from the default generator
    out = []
    for dtype, name in ((torch.float32, "f32"), (torch.float64, "f64")):
        for p in DROPOUT_P:
            mag = torch.rand((6, 8), generator=gen, dtype=dtype) + 0.5
            sign = torch.randint(0, 2, (6, 8), generator=gen) * 2 - 1
            x = (mag * sign).to(dtype).requires_grad_()
            dy = torch.rand((6, 8), generator=gen, dtype=dtype) * 2 - 1
            y = F.dropout(x, p, training=True)
            (dx,) = torch.autograd.grad((y * dy).sum(), x)
            out.append({
                "dtype": name, "p": p, "shape": [6, 8],
                "x": x.detach().flatten().tolist(),
                "dy": dy.flatten().tolist(),
                "y": y.detach().flatten().tolist(),
                "dx": dx.flatten().tolist(),
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
    write(DROPOUT_OUT, {"dropout": dropout_fixtures()})
    print(f"wrote {os.path.relpath(DROPOUT_OUT, ROOT)}: {2 * len(DROPOUT_P)} "
          f"dropout configurations")
    optim = {"optimizers": optim_fixtures(), "schedules": schedule_fixtures()}
    write(OPTIM_OUT, optim)
    print(f"wrote {os.path.relpath(OPTIM_OUT, ROOT)}: "
          f"{len(optim['optimizers'])} optimizer configurations, "
          f"{len(optim['schedules'])} schedules")
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
