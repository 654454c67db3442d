#!/usr/bin/python3
"""Writes the first N test samples of data/mnist-10k as IDX files
(OUTDIR/test-images-N.idx, OUTDIR/test-labels-N.idx), the test split of the
CNN benchmarks: a forward pass over all 2,000 test images would take longer
than the timed training with today's conv kernels, and evaluation is only a
sanity check there. Usage: test_subset.py OUTDIR N."""
import gzip, os, struct, sys

MNIST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "mnist-10k")


def subset(src, dst, n):
    with gzip.open(os.path.join(MNIST, src), "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = list(struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim]))
    per = 1
    for d in dims[1:]:
        per *= d
    n = min(n, dims[0])
    body = data[4 + 4 * ndim:4 + 4 * ndim + n * per]
    with open(dst, "wb") as f:
        f.write(struct.pack(">I", magic) + struct.pack(">" + "I" * ndim, n, *dims[1:]) + body)


if __name__ == "__main__":
    out, n = sys.argv[1], int(sys.argv[2])
    subset("t10k-images-idx3-ubyte.gz", os.path.join(out, f"test-images-{n}.idx"), n)
    subset("t10k-labels-idx1-ubyte.gz", os.path.join(out, f"test-labels-{n}.idx"), n)
