#!/usr/bin/python3
"""Reads a .npy file (version 1.0, little-endian f4, f8 or i4, C order) with
the standard library only and prints its dtype, shape, and the sum of its
values with 6 significant digits, for FileCheck:

    npy <f4 (90, 3) sum=-1.23457

With --accuracy LABELS.idx (an IDX file of uint8 labels), the file holds one
class per row, and the fraction equal to the labels is printed with 4
decimals as the trainer prints accuracy: `accuracy 0.9889`."""
import ast, struct, sys


def read_npy(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:6] != b"\x93NUMPY" or data[6] != 1:
        sys.exit("read_npy.py: error: not a version 1 .npy file")
    length = struct.unpack("<H", data[8:10])[0]
    header = ast.literal_eval(data[10:10 + length].decode("latin1"))
    assert (10 + length) % 64 == 0, "header not padded to 64 bytes"
    code = {"<f4": "f", "<f8": "d", "<i4": "i"}[header["descr"]]
    assert not header["fortran_order"]
    body = data[10 + length:]
    count = len(body) // struct.calcsize(code)
    n = 1
    for d in header["shape"]:
        n *= d
    assert n == count, (n, count)
    return header, struct.unpack("<%d%s" % (count, code), body)


def read_idx_labels(path):
    with open(path, "rb") as f:
        data = f.read()
    rank = data[3]
    return list(data[4 + 4 * rank:])


def main():
    args = sys.argv[1:]
    header, values = read_npy(args[0])
    if len(args) == 3 and args[1] == "--accuracy":
        labels = read_idx_labels(args[2])
        right = sum(1 for v, l in zip(values, labels) if v == l)
        print("accuracy %.4f" % (right / len(labels)))
        return
    print("npy %s %s sum=%.6g" % (header["descr"], tuple(header["shape"]),
                                  sum(values)))


main()
