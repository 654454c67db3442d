#!/usr/bin/env bash
# GEMM benchmark: Adjoint's JIT-compiled f32 matmul (build/bin/adj-gemm-bench)
# against numpy on OpenBLAS (/usr/bin/python3, bench/gemm_numpy.py) for the
# same shapes, at 1 and 2 threads, and a table of GFLOP/s and ratios.
#
#   bench/gemm.sh [MxKxN ...]     (default: 64x784x256 128x1024x1024
#                                  512x512x512 1024x1024x1024 2048x2048x2048)
#   THREADS="1 2" BUILD_DIR=build
#   CPU_TIME=1: time by CPU time and report the fastest run on both sides
#   (with THREADS=1: steadier when other jobs share the machine)
#
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE from the caller are dropped, so
# OpenBLAS runs the best kernels for the host (bench/baseline_env.sh); with
# AVX2=1 (and ADJ_CPU for Adjoint, see bench/run.sh) its Haswell (AVX2) ones.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
THREADS=${THREADS:-"1 2"}
BENCH=$BUILD_DIR/bin/adj-gemm-bench
if [ ! -x "$BENCH" ]; then
  echo "gemm.sh: $BENCH missing; run scripts/build.sh" >&2
  exit 1
fi
TIMING=()
[ "${CPU_TIME:-0}" = 1 ] && TIMING=(--cpu-time)
SHAPES=("$@")
if [ ${#SHAPES[@]} -eq 0 ]; then
  SHAPES=(64x784x256 128x1024x1024 512x512x512 1024x1024x1024 2048x2048x2048)
fi

# shellcheck source=bench/baseline_env.sh
. bench/baseline_env.sh
OURS=$(mktemp) NP=$(mktemp)
trap 'rm -f "$OURS" "$NP"' EXIT
for T in $THREADS; do
  "$BENCH" --threads "$T" ${TIMING[@]+"${TIMING[@]}"} "${SHAPES[@]}" >>"$OURS"
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ${BASELINE_ENV[@]+"${BASELINE_ENV[@]}"} \
    OPENBLAS_NUM_THREADS="$T" \
    OMP_NUM_THREADS="$T" /usr/bin/python3 bench/gemm_numpy.py ${TIMING[@]+"${TIMING[@]}"} "${SHAPES[@]}" \
    >>"$NP"
done

echo "GEMM f32 C = A @ B, GFLOP/s ($([ ${#TIMING[@]} -gt 0 ] && echo "fastest, CPU time" || echo median)), $(date -u +%Y-%m-%d), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| M x K x N | threads | adjoint | openblas | ratio | target (issue 17: 1 thread >= 0.95x) |"
echo "|---|---|---|---|---|---|"
# Join the two result files on (M, K, N, threads).
awk 'NR == FNR { np[$1" "$2" "$3" "$4] = $6; next }
     { key = $1" "$2" "$3" "$4; o = np[key]; r = (o > 0 ? $6 / o : 0);
       t = ($4 == 1 ? (r >= 0.95 ? "met" : "NOT MET") : "");
       printf "| %sx%sx%s | %s | %.1f | %.1f | %.2fx | %s |\n", $1, $2, $3, $4,
              $6, o, r, t }' "$NP" "$OURS"
