#!/usr/bin/env bash
# Does data-parallel training reach the accuracy of one process? For every
# example, 2 MPI ranks at the model's batch B per rank (global 2B) against
# 1 process at --batch 2B, same seed, one thread per rank, a shortened run
# (EPOCHS epochs, or STEPS steps for the language models). The Fashion-MNIST
# models train on the 10,000-image subset in data/fashion-mnist-10k. Prints
# the test loss and metric of both runs. Env: BUILD_DIR (build), EPOCHS (1),
# STEPS (150), EXAMPLES (all of examples/*.adj).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
EPOCHS=${EPOCHS:-1}
STEPS=${STEPS:-150}
EXAMPLES=${EXAMPLES:-$(cd examples && for f in *.adj; do echo "${f%.adj}"; done)}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
F=data/fashion-mnist-10k
FASHION="--data train.x=$F/train-images-idx3-ubyte.gz:scale=1/255 --data train.y=$F/train-labels-idx1-ubyte.gz --data test.x=$F/t10k-images-idx3-ubyte.gz:scale=1/255 --data test.y=$F/t10k-labels-idx1-ubyte.gz"
metric() { /usr/bin/python3 -c "import json; r = json.load(open('$1')); \
m = ' '.join('%s %.4f' % kv for kv in r['metrics'].items()); \
print('test_loss %.4f %s (%d steps, %.0f samples/s)' % (r['test_loss'], m, r['steps'], r['samples_per_sec']))"; }
for e in $EXAMPLES; do
  m=examples/$e.adj
  b=$(sed -n 's/^ *batch *= *\([0-9]*\).*/\1/p' "$m" | head -1)
  args="--epochs $EPOCHS"
  case $e in char_*) args="--steps $STEPS" ;; esac
  case $e in fashion_*) args="$args $FASHION" ;; esac
  "$BUILD_DIR/bin/adjc" "$m" -o "$OUT/$e" --mpi
  # shellcheck disable=SC2086
  "$OUT/$e" $args --batch $((2 * b)) --threads 1 --quiet --report "$OUT/one.json"
  # shellcheck disable=SC2086
  mpirun --allow-run-as-root --oversubscribe -np 2 "$OUT/$e" $args --batch "$b" \
    --threads 1 --quiet --report "$OUT/two.json"
  echo "$e: 1 process, batch $((2 * b)):  $(metric "$OUT/one.json")"
  echo "$e: 2 ranks, batch $b each:    $(metric "$OUT/two.json")"
done
