#!/usr/bin/python3
"""compare_torch.py REFERENCE.json KEY REPORT.json [PRED.npy REF.npy]: checks
Adjoint's results against PyTorch's within 1e-5 relative, standard library
only. The report's test_loss is compared with REFERENCE[KEY] (a dotted path,
e.g. reverse.torch_test_loss), PRED.npy with REF.npy as
max|pred - ref| / max|ref|. Prints one line per comparison, `ok` or
`MISMATCH`, and exits 1 on a mismatch."""
import ast, json, struct, sys

TOLERANCE = 1e-5


def npy(path):
    data = open(path, "rb").read()
    length = struct.unpack("<H", data[8:10])[0]
    header = ast.literal_eval(data[10:10 + length].decode("latin1"))
    code = {"<f4": "f", "<f8": "d", "<i4": "i"}[header["descr"]]
    body = data[10 + length:]
    return header["shape"], struct.unpack(
        "<%d%s" % (len(body) // struct.calcsize(code), code), body)


def main():
    ref_path, key, report_path = sys.argv[1:4]
    ref = json.load(open(ref_path))
    for part in key.split("."):
        ref = ref[part]
    loss = json.load(open(report_path))["test_loss"]
    ok = True
    rel = abs(loss - ref) / abs(ref)
    good = rel <= TOLERANCE
    ok &= good
    print("test_loss %s (relative difference %.1e)" %
          ("ok" if good else "MISMATCH %r vs %r" % (loss, ref), rel))
    if len(sys.argv) == 6:
        (shape, pred), (ref_shape, want) = npy(sys.argv[4]), npy(sys.argv[5])
        scale = max(abs(v) for v in want)
        rel = max(abs(a - b) for a, b in zip(pred, want)) / scale
        good = shape == ref_shape and rel <= TOLERANCE
        ok &= good
        print("predictions %s %s (relative difference %.1e)" %
              (tuple(shape), "ok" if good else "MISMATCH", rel))
    sys.exit(0 if ok else 1)


main()
