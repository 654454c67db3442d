#!/usr/bin/env python3
"""Checks that each layer includes only the layers below it.

Reads every #include of every source file (.h, .cpp, .def, .inc, .c) of the
layers that have rules and prints one line per violation,

    runtime/Foo.cpp:12: runtime/ may not include ir/ (ir/IR.h)

then exits with status 1; with none it prints nothing and exits 0. The rules
(README.md, "Layering"): ir/ includes no other layer; frontend/ and passes/
only ir/; codegen/ ir/ and runtime/ (the ABI its code calls); runtime/ no
other layer, no LLVM and no fmt (trainers link only the runtime). tools/,
tests/ and bench/ may include everything. LLVM's headers are allowed in
codegen/ only. The build enforces the same rules through per-library include
directories (CMakeLists.txt, adj_layer_headers); this check names the file
and line, and also catches relative includes ("../ir/IR.h").

Usage: scripts/check-layering.py [SOURCE_ROOT]   (default: the repository)
"""
import os
import re
import sys

# Layer -> the layers and libraries (LLVM, fmt) it may include, besides
# itself. Layers not listed (tools, tests, bench) are unrestricted.
ALLOWED = {
    "ir": {"fmt"},
    "frontend": {"ir", "fmt"},
    "passes": {"ir", "fmt"},
    "codegen": {"ir", "runtime", "LLVM", "fmt"},
    "runtime": set(),
}
LAYERS = {"ir", "frontend", "passes", "codegen", "runtime", "tools", "tests",
          "bench"}
# Libraries checked like layers (any other, e.g. the C++ library, is fine).
EXTERNAL = {"llvm": "LLVM", "llvm-c": "LLVM", "fmt": "fmt"}
SUFFIXES = (".h", ".cpp", ".def", ".inc", ".c")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def target_layer(root, src_dir, delim, path):
    """The layer (or external library) an include names, or None."""
    if delim == '"' and (path.startswith("./") or path.startswith("../")):
        full = os.path.normpath(os.path.join(src_dir, path))
        rel = os.path.relpath(full, root)
        first = rel.split(os.sep)[0]
        return first if first in LAYERS else None
    first = path.split("/")[0]
    if first in EXTERNAL and "/" in path:
        return EXTERNAL[first]
    if first in LAYERS and "/" in path:
        return first
    return None


def check(root):
    violations = []
    for layer in sorted(ALLOWED):
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, layer)):
            dirnames.sort()
            for name in sorted(filenames):
                if not name.endswith(SUFFIXES):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                with open(path, encoding="utf-8", errors="replace") as f:
                    for lineno, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        to = target_layer(root, dirpath, m.group(1),
                                          m.group(2))
                        if to is None or to == layer:
                            continue
                        if to not in ALLOWED[layer]:
                            what = to if to in ("LLVM", "fmt") else to + "/"
                            violations.append(
                                f"{rel}:{lineno}: {layer}/ may not include "
                                f"{what} ({m.group(2)})")
    return violations


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                           os.path.join(os.path.dirname(__file__), ".."))
    violations = check(root)
    for v in violations:
        print(v)
    if violations:
        print(f"check-layering: {len(violations)} forbidden include(s)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
