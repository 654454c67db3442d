#!/usr/bin/env python3
"""Writes data/fashion-mnist-10k/: 8,000 training and 2,000 test images of
Fashion-MNIST (Zalando Research, MIT licence) as gzipped IDX files, chosen by
a fixed seeded rule from Debian's dataset-fashion-mnist package.

The rule: with random.Random(SEED), for each class 0..9 in order, draw 800
of that class's training images and 200 of its test images (without
replacement, from the indices in file order); then shuffle each split with
the same generator. The files are byte-for-byte reproducible (gzip -9, no
name, mtime 0). Standard library only.

Usage: scripts/make_fashion_subset.py [SRC_DIR] [OUT_DIR]
"""
import gzip
import os
import random
import struct
import sys

SEED = 20170825  # Fashion-MNIST's release date
TRAIN_PER_CLASS = 800
TEST_PER_CLASS = 200
CLASSES = 10


def read_idx(path):
    """Returns (dims, payload bytes) of a (gzipped) uint8 IDX file."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    zero, dtype, rank = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08:
        sys.exit(f"{path}: not a uint8 IDX file")
    dims = struct.unpack(">" + "I" * rank, raw[4:4 + 4 * rank])
    return list(dims), raw[4 + 4 * rank:]


def write_idx(path, dims, payload):
    header = struct.pack(">HBB", 0, 0x08, len(dims))
    header += struct.pack(">" + "I" * len(dims), *dims)
    with open(path, "wb") as f:
        # No file name and mtime 0: the bytes depend on the content alone.
        with gzip.GzipFile(filename="", mode="wb", compresslevel=9,
                           fileobj=f, mtime=0) as g:
            g.write(header + payload)


def pick(rng, labels, per_class):
    chosen = []
    for c in range(CLASSES):
        idx = [i for i, l in enumerate(labels) if l == c]
        if len(idx) < per_class:
            sys.exit(f"class {c} has only {len(idx)} images")
        chosen += rng.sample(idx, per_class)
    rng.shuffle(chosen)
    return chosen


def subset(rng, src, out, prefix, per_class):
    idims, images = read_idx(os.path.join(src, f"{prefix}-images-idx3-ubyte.gz"))
    ldims, labels = read_idx(os.path.join(src, f"{prefix}-labels-idx1-ubyte.gz"))
    if idims[0] != ldims[0]:
        sys.exit(f"{prefix}: {idims[0]} images but {ldims[0]} labels")
    chosen = pick(rng, labels, per_class)
    size = idims[1] * idims[2]
    img = b"".join(images[i * size:(i + 1) * size] for i in chosen)
    lab = bytes(labels[i] for i in chosen)
    write_idx(os.path.join(out, f"{prefix}-images-idx3-ubyte.gz"),
              [len(chosen)] + idims[1:], img)
    write_idx(os.path.join(out, f"{prefix}-labels-idx1-ubyte.gz"),
              [len(chosen)], lab)
    print(f"{prefix}: {len(chosen)} of {idims[0]} images")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    src = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
        here, "..", "data", "fashion-mnist-10k")
    os.makedirs(out, exist_ok=True)
    rng = random.Random(SEED)
    subset(rng, src, out, "train", TRAIN_PER_CLASS)
    subset(rng, src, out, "t10k", TEST_PER_CLASS)


if __name__ == "__main__":
    main()
