"""Writes a little-endian f32 NPY file: write_npy.py PATH ROWS COLS VALUES..."""
import struct
import sys

path, rows, cols = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
values = [float(v) for v in sys.argv[4:]]
assert len(values) == rows * cols, "need ROWS * COLS values"
header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (rows, cols)
header += " " * (63 - (10 + len(header)) % 64) + "\n"
with open(path, "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
    f.write(struct.pack("<%df" % len(values), *values))
