#!/usr/bin/env bash
# Configures and builds Adjoint into ${BUILD_DIR:-build} (tools in build/bin).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -G Ninja -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-Release}
fi
cmake --build "$BUILD_DIR" -j "${JOBS:-$(nproc)}"
