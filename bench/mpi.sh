#!/usr/bin/env bash
# Data-parallel training on this machine: 1 vs 2 MPI ranks x 1 vs 2 threads
# per rank, for three examples built with `adjc MODEL -o TRAINER --mpi`:
#   mnist  examples/mnist_mlp.adj   784-256-128-10 MLP, batch 64, Adam, data/mnist-10k
#   cnn    examples/fashion_cnn.adj conv 16/32 + BN + fc 1568-256-10, batch 64,
#          Adam, data/fashion-mnist-10k
#   lstm   examples/char_lstm.adj   Embedding(256,64) + LSTM(64,256) + Linear, batch
#          32, T = 64, Adam, data/text/fortunes.txt
# --batch is per rank (as in PyTorch DDP): 2 ranks train a global batch twice
# the model's. Each cell prints the global training samples/s of the report
# (rank 0's training time, every rank's samples), the seconds per step, and
# rank 0's mean time in the gradient all-reduce per step
# (allreduce_seconds_per_step; it includes waiting for the slower rank).
# Cells run REPS times (median). 2 ranks x 2 threads oversubscribe the 2
# cores. Then bench/allreduce_bench.c times MPI_Allreduce alone (after a
# barrier, so without the wait for the slower rank) on 2 ranks for the
# models' packed gradient sizes (1 + parameter count). Env: REPS (1), BUILD_DIR (build), WORKLOADS ("mnist cnn lstm"),
# STEPS_MNIST (250), STEPS_CNN (60), STEPS_LSTM (40).
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${REPS:-1}
BUILD_DIR=${BUILD_DIR:-build}
WORKLOADS=${WORKLOADS:-mnist cnn lstm}
ADJC=$BUILD_DIR/bin/adjc
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
MPIRUN=(mpirun --allow-run-as-root --oversubscribe --bind-to none)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
F=data/fashion-mnist-10k
declare -A MODEL=([mnist]=examples/mnist_mlp.adj [cnn]=examples/fashion_cnn.adj
                  [lstm]=examples/char_lstm.adj)
declare -A ARGS=(
  [mnist]="--steps ${STEPS_MNIST:-250}"
  [cnn]="--steps ${STEPS_CNN:-60} --data train.x=$F/train-images-idx3-ubyte.gz:scale=1/255 --data train.y=$F/train-labels-idx1-ubyte.gz --data test.x=$F/t10k-images-idx3-ubyte.gz:scale=1/255 --data test.y=$F/t10k-labels-idx1-ubyte.gz"
  [lstm]="--steps ${STEPS_LSTM:-40}")
declare -A BATCH=([mnist]=64 [cnn]=64 [lstm]=32)

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "workload ranks threads global_batch samples/s s/step allreduce_ms/step"
for w in $WORKLOADS; do
  "$ADJC" "${MODEL[$w]}" -o "$OUT/$w" --mpi
  for ranks in 1 2; do
    for threads in 1 2; do
      rates=() ; reds=()
      for ((i = 0; i < REPS; ++i)); do
        # shellcheck disable=SC2086
        "${MPIRUN[@]}" -np $ranks "$OUT/$w" ${ARGS[$w]} --threads $threads \
          --quiet --report "$OUT/r.json" > /dev/null
        read -r rate red < <(/usr/bin/python3 -c "import json; r = json.load(open('$OUT/r.json')); \
print(r['samples_per_sec'], 1000 * r.get('allreduce_seconds_per_step', 0))")
        rates+=("$rate"); reds+=("$red")
      done
      rate=$(printf '%s\n' "${rates[@]}" | median)
      red=$(printf '%s\n' "${reds[@]}" | median)
      gb=$((BATCH[$w] * ranks))
      printf '%s %d %d %d %.0f %.4f %.3f\n' "$w" "$ranks" "$threads" "$gb" \
        "$rate" "$(awk "BEGIN { print $gb / $rate }")" "$red"
    done
  done
done

mpicc -O2 bench/allreduce_bench.c -o "$OUT/allreduce_bench"
"${MPIRUN[@]}" --mca mpi_yield_when_idle 0 -np 2 "$OUT/allreduce_bench" \
  235147 409131 411905
