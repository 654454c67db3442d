#!/usr/bin/python3
"""Writes the data of bench/tiny_mlp.adj into DIR (default bench/tiny-data):
8192 training and 2048 test points of two noisy interleaved half-moons in 2-D,
as float32 x (N, 2) and int32 y (N,) .npy files. Deterministic (seed 0)."""
import math, os, random, struct, sys


def npy(path, dtype, shape, values):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (
        dtype, "(%s%s)" % (", ".join(map(str, shape)), "," if len(shape) == 1 else ""))
    header += " " * (63 - (len(header) + 10) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(struct.pack("<%d%s" % (len(values), "f" if dtype == "<f4" else "i"), *values))


def moons(n, rng):
    xs, ys = [], []
    for _ in range(n):
        c = rng.randrange(2)
        t = rng.uniform(0, math.pi)
        x, y = (math.cos(t), math.sin(t)) if c == 0 else (1 - math.cos(t), 0.5 - math.sin(t))
        xs += [x + rng.gauss(0, 0.1), y + rng.gauss(0, 0.1)]
        ys.append(c)
    return xs, ys


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny-data")
    os.makedirs(out, exist_ok=True)
    rng = random.Random(0)
    for split, n in (("train", 8192), ("test", 2048)):
        xs, ys = moons(n, rng)
        npy(os.path.join(out, split + "-x.npy"), "<f4", (n, 2), xs)
        npy(os.path.join(out, split + "-y.npy"), "<i4", (n,), ys)


if __name__ == "__main__":
    main()
