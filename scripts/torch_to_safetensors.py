#!/usr/bin/python3
"""Converts PyTorch state_dicts to safetensors and back (standard library and
torch only), so that weights carry over between PyTorch and Adjoint.

    torch_to_safetensors.py to-safetensors MODEL.pt OUT.safetensors
    torch_to_safetensors.py to-torch CKPT.safetensors OUT.pt [--keep-optimizer]

to-safetensors reads a file written by torch.save(model.state_dict()) (or a
dict holding one under "state_dict") and writes its tensors, in order, as
safetensors: an 8-byte little-endian header length, a JSON header (padded
with spaces to a multiple of 8 bytes) and the raw little-endian data. Adjoint
reads it with --init-from, --load or pretrained("file", "name"); a model
written with PyTorch's parameter names (conv1.weight, bn1.running_mean, ...)
takes every tensor. BatchNorm's num_batches_tracked (I64) has no Adjoint
counterpart: --init-from lists it as unused (batch_norm uses its momentum).

to-torch reads a safetensors file (an Adjoint checkpoint, say) into a dict
that torch.load reads back and model.load_state_dict(..., strict=True)
accepts: Adjoint's optimizer state (opt.*) is left out unless
--keep-optimizer, and every X.running_mean without X.num_batches_tracked gets
one (int64, the checkpoint's "step" metadata or 0), which PyTorch's
BatchNorm requires and uses only when its momentum is None.

As a module: save(state_dict, path, metadata=None) and load(path) ->
(OrderedDict of tensors, metadata dict); to_torch_state_dict(tensors,
metadata) applies to-torch's rules.
"""
import collections
import json
import struct
import sys

import torch

DTYPES = {
    torch.float32: "F32", torch.float64: "F64", torch.float16: "F16",
    torch.bfloat16: "BF16", torch.int64: "I64", torch.int32: "I32",
    torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
    torch.bool: "BOOL",
}
TORCH_DTYPES = {name: dtype for dtype, name in DTYPES.items()}


def _bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16
        t = t.view(torch.int16)
    return t.numpy().tobytes()  # little-endian on every host torch runs on


def save(state_dict, path, metadata=None):
    """Writes the tensors of `state_dict` (name -> tensor) to `path`."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in state_dict.items():
        if t.dtype not in DTYPES:
            raise ValueError("%s: unsupported dtype %s" % (name, t.dtype))
        data = _bytes(t)
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in blobs:
            f.write(data)


def load(path):
    """The tensors of the safetensors file `path`, in file order, and its
    metadata."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    metadata = header.pop("__metadata__", {})
    tensors = collections.OrderedDict()
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
        begin, end = e["data_offsets"]
        dtype = TORCH_DTYPES[e["dtype"]]
        if end == begin:
            t = torch.empty(e["shape"], dtype=dtype)
        elif dtype == torch.bfloat16:
            t = torch.frombuffer(bytearray(data[begin:end]), dtype=torch.int16)
            t = t.view(torch.bfloat16)
        else:
            t = torch.frombuffer(bytearray(data[begin:end]), dtype=dtype)
        tensors[name] = t.reshape(e["shape"]).clone()
    return tensors, metadata


def to_torch_state_dict(tensors, metadata, keep_optimizer=False):
    """An Adjoint checkpoint's tensors as a PyTorch state_dict: optimizer
    state dropped, BatchNorm's num_batches_tracked added."""
    out = collections.OrderedDict()
    step = int(metadata.get("step", "0") or 0)
    for name, t in tensors.items():
        if name.startswith("opt.") and not keep_optimizer:
            continue
        out[name] = t
        if name.endswith(".running_var"):
            counter = name[:-len("running_var")] + "num_batches_tracked"
            if counter not in tensors:
                out[counter] = torch.tensor(step, dtype=torch.int64)
    return out


def main(argv):
    if len(argv) >= 3 and argv[0] == "to-safetensors":
        sd = torch.load(argv[1], map_location="cpu")
        if isinstance(sd, dict) and "state_dict" in sd:
            sd = sd["state_dict"]
        save(sd, argv[2], {"format": "pt"})
        return 0
    if len(argv) >= 3 and argv[0] == "to-torch":
        tensors, metadata = load(argv[1])
        sd = to_torch_state_dict(tensors, metadata,
                                 "--keep-optimizer" in argv[3:])
        torch.save(sd, argv[2])
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
