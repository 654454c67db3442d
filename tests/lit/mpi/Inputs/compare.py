#!/usr/bin/python3
"""Compares the tensors of two safetensors checkpoints (F32 or F64) with the
standard library only:

    compare.py A B [--rtol R] [--only-params]

Without --rtol every tensor must be bit-identical; with it, every value must
satisfy |a - b| <= R * max(|a|, |b|, 1e-3) (relative, with a floor for values
near zero). --only-params skips optimizer state (opt.*). Both files must
hold the same tensor names and shapes. Prints "compared N tensors (M
values), max relative difference D" or fails naming the first mismatch."""
import json, struct, sys


def load(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    body = data[8 + n:]
    out = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        code = {"F32": "f", "F64": "d"}[info["dtype"]]
        raw = body[begin:end]
        count = len(raw) // struct.calcsize(code)
        out[name] = (info["shape"], struct.unpack("<%d%s" % (count, code), raw))
    return out


args = sys.argv[1:]
rtol = None
only_params = "--only-params" in args
if only_params:
    args.remove("--only-params")
if "--rtol" in args:
    i = args.index("--rtol")
    rtol = float(args[i + 1])
    del args[i:i + 2]
a, b = load(args[0]), load(args[1])
if only_params:
    a = {k: v for k, v in a.items() if not k.startswith("opt.")}
    b = {k: v for k, v in b.items() if not k.startswith("opt.")}
if sorted(a) != sorted(b):
    sys.exit("compare.py: tensors differ: %s vs %s" % (sorted(a), sorted(b)))
worst, count = 0.0, 0
for name in sorted(a):
    (sa, va), (sb, vb) = a[name], b[name]
    if sa != sb:
        sys.exit("compare.py: %s has shape %s vs %s" % (name, sa, sb))
    for i, (x, y) in enumerate(zip(va, vb)):
        count += 1
        if rtol is None:
            if struct.pack("<d", x) != struct.pack("<d", y):
                sys.exit("compare.py: %s[%d] differs: %r vs %r" % (name, i, x, y))
            continue
        rel = abs(x - y) / max(abs(x), abs(y), 1e-3)
        worst = max(worst, rel)
        if rel > rtol:
            sys.exit("compare.py: %s[%d] differs: %r vs %r (relative %.3g > %g)"
                     % (name, i, x, y, rel, rtol))
print("compared %d tensors (%d values), max relative difference %.3g"
      % (len(a), count, worst))
