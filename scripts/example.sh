#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and trains
# examples/mnist_mlp.adj on data/mnist-10k, printing the test accuracy.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/build.sh
BUILD_DIR=${BUILD_DIR:-build}
"$BUILD_DIR/bin/adjc" examples/mnist_mlp.adj --run --epochs 5 \
  --report "$BUILD_DIR/mnist-report.json"
echo "report: $BUILD_DIR/mnist-report.json"
