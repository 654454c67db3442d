#!/usr/bin/env bash
# Side-by-side benchmark: Adjoint (adjc --run) and PyTorch train the same
# models in one run on this machine -- the MNIST MLP with 1 and 2 threads
# and a tiny 2-16-16-2 MLP at batch 32 with 1 (bench/tiny_mlp.adj, data
# written by bench/tiny_data.py, pure per-step overhead); prints both
# reports and the samples/s ratios. Needs a build (scripts/build.sh); installs
# Debian's python3-torch (for /usr/bin/python3) and OpenBLAS (without it
# torch falls back to the reference BLAS, ~20x slower) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
for p in python3-torch libopenblas0-pthread; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p"; }
done
EPOCHS=${EPOCHS:-5}
BUILD_DIR=${BUILD_DIR:-build}
OUT=$(mktemp -d)
/usr/bin/python3 bench/tiny_data.py bench/tiny-data

# compare NAME THREADS ADJ_MODEL TORCH_SCRIPT [TORCH_ARGS...]: one model both
# ways, once per thread count in THREADS ("1" or "1 2"; Adjoint's --threads,
# PyTorch's torch.set_num_threads), a column pair per count.
compare() {
  local name=$1 threads=$2 model=$3 script=$4
  shift 4
  local reports=()
  for t in $threads; do
    "$BUILD_DIR/bin/adjc" "$model" --run --epochs "$EPOCHS" --threads "$t" \
      --quiet --report "$OUT/$name.$t.adjoint.json"
    # OPENBLAS_CORETYPE/L2_SIZE may be set on this machine for old OpenBLAS
    # builds; they slow the current one, so they are unset for PyTorch alone.
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE THREADS="$t" \
      /usr/bin/python3 "$script" "$EPOCHS" "$@" > "$OUT/$name.$t.torch.json"
    reports+=("$t" "$OUT/$name.$t.adjoint.json" "$OUT/$name.$t.torch.json")
  done
  /usr/bin/python3 - "$name" "${reports[@]}" <<'PY'
import json, sys
name, rest = sys.argv[1], sys.argv[2:]
runs = [(rest[i], json.load(open(rest[i + 1])), json.load(open(rest[i + 2])))
        for i in range(0, len(rest), 3)]
print(f"== {name}")
head = "".join(f"{'adjoint ' + t + 't':>14}{'pytorch ' + t + 't':>14}" for t, _, _ in runs)
print(f"{'':24}{head}")
def row(label, get, fmt):
    cells = "".join(f"{get(a):>14{fmt}}{get(t):>14{fmt}}" for _, a, t in runs)
    print(f"{label:24}{cells}")
row("test accuracy", lambda r: r["metrics"]["accuracy"], ".4f")
row("test loss", lambda r: r["test_loss"], ".4f")
row("train samples/s", lambda r: r["samples_per_sec"], ".0f")
print(f"{'compile seconds':24}" + "".join(f"{a['compile_seconds']:>14.3f}{'-':>14}" for _, a, _ in runs))
for t, a, p in runs:
    print(f"speed ratio adjoint/pytorch, {t} thread(s): {a['samples_per_sec'] / p['samples_per_sec']:.2f}x")
if len(runs) > 1:
    (t0, a0, p0), (t1, a1, p1) = runs[0], runs[-1]
    print(f"scaling {t0} -> {t1} threads: adjoint {a1['samples_per_sec'] / a0['samples_per_sec']:.2f}x, "
          f"pytorch {p1['samples_per_sec'] / p0['samples_per_sec']:.2f}x")
PY
}

compare "mnist_mlp 784-256-128-10, batch 64" "1 2" examples/mnist_mlp.adj bench/mnist_torch.py
compare "tiny_mlp 2-16-16-2, batch 32" 1 bench/tiny_mlp.adj bench/tiny_torch.py bench/tiny-data
