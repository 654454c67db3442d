#!/usr/bin/env bash
# The README's second command: installs what is missing, builds, and runs
# every test (GoogleTest units and lit + FileCheck) with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/build.sh
BUILD_DIR=${BUILD_DIR:-build}
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "${JOBS:-$(nproc)}"
