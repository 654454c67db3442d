#!/usr/bin/env bash
# Side-by-side benchmark: Adjoint (adjc --run) and PyTorch train the same
# models in one run on this machine, one thread each -- the MNIST MLP and a
# tiny 2-16-16-2 MLP at batch 32 (bench/tiny_mlp.adj, data written by
# bench/tiny_data.py, pure per-step overhead); prints both reports and the
# samples/s ratio for each. Needs a build (scripts/build.sh); installs
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

# compare NAME ADJ_MODEL TORCH_SCRIPT [TORCH_ARGS...]: one model both ways.
compare() {
  local name=$1 model=$2 script=$3
  shift 3
  "$BUILD_DIR/bin/adjc" "$model" --run --epochs "$EPOCHS" --quiet \
    --report "$OUT/$name.adjoint.json"
  # OPENBLAS_CORETYPE/L2_SIZE may be set on this machine for old OpenBLAS
  # builds; they slow the current one, so they are unset for PyTorch alone.
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE THREADS=1 \
    /usr/bin/python3 "$script" "$EPOCHS" "$@" > "$OUT/$name.torch.json"
  /usr/bin/python3 - "$name" "$OUT/$name.adjoint.json" "$OUT/$name.torch.json" <<'PY'
import json, sys
a = json.load(open(sys.argv[2])); t = json.load(open(sys.argv[3]))
print(f"== {sys.argv[1]}")
print(f"{'':24}{'adjoint':>14}{'pytorch':>14}")
print(f"{'test accuracy':24}{a['metrics']['accuracy']:>14.4f}{t['metrics']['accuracy']:>14.4f}")
print(f"{'test loss':24}{a['test_loss']:>14.4f}{t['test_loss']:>14.4f}")
print(f"{'train samples/s':24}{a['samples_per_sec']:>14.0f}{t['samples_per_sec']:>14.0f}")
print(f"{'compile seconds':24}{a['compile_seconds']:>14.3f}{'-':>14}")
print(f"speed ratio adjoint/pytorch: {a['samples_per_sec'] / t['samples_per_sec']:.2f}x")
PY
}

compare "mnist_mlp 784-256-128-10, batch 64" examples/mnist_mlp.adj bench/mnist_torch.py
compare "tiny_mlp 2-16-16-2, batch 32" bench/tiny_mlp.adj bench/tiny_torch.py bench/tiny-data
