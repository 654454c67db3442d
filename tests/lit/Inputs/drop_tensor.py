#!/usr/bin/python3
"""drop_tensor.py IN OUT NAME: writes the safetensors file IN without the
tensor NAME (the data of the others repacked contiguously), to test loads of
a checkpoint that lacks a tensor. Standard library only."""
import json, struct, sys

src, dst, name = sys.argv[1:4]
raw = open(src, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
data = raw[8 + n:]
del header[name]
out, blob = {}, b""
tensors = sorted((k for k in header if k != "__metadata__"),
                 key=lambda k: header[k]["data_offsets"][0])
for k in tensors:
    begin, end = header[k]["data_offsets"]
    out[k] = dict(header[k], data_offsets=[len(blob), len(blob) + end - begin])
    blob += data[begin:end]
if "__metadata__" in header:
    out["__metadata__"] = header["__metadata__"]
text = json.dumps(out).encode()
open(dst, "wb").write(struct.pack("<Q", len(text)) + text + blob)
