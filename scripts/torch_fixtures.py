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

recurrent.json: for each configuration in RECURRENT, nn.RNN, nn.LSTM or
nn.GRU (batch_first=True) with random x, h0 (c0), weights and biases in
PyTorch's gate layout, every hidden state y and the gradients of sum(y * dy)
with respect to every one of them.

conv2d.json: for each configuration in CONV2D, random x, w and dy (seeded),
y = F.conv2d(x, w, ...) and the gradients of sum(y * dy) with respect to x
and w from autograd, all in float64 and flattened row-major with their
shapes. `padding` is written as given to PyTorch ([h, w], or "same", which
the tests resolve as the frontend does), so a "same" configuration with an
even kernel checks on which side PyTorch puts the odd zero.

batch_norm.json: see BATCH_NORM below.

pool2d.json: for each configuration in POOL2D, random x and dy (seeded;
distinct values, so no window has two maxima), y = F.max_pool2d or
F.avg_pool2d (floor mode; avg_pool2d with count_include_pad=True, its
default) and dx, the gradient of sum(y * dy) from autograd. Configurations
named "*ties*" draw x from a few integers instead, so windows hold tied
maxima; their dx is Adjoint's documented rule (each window's dy to its
first maximum in row-major order) from max_pool_first_max_grad, which is
checked against autograd on every configuration without ties; PyTorch's own
choice among ties is not compared.

dropout.json: for each p of DROPOUT_P and each of float32 and float64, x
(no zeros) and dy, y = F.dropout(x, p, training=True) and dx, the gradient of
sum(y * dy), from PyTorch's CPU generator. Adjoint's masks come from its own
generator, so the tests check what carries over: with PyTorch's mask (y != 0)
Adjoint's formula x * (1 / (1 - p)) (the scale rounded to the dtype) gives y
and dy * mask * (1 / (1 - p)) gives dx, bit for bit, and p = 0 is the
identity.

embedding.json: for each configuration in EMBEDDING, a random table [V, D]
and ids of some shape (seeded; more ids than rows, so ids repeat), y =
F.embedding(ids, table), dy, and dtable, the gradient of sum(y * dy) from
autograd (rows of repeated ids added up); and y = F.one_hot(ids,
V).double() for one_hot.

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

layers.json (model language v2 builtins, lowered as composites by the
frontend): for each configuration in CONV1D, LAYER_NORM and LINEAR, random
inputs, parameters and dy (seeded), y from F.conv1d / F.layer_norm /
F.linear and the gradients of sum(y * dy) with respect to every tensor
argument, in float64. `args` is the call's keyword arguments as the model
language writes them (`stride = 2, padding = "same"`).
"""
import json
import math
import os
import re
import sys

# The float64 sums of conv, linear and the recurrent cells run in the BLAS's
# GEMM, whose kernel (and so the last bits of every y, dx and dw) depends on
# the library and on the core OpenBLAS picks for the host: conv2d.json once
# held cases from OpenBLAS's Zen/Haswell kernel next to cases from its
# Prescott one, and layers.json came from the reference BLAS. The fixtures
# are written with Debian's OpenBLAS (0.3.21) on its generic SSE3 core,
# Prescott, which every x86-64 host runs and which OpenBLAS detects on the
# development host (bench/RESULTS.md); OpenBLAS reads these variables when
# torch loads it, so they are set before the import and override the
# caller's (bench/baseline_env.sh pins another core). PyTorch's own
# vectorised kernels round differently under ATEN_CPU_CAPABILITY=default or
# avx512 (batch_norm, elementwise, layers, optim and recurrent fixtures
# change) than under avx2, the capability Debian's PyTorch 1.13 picks by
# itself on the AVX-512 development host and with which all were written.
os.environ["OPENBLAS_CORETYPE"] = "Prescott"
os.environ.pop("OPENBLAS_L2_SIZE", None)
os.environ["ATEN_CPU_CAPABILITY"] = "avx2"

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPS_DEF = os.path.join(ROOT, "ir", "Ops.def")
OUT = os.path.join(ROOT, "tests", "fixtures", "elementwise.json")
CONV2D_OUT = os.path.join(ROOT, "tests", "fixtures", "conv2d.json")
POOL2D_OUT = os.path.join(ROOT, "tests", "fixtures", "pool2d.json")
LAYERS_OUT = os.path.join(ROOT, "tests", "fixtures", "layers.json")
OPTIM_OUT = os.path.join(ROOT, "tests", "fixtures", "optim.json")
DROPOUT_OUT = os.path.join(ROOT, "tests", "fixtures", "dropout.json")
RECURRENT_OUT = os.path.join(ROOT, "tests", "fixtures", "recurrent.json")
DROPOUT_P = [0.0, 0.1, 0.3, 0.5, 0.75]
EMBEDDING_OUT = os.path.join(ROOT, "tests", "fixtures", "embedding.json")
# (name, V, D, ids shape): repeated ids, a table of one row, ids of rank 1
# to 3, and one id per row of a large table (most rows get no gradient).
EMBEDDING = [
    ("repeats", 4, 3, [2, 9]),
    ("one_row", 1, 5, [3, 2]),
    ("rank1", 7, 2, [5]),
    ("rank3", 6, 4, [2, 3, 4]),
    ("sparse", 50, 3, [2, 4]),
]

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
    # Width stride 1 (codegen/Conv.cpp's vector rows): groups, a height
    # stride, width dilation and padding; a single channel wider than a
    # vector.
    ("rows_groups2_stride2x1", (3, 4, 9, 11), (6, 2, 3, 5),
     {"stride": [2, 1], "padding": [1, 3], "dilation": [1, 2], "groups": 2}),
    ("rows_wide_one_channel", (2, 1, 6, 37), (3, 1, 5, 5), {"padding": 2}),
]

# (name, op, x shape, F.*_pool2d keyword arguments): odd sizes leaving
# rows out, padding, non-square windows, overlapping windows (stride <
# kernel), and tied maxima.
POOL2D = []
for _op in ("max", "avg"):
    POOL2D += [
        (f"{_op}_k2", _op, (2, 3, 5, 7), {"kernel_size": 2}),
        (f"{_op}_k3_s2_p1", _op, (2, 2, 7, 6),
         {"kernel_size": 3, "stride": 2, "padding": 1}),
        (f"{_op}_k3x2_s1x2_p1x0", _op, (1, 3, 6, 5),
         {"kernel_size": [3, 2], "stride": [1, 2], "padding": [1, 0]}),
        (f"{_op}_overlap_k2x3_s1_p1", _op, (2, 2, 5, 6),
         {"kernel_size": [2, 3], "stride": 1, "padding": 1}),
    ]
POOL2D.append(("max_ties_k3_s1_p1", "max", (2, 2, 5, 6),
               {"kernel_size": 3, "stride": 1, "padding": 1}))
POOL2D.append(("max_ties_k2", "max", (1, 2, 6, 6), {"kernel_size": 2}))
# Windows that tile the input (codegen/Pool.cpp's vector path): a 3x2
# kernel, rows wider than a vector, a last row and column left uncovered.
for _op in ("max", "avg"):
    POOL2D.append((f"{_op}_tiling_k3x2", _op, (2, 2, 8, 41),
                   {"kernel_size": [3, 2]}))

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


def max_pool_first_max_grad(x, dy, k, s, p):
    """dx of max_pool2d by Adjoint's rule: each window's dy goes to its
    first maximum in row-major order (padding is -inf, never chosen)."""
    n, c, h, w = x.shape
    oh, ow = dy.shape[2], dy.shape[3]
    dx = torch.zeros_like(x)
    for i in range(n):
        for j in range(c):
            for a in range(oh):
                for b in range(ow):
                    best = None
                    for u in range(a * s[0] - p[0], a * s[0] - p[0] + k[0]):
                        for v in range(b * s[1] - p[1],
                                       b * s[1] - p[1] + k[1]):
                            if 0 <= u < h and 0 <= v < w and (
                                    best is None or x[i, j, u, v] > best[0]):
                                best = (x[i, j, u, v], u, v)
                    dx[i, j, best[1], best[2]] += dy[i, j, a, b]
    return dx


def pool2d_fixtures():
    """The POOL2D configurations with their PyTorch values and gradients."""
    gen = torch.Generator().manual_seed(0)

    def rand(shape):
        return (torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1)

    out = []
    for name, op, xs, kw in POOL2D:
        ties = "ties" in name
        if ties:
            x = torch.randint(0, 3, xs, generator=gen).double()
        else:
            x = rand(xs)
        x.requires_grad_()
        pool = F.max_pool2d if op == "max" else F.avg_pool2d
        y = pool(x, **kw)
        dy = rand(tuple(y.shape))
        (dx,) = torch.autograd.grad((y * dy).sum(), (x,))
        k = pair(kw["kernel_size"])
        s = pair(kw.get("stride", kw["kernel_size"]))
        p = pair(kw.get("padding", 0))
        if op == "max":
            rule = max_pool_first_max_grad(x.detach(), dy, k, s, p)
            if ties:
                dx = rule
            else:
                assert torch.equal(rule, dx), name
        out.append({
            "name": name, "op": f"{op}_pool2d",
            "kernel": k, "stride": s, "padding": p,
            "x_shape": list(xs), "y_shape": list(y.shape),
            "x": x.detach().flatten().tolist(),
            "dy": dy.flatten().tolist(),
            "y": y.detach().flatten().tolist(),
            "dx": dx.flatten().tolist(),
        })
    return out


# (name, x shape, w shape, F.conv1d keyword arguments): with a bias; stride
# and padding, "same" with an even kernel, dilation with groups.
CONV1D = [
    ("plain", (2, 3, 10), (4, 3, 3), {}),
    ("stride2_padding1", (2, 3, 11), (4, 3, 3), {"stride": 2, "padding": 1}),
    ("same_even_kernel", (1, 2, 9), (3, 2, 4), {"padding": "same"}),
    ("dilation2_groups2", (2, 4, 12), (6, 2, 3),
     {"dilation": 2, "groups": 2, "padding": 2}),
]
# (name, x shape, eps): the last axis normalised.
LAYER_NORM = [("rank2", (4, 6), 1e-5), ("rank3_eps", (2, 3, 5), 0.1)]
# (name, x shape, w shape [out, in]): leading batch dims.
LINEAR = [("rank2", (3, 5), (4, 5)), ("rank3", (2, 3, 5), (2, 5))]


def adj_args(kw):
    """F.* keyword arguments as the model language writes them."""
    return ", ".join(f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {v}"
                     for k, v in kw.items())


def layer_fixtures():
    """The CONV1D, LAYER_NORM and LINEAR configurations."""
    gen = torch.Generator().manual_seed(2)

    def rand(shape):
        return (torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1)

    def record(name, args, tensors, y):
        dy = rand(tuple(y.shape))
        grads = torch.autograd.grad((y * dy).sum(), list(tensors.values()))
        r = {"name": name, "args": args, "y_shape": list(y.shape),
             "y": y.detach().flatten().tolist(), "dy": dy.flatten().tolist()}
        for (k, t), g in zip(tensors.items(), grads):
            r[k] = t.detach().flatten().tolist()
            r[k + "_shape"] = list(t.shape)
            r["d" + k] = g.flatten().tolist()
        return r

    out = {"conv1d": [], "layer_norm": [], "linear": []}
    for name, xs, ws, kw in CONV1D:
        t = {"x": rand(xs), "w": rand(ws), "b": rand((ws[0],))}
        t = {k: v.requires_grad_() for k, v in t.items()}
        y = F.conv1d(t["x"], t["w"], t["b"], **kw)
        out["conv1d"].append(record(name, adj_args(kw), t, y))
    for name, xs, eps in LAYER_NORM:
        d = xs[-1]
        t = {"x": rand(xs), "gamma": rand((d,)), "beta": rand((d,))}
        t = {k: v.requires_grad_() for k, v in t.items()}
        y = F.layer_norm(t["x"], [d], t["gamma"], t["beta"], eps=eps)
        out["layer_norm"].append(record(name, f"eps = {eps}", t, y))
    for name, xs, ws in LINEAR:
        t = {"x": rand(xs), "w": rand(ws), "b": rand((ws[0],))}
        t = {k: v.requires_grad_() for k, v in t.items()}
        y = F.linear(t["x"], t["w"], t["b"])
        out["linear"].append(record(name, "", t, y))
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


# batch_norm.json: x [N, C] or [N, C, H, W], gamma, beta, running mean and
# var and a loss weight r, all seeded; in training mode the loss
# sum(F.batch_norm(x, ..., training=True) * r), its gradients wrt x, gamma
# and beta, and the running statistics after the call; in evaluation mode the
# loss with the initial running statistics.
BATCH_NORM = [
    {"x_shape": [4, 3, 5, 5], "momentum": 0.1, "eps": 1e-5},
    {"x_shape": [6, 4], "momentum": 0.3, "eps": 1e-3},
    {"x_shape": [3, 2, 1, 7], "momentum": 1.0, "eps": 1e-5},
]
BATCH_NORM_OUT = os.path.join(ROOT, "tests", "fixtures", "batch_norm.json")


def batch_norm_fixtures():
    gen = torch.Generator().manual_seed(2)
    out = []
    for cfg in BATCH_NORM:
        shape, C = cfg["x_shape"], cfg["x_shape"][1]

        def rand(*s, lo=-1.0, hi=1.0):
            u = torch.rand(*s, generator=gen, dtype=torch.float64)
            return lo + (hi - lo) * u

        x = rand(*shape, lo=-2.0, hi=3.0).requires_grad_()
        g = rand(C, lo=0.5, hi=1.5).requires_grad_()
        b = rand(C).requires_grad_()
        mean, var = rand(C), rand(C, lo=0.5, hi=2.0)
        r = rand(*shape)
        rm, rv = mean.clone(), var.clone()
        y = F.batch_norm(x, rm, rv, g, b, training=True,
                         momentum=cfg["momentum"], eps=cfg["eps"])
        loss = (y * r).sum()
        dx, dg, db = torch.autograd.grad(loss, (x, g, b))
        with torch.no_grad():
            ye = F.batch_norm(x, mean, var, g, b, training=False,
                              momentum=cfg["momentum"], eps=cfg["eps"])
        out.append({**cfg, "x": x.flatten().tolist(), "gamma": g.tolist(),
                    "beta": b.tolist(), "mean": mean.tolist(),
                    "var": var.tolist(), "r": r.flatten().tolist(),
                    "train_loss": loss.item(), "dx": dx.flatten().tolist(),
                    "dgamma": dg.tolist(), "dbeta": db.tolist(),
                    "new_mean": rm.tolist(), "new_var": rv.tolist(),
                    "eval_loss": (ye * r).sum().item()})
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


# (name, N, T, I, H, extra): batch first, every hidden state returned.
RECURRENT = [
    ("rnn", "tanh", 2, 4, 3, 5, {"nonlinearity": "tanh"}),
    ("rnn", "relu", 3, 3, 2, 4, {"nonlinearity": "relu"}),
    ("lstm", "lstm", 2, 4, 3, 5, {}),
    ("lstm", "lstm_t1", 3, 1, 4, 2, {}),
    ("gru", "gru", 2, 4, 3, 5, {}),
    ("gru", "gru_t5", 1, 5, 2, 3, {}),
]


def recurrent_fixtures():
    """nn.RNN / nn.LSTM / nn.GRU (batch_first=True) with PyTorch's gate
    layout, every argument given and differentiated."""
    gen = torch.Generator().manual_seed(5)

    def rand(shape):
        return (torch.rand(shape, generator=gen, dtype=torch.float64) - 0.5)

    out = {"rnn": [], "lstm": [], "gru": []}
    for layer, name, n, t, i, h, kw in RECURRENT:
        gates = {"rnn": 1, "lstm": 4, "gru": 3}[layer]
        ts = {"x": rand((n, t, i)), "h0": rand((n, h))}
        if layer == "lstm":
            ts["c0"] = rand((n, h))
        ts.update({"w_ih": rand((gates * h, i)), "w_hh": rand((gates * h, h)),
                   "b_ih": rand((gates * h,)), "b_hh": rand((gates * h,))})
        ts = {k: v.requires_grad_() for k, v in ts.items()}
        cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM,
               "gru": torch.nn.GRU}[layer]
        mod = cls(i, h, batch_first=True, **kw).double()
        # The module's parameters replaced by ours, so autograd reaches them.
        for k in ("w_ih", "w_hh", "b_ih", "b_hh"):
            torch_name = {"w_ih": "weight_ih_l0", "w_hh": "weight_hh_l0",
                          "b_ih": "bias_ih_l0", "b_hh": "bias_hh_l0"}[k]
            delattr(mod, torch_name)
            setattr(mod, torch_name, ts[k])
        state = ((ts["h0"][None], ts["c0"][None]) if layer == "lstm"
                 else ts["h0"][None])
        y, _ = mod(ts["x"], state)
        dy = rand(tuple(y.shape))
        grads = torch.autograd.grad((y * dy).sum(), list(ts.values()))
        r = {"name": name, "args": adj_args(kw), "y_shape": list(y.shape),
             "y": y.detach().flatten().tolist(), "dy": dy.flatten().tolist()}
        for (k, v), g in zip(ts.items(), grads):
            r[k] = v.detach().flatten().tolist()
            r[k + "_shape"] = list(v.shape)
            r["d" + k] = g.flatten().tolist()
        out[layer].append(r)
    return out


def embedding_fixtures():
    """F.embedding, its table gradient and F.one_hot per EMBEDDING."""
    gen = torch.Generator().manual_seed(0)
    out = []
    for name, v, d, shape in EMBEDDING:
        table = (torch.rand((v, d), generator=gen, dtype=torch.float64) * 4
                 - 2).requires_grad_()
        ids = torch.randint(0, v, shape, generator=gen)
        y = F.embedding(ids, table)
        dy = torch.rand(y.shape, generator=gen, dtype=torch.float64) * 2 - 1
        (dtable,) = torch.autograd.grad((y * dy).sum(), table)
        out.append({
            "name": name, "table_shape": [v, d], "ids_shape": shape,
            "table": table.detach().flatten().tolist(),
            "ids": ids.flatten().tolist(),
            "y": y.detach().flatten().tolist(),
            "dy": dy.flatten().tolist(),
            "dtable": dtable.flatten().tolist(),
            "one_hot": F.one_hot(ids, v).double().flatten().tolist(),
        })
    return out


def write(path, data):
    with open(path, "w") as fh:
        json.dump(data, fh, indent=1, sort_keys=True, allow_nan=False)
        fh.write("\n")


def blas_libraries():
    """The BLAS shared objects mapped into this process."""
    with open("/proc/self/maps") as fh:
        paths = {line.split()[-1] for line in fh if "/" in line}
    return sorted(p for p in paths if "blas" in os.path.basename(p))


def main():
    # One thread: PyTorch's sums then run in one order, so a rerun writes
    # the same bytes and only a changed op changes its fixture.
    torch.set_num_threads(1)
    # libblas.so.3 is a Debian alternative; the reference BLAS there gives
    # other last bits than the OpenBLAS the fixtures were written with.
    blas = [p for p in blas_libraries()
            if os.path.basename(p).startswith("libblas.so")]
    if any("openblas" not in p for p in blas):
        print(f"warning: libblas.so.3 is {', '.join(blas)}, not OpenBLAS; "
              "conv2d, layers and recurrent fixtures will differ in their "
              "last bits", file=sys.stderr)
    write(CONV2D_OUT, {"conv2d": conv2d_fixtures()})
    print(f"wrote {os.path.relpath(CONV2D_OUT, ROOT)}: {len(CONV2D)} conv2d "
          f"configurations")
    write(BATCH_NORM_OUT, {"batch_norm": batch_norm_fixtures()})
    print(f"wrote {os.path.relpath(BATCH_NORM_OUT, ROOT)}: "
          f"{len(BATCH_NORM)} batch_norm configurations")
    write(POOL2D_OUT, {"pool2d": pool2d_fixtures()})
    print(f"wrote {os.path.relpath(POOL2D_OUT, ROOT)}: {len(POOL2D)} pool2d "
          f"configurations")
    layers = layer_fixtures()
    write(LAYERS_OUT, layers)
    print(f"wrote {os.path.relpath(LAYERS_OUT, ROOT)}: "
          + ", ".join(f"{len(v)} {k}" for k, v in sorted(layers.items())))
    recurrent = recurrent_fixtures()
    write(RECURRENT_OUT, recurrent)
    print(f"wrote {os.path.relpath(RECURRENT_OUT, ROOT)}: "
          + ", ".join(f"{len(v)} {k}" for k, v in sorted(recurrent.items())))
    write(EMBEDDING_OUT, {"embedding": embedding_fixtures()})
    print(f"wrote {os.path.relpath(EMBEDDING_OUT, ROOT)}: {len(EMBEDDING)} "
          f"embedding configurations")
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
