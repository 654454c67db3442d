"""Round-trips every examples/*.adj through the IR text at every stage.

For each model and stage S in ir, grad, opt: `adjc MODEL --emit=S` gives A,
`adj-opt A` gives B, and B must equal A byte for byte (print(parse(print(x)))
is the identity); piping A through `adj-opt -` twice must also give A.
Prints one line per model and stage; exits 1 at the first difference.

Usage: roundtrip.py ADJC ADJ_OPT EXAMPLES_DIR
"""
import difflib
import glob
import os
import subprocess
import sys


def run(cmd, stdin=None):
    p = subprocess.run(cmd, input=stdin, capture_output=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n"
                 + p.stderr.decode(errors="replace"))
    return p.stdout


def same(a, b, what):
    if a == b:
        return
    diff = difflib.unified_diff(a.decode().splitlines(), b.decode().splitlines(),
                                "adjc", what, lineterm="")
    sys.exit(f"{what} differs:\n" + "\n".join(diff))


def main():
    adjc, adj_opt, examples = sys.argv[1:4]
    models = sorted(glob.glob(os.path.join(examples, "*.adj")))
    if not models:
        sys.exit(f"no models in {examples}")
    for model in models:
        name = os.path.basename(model)
        for stage in ("ir", "grad", "opt"):
            a = run([adjc, model, f"--emit={stage}"])
            same(a, run([adj_opt, "-"], a), f"adj-opt of {name} --emit={stage}")
            twice = run([adj_opt, "-"], run([adj_opt, "-"], a))
            same(a, twice, f"adj-opt | adj-opt of {name} --emit={stage}")
            print(f"{name} {stage} ok")


main()
