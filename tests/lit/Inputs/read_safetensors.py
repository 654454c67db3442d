#!/usr/bin/python3
"""Reads a safetensors file with the standard library only, independently of
the runtime, and prints its metadata (sorted by key) and its tensors (in data
order) for FileCheck:

    metadata epoch = 2
    metadata format = adjoint-1
    tensor b F32 [10] sum=0.0123457
    tensor w1 F32 [784, 128] sum=-3.14159

The sum is printed with 6 significant digits; with --absmax, the largest
magnitude follows (` absmax=0.0312`). A malformed file exits with
status 1 and "read_safetensors.py: error: MESSAGE" on stderr."""
import json, struct, sys

SIZES = {"BOOL": 1, "U8": 1, "I8": 1, "I16": 2, "U16": 2, "F16": 2,
         "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8,
         "F64": 8}
FORMATS = {"BOOL": "?", "U8": "B", "I8": "b", "I16": "h", "U16": "H",
           "F16": "e", "I32": "i", "U32": "I", "F32": "f", "I64": "q",
           "U64": "Q", "F64": "d"}


def fail(message):
    sys.exit("read_safetensors.py: error: " + message)


def values(dtype, raw):
    if dtype == "BF16":  # the high half of an F32
        return [struct.unpack("<f", b"\0\0" + raw[i:i + 2])[0]
                for i in range(0, len(raw), 2)]
    count = len(raw) // SIZES[dtype]
    return struct.unpack("<%d%s" % (count, FORMATS[dtype]), raw)


def main():
    args = sys.argv[1:]
    absmax = "--absmax" in args
    if absmax:
        args.remove("--absmax")
    if len(args) != 1:
        fail("usage: read_safetensors.py [--absmax] FILE.safetensors")
    with open(args[0], "rb") as f:
        data = f.read()
    if len(data) < 8:
        fail("file shorter than 8 bytes")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        fail("header length %d exceeds the file" % n)
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        fail("bad header: %s" % e)
    if not isinstance(header, dict):
        fail("header is not an object")
    body = data[8 + n:]
    for key, value in sorted(header.pop("__metadata__", {}).items()):
        print("metadata %s = %s" % (key, value))
    tensors = sorted(header.items(), key=lambda kv: kv[1]["data_offsets"])
    end = 0
    for name, info in tensors:
        dtype, shape = info["dtype"], info["shape"]
        begin, stop = info["data_offsets"]
        if dtype not in SIZES:
            fail("tensor %s has unknown dtype %s" % (name, dtype))
        count = 1
        for d in shape:
            count *= d
        if begin != end or stop - begin != count * SIZES[dtype]:
            fail("tensor %s has bad data_offsets" % name)
        end = stop
        vals = values(dtype, body[begin:stop])
        extra = " absmax=%.4g" % max(map(abs, vals), default=0) if absmax else ""
        print("tensor %s %s [%s] sum=%.6g%s" %
              (name, dtype, ", ".join(str(d) for d in shape), sum(vals), extra))
    if end != len(body):
        fail("%d bytes after the last tensor" % (len(body) - end))


main()
