#!/usr/bin/env python3
"""Writes the fuzzers' seed corpora and dictionaries (scripts/fuzz.sh).

Usage: make_corpus.py SOURCE_DIR OUT_DIR

OUT_DIR/<target>/ gets the seeds of each fuzz target: model files from
examples/ and the lit tests (frontend), .air files of the lit tests (air),
the safetensors fixtures plus small crafted files (safetensors), small IDX,
NPY, CSV and text files, plain and gzipped, behind the loaders target's
6-byte configuration (loaders), and one line per trainer option
(options); then the committed inputs of tests/fuzz/corpus/<target>/
(reproducers of past findings and hand-written seeds). OUT_DIR/<target>.dict
is a libFuzzer dictionary: the words of the seeds (frontend, air) or the
option names (options).
"""
import glob
import gzip
import json
import os
import re
import shutil
import struct
import sys

SRC, OUT = sys.argv[1], sys.argv[2]


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def copy_files(target, pattern):
    for i, p in enumerate(sorted(glob.glob(os.path.join(SRC, pattern), recursive=True))):
        if os.path.getsize(p) <= 64 * 1024:
            with open(p, "rb") as f:
                put(target, "%s-%03d-%s" % (target, i, os.path.basename(p)), f.read())


def words_dict(target, min_len=2):
    words = set()
    for p in glob.glob(os.path.join(OUT, target, "*")):
        with open(p, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        words.update(w for w in re.findall(r"[A-Za-z_][A-Za-z0-9_.]*|[-=<>!]=|->|\*\*", text)
                     if len(w) >= min_len and len(w) <= 32)
    with open(os.path.join(OUT, target + ".dict"), "w") as f:
        for w in sorted(words):
            f.write('"%s"\n' % w)


if os.path.isdir(OUT):
    shutil.rmtree(OUT)
os.makedirs(OUT)

# frontend and air: the repository's own inputs.
copy_files("frontend", "examples/*.adj")
copy_files("frontend", "tests/lit/**/*.adj")
copy_files("frontend", "tests/fixtures/**/*.adj")
copy_files("air", "tests/lit/**/*.air")

# safetensors.
copy_files("safetensors", "tests/fixtures/**/*.safetensors")


def safetensors(tensors, meta=None):
    header, blob = {}, b""
    if meta is not None:
        header["__metadata__"] = meta
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + blob


put("safetensors", "small", safetensors(
    [("w", "F32", [2, 3], struct.pack("<6f", *range(6))),
     ("b", "F64", [3], struct.pack("<3d", 1, 2, 3)),
     ("i", "I32", [2], struct.pack("<2i", 7, -7))], {"model": "m", "epoch": "1"}))
put("safetensors", "scalar", safetensors([("s", "F32", [], struct.pack("<f", 1.5))]))
put("safetensors", "empty", safetensors([("e", "F32", [0, 4], b"")]))
put("safetensors", "bf16", safetensors([("h", "BF16", [2], b"\x80\x3f\x00\x40"),
                                         ("u", "U8", [3], b"\x01\x02\x03")]))

# loaders: config bytes (loader, dtype, csv header|columns flag, text seq,
# offset, fraction) + the file.
def cfg(loader, dtype=0, header=0, seq=4, offset=0, frac=0):
    return bytes([loader, dtype, header, seq, offset, frac])


def idx(type_code, dims, payload):
    return bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload


def npy(descr, shape, payload, fortran=False):
    h = "{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }" % (
        descr, "True" if fortran else "False",
        "".join("%d," % s for s in shape) if len(shape) == 1 else ", ".join(map(str, shape)))
    h += " " * (-(len(h) + 11) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode() + payload


files = {
    "idx-u8": (0, idx(0x08, [2, 3], bytes(range(6)))),
    "idx-i32": (0, idx(0x0C, [3], struct.pack(">3i", 1, -2, 3))),
    "idx-f32": (0, idx(0x0D, [2, 2], struct.pack(">4f", 1, 2, 3, 4))),
    "idx-f64": (0, idx(0x0E, [2], struct.pack(">2d", 1, 2))),
    "npy-f4": (1, npy("<f4", [2, 3], struct.pack("<6f", *range(6)))),
    "npy-i8": (1, npy("<i8", [3], struct.pack("<3q", 1, 2, 3))),
    "npy-u1": (1, npy("|u1", [4], bytes([1, 2, 3, 4]))),
    "npy-b1": (1, npy("|b1", [2], bytes([0, 1]))),
    "npy-f8-scalar": (1, npy("<f8", [], struct.pack("<d", 2.5))),
    "npy-be": (1, npy(">i4", [2], struct.pack(">2i", 5, 6))),
    "csv-header": (2, b"a,b,c\n1,2,3\n4.5,-6,7e3\n"),
    "csv-plain": (2, b"1,2\n3,4\r\n5,6\n"),
    "csv-quoted": (2, b"\"x\",\"y\"\n1,\" 2\"\n"),
    "text": (3, b"hello world, this is text for windows\nsecond line\n"),
}
for name, (loader, data) in files.items():
    put("loaders", name, cfg(loader) + data)
    put("loaders", name + ".gz", cfg(loader, 1) + gzip.compress(data, mtime=0))
put("loaders", "csv-columns", cfg(2, 0, 0x80 | 2) + b"c,a\n" + files["csv-header"][1])
put("loaders", "csv-indices", cfg(2, 2, 0x80 | 0) + b"1,0\n" + files["csv-plain"][1])
put("loaders", "text-offset", cfg(3, 1, 0, 8, 1, 0x21) + files["text"][1])
copy_files("loaders-raw", "tests/fixtures/transfer/*_y.npy")
for p in glob.glob(os.path.join(OUT, "loaders-raw", "*")):
    with open(p, "rb") as f:
        put("loaders", os.path.basename(p), cfg(1, 2) + f.read())
shutil.rmtree(os.path.join(OUT, "loaders-raw"))

# options: one line per trainer option, and a few combinations.
flags = []
with open(os.path.join(SRC, "runtime/TrainerOptions.def")) as f:
    for m in re.finditer(r'OPTION\(\w+,\s*"([^"]+)",\s*(\w+),', f.read()):
        flags.append((m.group(1), m.group(2)))
example = {"PosInt": "10", "UInt": "0", "PosFloat": "0.01", "String": "out.json",
           "Schedule": "step:step_size=100,gamma=0.5", "Flag": None, "NoFlag": None,
           "List": "w,b*", "Map": "train.x=x.npy:scale=1/255", "Pairs": "w=v,b=c"}
for flag, kind in flags:
    v = example.get(kind)
    put("options", "opt-" + flag, flag if v is None else "%s %s" % (flag, v))
put("options", "combo", "epochs 2\nbatch 4\nlr 0.5\nschedule cosine:t_max=500,eta_min=0\n"
    "optimizer adam\nfreeze w\ndata test.x=t.csv\ndata train.y=y.bin\nwarmup 3\n")
put("options", "map", "init-from a.safetensors\nmap w=v,b=c\nallow-empty\n")

# The committed inputs: reproducers of findings and hand-written seeds.
for d in glob.glob(os.path.join(SRC, "tests/fuzz/corpus/*")):
    for p in glob.glob(os.path.join(d, "*")):
        with open(p, "rb") as f:
            put(os.path.basename(d), "committed-" + os.path.basename(p), f.read())

words_dict("frontend")
words_dict("air")
with open(os.path.join(OUT, "options.dict"), "w") as f:
    for flag, _ in flags:
        f.write('"%s"\n' % flag)
    for w in ["step:", "cosine:", "constant", "step_size=", "gamma=", "t_max=", "eta_min=",
              "train.", "test.", ":scale=", "sgd", "adam", "adamw", ".npy", ".csv", ".idx",
              ".gz", ".txt", "1/255"]:
        f.write('"%s"\n' % w)
