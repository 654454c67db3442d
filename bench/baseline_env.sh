# Sourced by bench/run.sh and bench/gemm.sh: the environment of the
# baseline side (PyTorch, numpy on OpenBLAS), in the array BASELINE_ENV.
#
# AVX2=1 pins the baselines to what an AVX2-only machine runs (OpenBLAS's
# Haswell kernels, PyTorch's avx2 capability, oneDNN's AVX2 kernels).
# PyTorch runs its convolutions in oneDNN (2.6 in PyTorch 1.13), which
# ignores ATEN_CPU_CAPABILITY and dispatches on the CPU it finds: on an
# AVX-512 host it ran its avx512_core kernels (DNNL_VERBOSE=1 shows
# "jit:avx512_core"), 13-20% faster on the CNNs than its AVX2 kernels.
# DNNL_MAX_CPU_ISA=AVX2 caps it ("jit:avx2"); oneDNN 2.6 reads
# ONEDNN_MAX_CPU_ISA as well (either alone gives "jit:avx2"), set too so
# that newer builds, which prefer that name, are capped.
#
# Otherwise the baselines get the best OpenBLAS kernels for this host: Debian 12's OpenBLAS (0.3.21)
# does not know every newer CPU and falls back to its SSE3 "Prescott"
# kernels on them (seen on a Sapphire Rapids Xeon, 31 instead of ~120
# GFLOP/s), which would flatter every ratio against it. When it picks an
# older core than the host supports, OPENBLAS_CORETYPE names the right one
# (SkylakeX with AVX-512, Haswell with AVX2). PyTorch keeps its own default
# capability (AVX2 in 1.13, also on AVX-512 hosts).
BASELINE_ENV=()
if [ "${AVX2:-0}" = 1 ]; then
  BASELINE_ENV=(OPENBLAS_CORETYPE=Haswell ATEN_CPU_CAPABILITY=avx2
    DNNL_MAX_CPU_ISA=AVX2 ONEDNN_MAX_CPU_ISA=AVX2)
else
  openblas_core=$(env -u OPENBLAS_CORETYPE OPENBLAS_VERBOSE=2 /usr/bin/python3 \
    -c 'import numpy' 2>&1 | sed -n 's/^Core: //p' | head -n 1)
  want=
  if grep -qw avx512f /proc/cpuinfo; then
    want=SkylakeX
  elif grep -qw avx2 /proc/cpuinfo; then
    want=Haswell
  fi
  case $openblas_core in
  "" | SkylakeX | CooperLake | SapphireRapids | Zen | Haswell)
    # Known good (Zen and Haswell use the same AVX2 kernels); on an
    # AVX-512 host, Haswell is still below SkylakeX.
    if [ "$want" = SkylakeX ] && [ "$openblas_core" = Haswell ]; then
      BASELINE_ENV=(OPENBLAS_CORETYPE=SkylakeX)
    fi
    ;;
  *)
    [ -n "$want" ] && BASELINE_ENV=(OPENBLAS_CORETYPE=$want)
    ;;
  esac
  if [ ${#BASELINE_ENV[@]} -gt 0 ]; then
    echo "baselines: OpenBLAS picks '$openblas_core' on this host; pinned with ${BASELINE_ENV[*]}" >&2
  fi
fi
