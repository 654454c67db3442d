#!/usr/bin/env bash
# Side-by-side benchmark: Adjoint (adjc --run) and PyTorch train the same
# MNIST MLP in one run on this machine, one thread each; prints both
# reports and the samples/s ratio. Needs a build (scripts/build.sh); installs
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
"$BUILD_DIR/bin/adjc" examples/mnist_mlp.adj --run --epochs "$EPOCHS" --quiet \
  --report "$OUT/adjoint.json"
# OPENBLAS_CORETYPE/L2_SIZE may be set on this machine for old OpenBLAS
# builds; they slow the current one, so they are unset for PyTorch alone.
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE THREADS=1 \
  /usr/bin/python3 bench/mnist_torch.py "$EPOCHS" > "$OUT/torch.json"
/usr/bin/python3 - "$OUT/adjoint.json" "$OUT/torch.json" <<'PY'
import json, sys
a = json.load(open(sys.argv[1])); t = json.load(open(sys.argv[2]))
print(f"{'':24}{'adjoint':>14}{'pytorch':>14}")
print(f"{'test accuracy':24}{a['metrics']['accuracy']:>14.4f}{t['metrics']['accuracy']:>14.4f}")
print(f"{'test loss':24}{a['test_loss']:>14.4f}{t['test_loss']:>14.4f}")
print(f"{'train samples/s':24}{a['samples_per_sec']:>14.0f}{t['samples_per_sec']:>14.0f}")
print(f"{'compile seconds':24}{a['compile_seconds']:>14.3f}{'-':>14}")
print(f"speed ratio adjoint/pytorch: {a['samples_per_sec'] / t['samples_per_sec']:.2f}x")
PY
