"""Writes an F32 safetensors file: write_safetensors.py PATH NAME:D0xD1=V,V,...

Each tensor is NAME, its shape (dims joined by x) and its values (nan, inf
and -inf allowed), e.g. w:1x2=1,nan b:1=0.
"""
import json
import struct
import sys

path = sys.argv[1]
header, data = {}, b""
for spec in sys.argv[2:]:
    name_shape, values = spec.split("=")
    name, shape = name_shape.split(":")
    dims = [int(d) for d in shape.split("x")]
    vals = [float(v) for v in values.split(",")]
    payload = struct.pack("<%df" % len(vals), *vals)
    header[name] = {"dtype": "F32", "shape": dims,
                    "data_offsets": [len(data), len(data) + len(payload)]}
    data += payload
text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + data)
