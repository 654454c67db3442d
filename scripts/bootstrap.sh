#!/usr/bin/env bash
# Installs the Debian 12 packages Adjoint needs, if any are missing
# (idempotent: does nothing when all are present). dataset-fashion-mnist
# holds the full Fashion-MNIST that examples/fashion_cnn.adj trains on;
# fortunes the English text (/usr/share/games/fortunes/) the character
# language models train on; openmpi-bin and libopenmpi-dev data-parallel
# trainers (adjc --mpi) and their tests. clang-16 and libclang-rt-16-dev
# build the sanitizer suites and the libFuzzer targets (scripts/sanitize.sh,
# fuzz.sh).
set -euo pipefail
PKGS="cmake ninja-build g++ llvm-16-dev llvm-16-tools libfmt-dev libgtest-dev
  zlib1g-dev nlohmann-json3-dev libcli11-dev libedit-dev python3 clang-tidy
  clang-format dataset-fashion-mnist fortunes openmpi-bin libopenmpi-dev
  clang-16 libclang-rt-16-dev"
missing=()
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "bootstrap: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
