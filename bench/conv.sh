#!/usr/bin/env bash
# Convolution benchmark: Adjoint (adjc --run, JIT) against PyTorch
# (bench/conv_torch.py) on
#   conv1  mean(conv2d(x, w 32x1x5x5, 'same')) on x [N,1,28,28]    (TF-tutorial CNN layer 1)
#   conv2  mean(conv2d(x * s, w 64x32x5x5, 'same')) on [N,32,14,14] (layer 2, with dx)
#   cnn    examples/mnist_cnn.adj and its twin
#   tfcnn  bench/tf_cnn.adj (the TF-tutorial CNN) and its twin
# each a forward + backward + Adam step at batch 64 on random data (cnn:
# MNIST), REPS runs per cell ALTERNATING adjoint and pytorch, printing the
# median train samples/s of each, the ratio, and the 2-vs-1 thread scaling.
# Env: REPS (3), THREADS ("1 2"), WORKLOADS ("conv1 conv2 cnn tfcnn"), EPOCHS (1),
#      BUILD_DIR (build), AVX2=1 (Adjoint for ADJ_CPU=znver3, PyTorch avx2).
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${REPS:-3}
THREADS=${THREADS:-1 2}
WORKLOADS=${WORKLOADS:-conv1 conv2 cnn tfcnn}
EPOCHS=${EPOCHS:-1}
ADJC=${BUILD_DIR:-build}/bin/adjc
BASE_ENV=()
if [ "${AVX2:-0}" = 1 ]; then
  export ADJ_CPU=${ADJ_CPU:-znver3}
  # oneDNN (PyTorch's convolutions) capped too: bench/baseline_env.sh.
  BASE_ENV=(ATEN_CPU_CAPABILITY=avx2 DNNL_MAX_CPU_ISA=AVX2 ONEDNN_MAX_CPU_ISA=AVX2)
fi
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
THREADS=1 /usr/bin/python3 bench/conv_torch.py data "$OUT"
layer() { # NAME IN_SHAPE W_SHAPE EXPR [EXTRA PARAM]
  printf 'model %s\ninput x : f32[N, %s]\nparam w : f32[%s] = he_normal\n%s\nloss mean(%s)\ntrain {\n  optimizer = adam(lr = 0.001)\n  batch = 64\n}\ndata {\n  train x = npy("%s.npy")\n}\n' \
    "$1" "$2" "$3" "${5:-}" "$4" "${1/conv/x}" > "$OUT/$1.adj"
}
layer conv1 "1, 28, 28" "32, 1, 5, 5" 'conv2d(x, w, padding = "same")'
layer conv2 "32, 14, 14" "64, 32, 5, 5" 'conv2d(x * s, w, padding = "same")' \
  'param s : f32[32, 1, 1] = ones'

# samples_per_sec of a report (adjc's file) or of the last line (PyTorch's).
sps() { /usr/bin/python3 -c 'import json,sys
s = sys.stdin.read().strip()
print(json.loads(s if s.startswith("{\n") else s.splitlines()[-1])["samples_per_sec"])'; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A MED
for w in $WORKLOADS; do
  for t in $THREADS; do
    : > "$OUT/a" && : > "$OUT/p"
    for _ in $(seq "$REPS"); do
      if [ "$w" = cnn ] || [ "$w" = tfcnn ]; then
        m=examples/mnist_cnn.adj && [ "$w" = tfcnn ] && m=bench/tf_cnn.adj
        "$ADJC" "$m" --run --epochs "$EPOCHS" --threads "$t" --quiet --report "$OUT/r.json"
        env "${BASE_ENV[@]}" THREADS=$t /usr/bin/python3 bench/conv_torch.py "$w" "$EPOCHS" | sps >> "$OUT/p"
      else
        "$ADJC" "$OUT/$w.adj" --run --epochs "$EPOCHS" --threads "$t" --quiet --report "$OUT/r.json"
        env "${BASE_ENV[@]}" THREADS=$t /usr/bin/python3 bench/conv_torch.py "$w" "$OUT" "$EPOCHS" | sps >> "$OUT/p"
      fi
      sps < "$OUT/r.json" >> "$OUT/a"
    done
    MED[$w.$t.a]=$(median < "$OUT/a")
    MED[$w.$t.p]=$(median < "$OUT/p")
  done
done
printf '%-6s %-7s %12s %12s %7s\n' workload threads adjoint pytorch ratio
for w in $WORKLOADS; do
  for t in $THREADS; do
    a=${MED[$w.$t.a]} p=${MED[$w.$t.p]}
    printf '%-6s %-7s %12.0f %12.0f %7.2f\n' "$w" "$t" "$a" "$p" "$(echo "$a / $p" | bc -l)"
  done
  if [ -n "${MED[$w.1.a]:-}" ] && [ -n "${MED[$w.2.a]:-}" ]; then
    printf '%-6s 2 vs 1 threads: adjoint %.2fx, pytorch %.2fx\n' "$w" \
      "$(echo "${MED[$w.2.a]} / ${MED[$w.1.a]}" | bc -l)" "$(echo "${MED[$w.2.p]} / ${MED[$w.1.p]}" | bc -l)"
  fi
done
