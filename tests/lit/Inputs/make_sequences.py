#!/usr/bin/python3
"""Writes a small sequence classification data set as uncompressed IDX files
into the directory given as argv[1]: x f32 [n, 6, 3] Gaussian sequences and
u8 labels y = 1 when the first step's features sum above 0, else 0 (so a
model must carry what it saw at step 0 through five more steps); 512
training and 128 test samples, fixed seed. Standard library only."""
import os, random, struct, sys

def write_idx(path, type_code, dims, values, fmt):
    with open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, type_code, len(dims)))
        f.write(struct.pack(">" + "I" * len(dims), *dims))
        f.write(struct.pack(">" + fmt * len(values), *values))

out = sys.argv[1]
rng = random.Random(3)
T, D = 6, 3
for split, n in (("train", 512), ("test", 128)):
    xs, ys = [], []
    for _ in range(n):
        seq = [rng.gauss(0, 1) for _ in range(T * D)]
        xs.extend(seq)
        ys.append(1 if sum(seq[:D]) > 0 else 0)
    write_idx(os.path.join(out, f"{split}-x.idx"), 0x0D, [n, T, D], xs, "f")
    write_idx(os.path.join(out, f"{split}-y.idx"), 0x08, [n], ys, "B")
