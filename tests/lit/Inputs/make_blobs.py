#!/usr/bin/python3
"""Writes a small 3-class classification data set as uncompressed IDX files
(f32 features, u8 labels) into the directory given as argv[1]: three
Gaussian blobs in 4-D, 300 training (or argv[2]) and 90 test samples, fixed
seed."""
import os, random, struct, sys

def write_idx(path, type_code, dims, values, fmt):
    with open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, type_code, len(dims)))
        f.write(struct.pack(">" + "I" * len(dims), *dims))
        f.write(struct.pack(">" + fmt * len(values), *values))

def blobs(n, rng):
    centers = [(2, 0, 0, 1), (0, 2, -1, 0), (-2, -1, 1, 0)]
    xs, ys = [], []
    for i in range(n):
        c = i % 3
        xs.extend(v + rng.gauss(0, 0.6) for v in centers[c])
        ys.append(c)
    return xs, ys

out = sys.argv[1]
rng = random.Random(7)
train = int(sys.argv[2]) if len(sys.argv) > 2 else 300
for split, n in (("train", train), ("test", 90)):
    xs, ys = blobs(n, rng)
    write_idx(os.path.join(out, f"{split}-x.idx"), 0x0D, [n, 4], xs, "f")
    write_idx(os.path.join(out, f"{split}-y.idx"), 0x08, [n], ys, "B")
