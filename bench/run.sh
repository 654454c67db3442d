#!/usr/bin/env bash
# Side-by-side benchmark of Adjoint's native trainers (`adjc MODEL -o`) and
# the same programs in PyTorch, in one run on this machine. Workloads:
#   tiny   bench/tiny_mlp.adj      2-16-16-2 tanh MLP, batch 32, Adam (bench/tiny_torch.py)
#   mnist  examples/mnist_mlp.adj  784-256-128-10 ReLU MLP, batch 64, Adam (bench/mnist_torch.py)
#   wide   bench/wide_mlp.adj      784-1024-1024-10 ReLU MLP, batch 128, SGD (bench/wide_torch.py)
#   lenet  bench/lenet5.adj        LeNet-5, batch 64, Adam (bench/lenet5_torch.py)
#   tfcnn  bench/tf_tutorial_cnn.adj  TensorFlow-tutorial CNN (conv 32/64 5x5, 3136-1024
#          dropout 0.4), batch 64, Adam (bench/tf_tutorial_cnn_torch.py)
#   lstm128 lstm256 gru128 gru256  bench/char_{lstm,gru}{128,256}.adj  byte-level
#          language models Embedding(256, 64) + LSTM/GRU(64, H) + Linear(H, 256),
#          batch 32, T = 64, Adam, on data/text/fortunes.txt (bench/char_rnn_torch.py)
# each at 1 and 2 threads, REPS runs per cell with adjoint and pytorch runs
# ALTERNATING (so load changes hit both), reporting the MEDIAN train
# samples/s, the ratios, 2-vs-1 thread scaling, the JIT compile times of the
# MNIST (and TF CNN) training steps, the MNIST model's time to first step
# (cold, and with one compile thread) and object-cache hit, and the targets of
# issues 12, 13 and 17 (met / not met). The CNNs
# train a fixed number of steps (--steps) and evaluate on the first TEST_CNN
# test digits; the language models train STEPS_RNN steps and are reported in
# tokens/s (samples/s x 64), with the cold JIT compile time and op count of
# the LSTM step at T = 16 and T = 1024 (variants of bench/char_lstm128.adj).
# Then runs
# bench/gemm.sh when present. See bench/README.md.
#
# Env: REPS (3), THREADS ("1 2"),
#      WORKLOADS ("tiny mnist wide lenet tfcnn lstm128 lstm256 gru128 gru256"),
#      EPOCHS_TINY (5), EPOCHS_MNIST (5), EPOCHS_WIDE (1), STEPS_LENET (300),
#      STEPS_TFCNN (50), STEPS_RNN (50), TEST_CNN (512), BUILD_DIR (build),
#      NO_GEMM=1 skips bench/gemm.sh,
#      AVX2=1 measures the AVX2 path on an AVX-512 host: Adjoint's code for
#      ADJ_CPU (default znver3), OpenBLAS forced to its Haswell (AVX2)
#      kernels and PyTorch to ATEN_CPU_CAPABILITY=avx2, so both sides run
#      what an AVX2-only machine runs. Without it the baselines get the best
#      OpenBLAS kernels for the host (bench/baseline_env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
for p in python3-torch libopenblas0-pthread; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p"; }
done
if [ "${AVX2:-0}" = 1 ]; then
  export ADJ_CPU=${ADJ_CPU:-znver3}
  echo "AVX2 path: ADJ_CPU=$ADJ_CPU" >&2
fi
# shellcheck source=bench/baseline_env.sh
. bench/baseline_env.sh
export AVX2=${AVX2:-0}
REPS=${REPS:-3}
THREADS=${THREADS:-1 2}
WORKLOADS=${WORKLOADS:-tiny mnist wide lenet tfcnn lstm128 lstm256 gru128 gru256}
STEPS_LENET=${STEPS_LENET:-300}
STEPS_TFCNN=${STEPS_TFCNN:-50}
STEPS_RNN=${STEPS_RNN:-50}
TEST_CNN=${TEST_CNN:-512}
BUILD_DIR=${BUILD_DIR:-build}
[ -x "$BUILD_DIR/bin/adjc" ] || BUILD_DIR=$BUILD_DIR scripts/build.sh
ADJC=$BUILD_DIR/bin/adjc
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
/usr/bin/python3 bench/tiny_data.py bench/tiny-data
# The CNNs' test split: the first TEST_CNN test digits (and 64 for the
# compile-time runs), so evaluation does not outlast the timed training.
/usr/bin/python3 bench/test_subset.py "$OUT" "$TEST_CNN"
/usr/bin/python3 bench/test_subset.py "$OUT" 64
cnn_test() { echo "--data test.x=$OUT/test-images-$1.idx:scale=1/255 --data test.y=$OUT/test-labels-$1.idx"; }

model_of() { case $1 in tiny) echo bench/tiny_mlp.adj;; mnist) echo examples/mnist_mlp.adj;; wide) echo bench/wide_mlp.adj;;
                        lenet) echo bench/lenet5.adj;; tfcnn) echo bench/tf_tutorial_cnn.adj;;
                        lstm*|gru*) echo "bench/char_$1.adj";; esac; }
torch_of() { case $1 in tiny) echo "bench/tiny_torch.py ${EPOCHS_TINY:-5} bench/tiny-data";;
                        mnist) echo "bench/mnist_torch.py ${EPOCHS_MNIST:-5}";;
                        wide) echo "bench/wide_torch.py ${EPOCHS_WIDE:-1}";;
                        lenet) echo "bench/lenet5_torch.py $STEPS_LENET $TEST_CNN";;
                        tfcnn) echo "bench/tf_tutorial_cnn_torch.py $STEPS_TFCNN $TEST_CNN";;
                        lstm*) echo "bench/char_rnn_torch.py lstm ${1#lstm} $STEPS_RNN";;
                        gru*) echo "bench/char_rnn_torch.py gru ${1#gru} $STEPS_RNN";; esac; }
# The trainer's run length (and the CNNs' test subset). The PyTorch twins of
# the step-count workloads train WARMUP untimed steps before their timed ones
# (bench/torch_common.py: oneDNN builds its primitives and the allocator
# fills its caches on the first calls); the trainers get the same: WARMUP
# more steps, with --log, and their samples/s is taken from the log's
# per-step rates after the first WARMUP steps (the first step also faults
# in the GEMM scratch and the arena).
WARMUP=3
is_steps() { case $1 in lenet|tfcnn|lstm*|gru*) return 0;; *) return 1;; esac; }
length_of() { case $1 in tiny) echo "--epochs ${EPOCHS_TINY:-5}";; mnist) echo "--epochs ${EPOCHS_MNIST:-5}";;
                         wide) echo "--epochs ${EPOCHS_WIDE:-1}";;
                         lenet) echo "--steps $((STEPS_LENET + WARMUP)) $(cnn_test "$TEST_CNN")";;
                         tfcnn) echo "--steps $((STEPS_TFCNN + WARMUP)) $(cnn_test "$TEST_CNN")";;
                         lstm*|gru*) echo "--steps $((STEPS_RNN + WARMUP))";; esac; }

# Native trainers, built once (the compile is not part of the timing).
for w in $WORKLOADS; do
  "$ADJC" "$(model_of "$w")" -o "$OUT/$w.trainer"
done

# JIT compile time and time to the first step of the MNIST training step
# (`adjc --run`): cold (cache off) with the default compile threads and with
# one, and from a warm object cache (a cache of its own, filled by run 0).
ADJ_CACHE_DIR="$OUT/cache" "$ADJC" examples/mnist_mlp.adj --run --steps 1 --quiet
for r in $(seq "$REPS"); do
  ADJ_NO_CACHE=1 "$ADJC" examples/mnist_mlp.adj --run --steps 1 --quiet \
    --report "$OUT/compile.$r.json"
  ADJ_NO_CACHE=1 ADJ_COMPILE_THREADS=1 "$ADJC" examples/mnist_mlp.adj --run --steps 1 --quiet \
    --report "$OUT/compile1.$r.json"
  ADJ_CACHE_DIR="$OUT/cache" "$ADJC" examples/mnist_mlp.adj --run --steps 1 --quiet \
    --report "$OUT/cached.$r.json"
  # The TF CNN's training step, the same way (one step; 64 test digits).
  case " $WORKLOADS " in *" tfcnn "*)
    # shellcheck disable=SC2046
    ADJ_NO_CACHE=1 "$ADJC" bench/tf_tutorial_cnn.adj --run --steps 1 --quiet $(cnn_test 64) \
      --report "$OUT/compile-tfcnn.$r.json";; esac
done

# The LSTM language model's training step at T = 16 and T = 1024: the same
# model with its sequence length (the `i32[N, 64]` inputs and the text
# sources' `seq = 64`) replaced, the data path made absolute. Cold JIT
# compile time (cache off, one step) and the op count of --emit=opt (lines
# `%name = op ...`), which must not grow with T. The compiles of the two
# lengths ALTERNATE, as the training runs do: the work is the same (the
# LLVM IR differs only in constants), so a drift of the machine's load
# between a block of T = 16 runs and one of T = 1024 runs was all that the
# ratio measured.
RNN=0
for w in $WORKLOADS; do case $w in lstm*|gru*) RNN=1;; esac; done
if [ "$RNN" = 1 ]; then
  for T in 16 1024; do
    sed -e "s/i32\[N, 64\]/i32[N, $T]/" -e "s/seq = 64/seq = $T/" \
      -e "s|\"\.\./data/|\"$PWD/data/|" bench/char_lstm128.adj > "$OUT/lstm-t$T.adj"
    "$ADJC" "$OUT/lstm-t$T.adj" --emit=opt | grep -cE '^ *%[^ ]+ = ' > "$OUT/lstm-t$T.ops"
  done
  for r in $(seq "$REPS"); do
    for T in 16 1024; do
      ADJ_NO_CACHE=1 "$ADJC" "$OUT/lstm-t$T.adj" --run --steps 1 --quiet \
        --report "$OUT/compile-lstm-t$T.$r.json"
    done
  done
fi

for w in $WORKLOADS; do
  for t in $THREADS; do
    for r in $(seq "$REPS"); do
      echo "== $w, $t thread(s), run $r/$REPS" >&2
      # shellcheck disable=SC2046
      log=()
      is_steps "$w" && log=(--log "$OUT/$w.$t.$r.adjoint.csv")
      "$OUT/$w.trainer" $(length_of "$w") --threads "$t" --quiet "${log[@]}" \
        --report "$OUT/$w.$t.$r.adjoint.json"
      # OPENBLAS_CORETYPE/L2_SIZE may be set on this machine for old OpenBLAS
      # builds; they slow the current one, so they are unset for PyTorch alone.
      # torch.set_num_threads does not bound OpenBLAS's own threads (a
      # "1-thread" run used ~1.5 cores), so OPENBLAS_NUM_THREADS is set too.
      # shellcheck disable=SC2046
      env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ${BASELINE_ENV[@]+"${BASELINE_ENV[@]}"} \
        OPENBLAS_NUM_THREADS="$t" THREADS="$t" /usr/bin/python3 $(torch_of "$w") > "$OUT/$w.$t.$r.torch.json"
    done
  done
done

/usr/bin/python3 - "$OUT" "$REPS" "$THREADS" "$WORKLOADS" "$RNN" "$WARMUP" <<'PY'
import csv, json, os, statistics, sys
out, reps, threads, workloads = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4].split()
rnn, warmup = sys.argv[5] == "1", int(sys.argv[6])
is_rnn = lambda w: w.startswith(("lstm", "gru"))
med = statistics.median
def load(p):
    """A report; an Adjoint run with a --log gets its samples/s from the
    per-step rates after the warm-up steps (equal batches: their harmonic
    mean)."""
    r = json.load(open(p))
    log = p[:-len(".json")] + ".csv"
    if p.endswith(".adjoint.json") and os.path.exists(log):
        rates = [float(x["samples_per_sec"]) for x in csv.DictReader(open(log))
                 if x["kind"] == "step" and int(x["step"]) > warmup]
        r["samples_per_sec"] = len(rates) / sum(1 / x for x in rates)
    return r
names = {"tiny": "tiny 2-16-16-2 b32", "mnist": "mnist 784-256-128-10 b64", "wide": "wide 784-1024-1024-10 b128",
         "lenet": "lenet5 b64", "tfcnn": "tf cnn 32/64-1024 b64",
         "lstm128": "lstm H=128 b32 T=64", "lstm256": "lstm H=256 b32 T=64",
         "gru128": "gru H=128 b32 T=64", "gru256": "gru H=256 b32 T=64"}
R = {}
# The language models' rows are in tokens/s (samples/s x T = 64), in a table
# of their own; the others in samples/s.
for rows, unit, scale in (([w for w in workloads if not is_rnn(w)], "train samples/s", 1),
                          ([w for w in workloads if is_rnn(w)], "train tokens/s = samples/s x 64", 64)):
    if not rows:
        continue
    print(f"\nmedian of {reps} alternating runs ({unit}; native trainers vs PyTorch)\n")
    print(f"{'workload':28}{'thr':>4}{'adjoint':>12}{'pytorch':>12}{'ratio':>8}{'acc adj':>9}{'acc pt':>9}")
    for w in rows:
        for t in threads:
            a = [load(f"{out}/{w}.{t}.{r}.adjoint.json") for r in range(1, reps + 1)]
            p = [load(f"{out}/{w}.{t}.{r}.torch.json") for r in range(1, reps + 1)]
            sa, sp = med(x["samples_per_sec"] for x in a), med(x["samples_per_sec"] for x in p)
            R[w, t] = (sa, sp)
            print(f"{names[w]:28}{t:>4}{sa * scale:>12,.0f}{sp * scale:>12,.0f}{sa / sp:>7.2f}x"
                  f"{a[0]['metrics']['accuracy']:>9.4f}{p[0]['metrics']['accuracy']:>9.4f}")
field = lambda name, key: med(load(f"{out}/{name}.{r}.json")[key] for r in range(1, reps + 1))
comp = field("compile", "compile_seconds")
ttfs, ttfs1 = field("compile", "time_to_first_step"), field("compile1", "time_to_first_step")
hit = field("cached", "compile_seconds")
print(f"\nJIT compile of the MNIST training step (adjc --run, no cache): {comp * 1000:.0f} ms; "
      f"time to first step {ttfs * 1000:.0f} ms ({ttfs1 * 1000:.0f} ms with one compile thread); "
      f"from the object cache {hit * 1000:.1f} ms")
comp_cnn = None
if "tfcnn" in workloads:
    comp_cnn = med(load(f"{out}/compile-tfcnn.{r}.json")["compile_seconds"] for r in range(1, reps + 1))
    print(f"JIT compile of the TF CNN training step (adjc --run, no cache): {comp_cnn * 1000:.0f} ms")
comp_t = {}
if rnn:
    for T in (16, 1024):
        comp_t[T] = (med(load(f"{out}/compile-lstm-t{T}.{r}.json")["compile_seconds"] for r in range(1, reps + 1)),
                     int(open(f"{out}/lstm-t{T}.ops").read()))
        print(f"JIT compile of the LSTM H=128 training step at T = {T} (adjc --run, no cache): "
              f"{comp_t[T][0] * 1000:.0f} ms, {comp_t[T][1]} ops in --emit=opt")
for w in workloads:
    if (w, "1") in R and (w, "2") in R:
        print(f"2 vs 1 threads, {w}: adjoint {R[w, '2'][0] / R[w, '1'][0]:.2f}x, "
              f"pytorch {R[w, '2'][1] / R[w, '1'][1]:.2f}x")
print("\ntargets")
def target(label, value, goal, unit="x"):
    ok = value >= goal if unit == "x" else value <= goal
    fmt = f"{value:.2f}x" if unit == "x" else f"{value * 1000:.1f} ms"
    gfmt = f">= {goal}x" if unit == "x" else f"<= {goal * 1000:.0f} ms"
    print(f"  {label:52}{fmt:>10}  ({gfmt})  {'met' if ok else 'NOT MET'}")
ratio = lambda w, t: R[w, t][0] / R[w, t][1]
# Issue 17's targets (the MLPs, the first step, the cache) and issue 12's (CNNs).
if ("tiny", "1") in R: target("tiny vs pytorch, 1 thread", ratio("tiny", "1"), 200)
if ("mnist", "1") in R: target("mnist vs pytorch, 1 thread", ratio("mnist", "1"), 2.5)
if ("wide", "1") in R: target("wide vs pytorch, 1 thread", ratio("wide", "1"), 1.2)
if ("wide", "1") in R and ("wide", "2") in R:
    target("wide adjoint 2 vs 1 threads", R["wide", "2"][0] / R["wide", "1"][0], 1.85)
target("time to first step, MNIST, cold", ttfs, 0.1, unit="s")
target("time to first step, MNIST, cold, 1 compile thread", ttfs1, 0.15, unit="s")
target("JIT compile, MNIST, object cache hit", hit, 0.01, unit="s")
if ("lenet", "1") in R: target("lenet5 vs pytorch, 1 thread", ratio("lenet", "1"), 3)
if ("tfcnn", "1") in R: target("tf cnn vs pytorch, 1 thread", ratio("tfcnn", "1"), 1.5)
if ("tfcnn", "1") in R and ("tfcnn", "2") in R:
    target("tf cnn adjoint 2 vs 1 threads", R["tfcnn", "2"][0] / R["tfcnn", "1"][0], 1.7)
if comp_cnn is not None: target("JIT compile, TF CNN training step", comp_cnn, 0.4, unit="s")
for w, goal in (("lstm128", 2), ("lstm256", 1.5), ("gru128", 2), ("gru256", 1.5)):
    if (w, "1") in R: target(f"{names[w]} vs pytorch, 1 thread", ratio(w, "1"), goal)
if comp_t:
    (c16, n16), (c1024, n1024) = comp_t[16], comp_t[1024]
    ok = abs(c1024 / c16 - 1) <= 0.1 and n16 == n1024
    print(f"  {'LSTM compile T=1024 vs T=16 (within 10%, same ops)':52}{c1024 / c16:>9.2f}x  "
          f"(ops {n1024} vs {n16})  {'met' if ok else 'NOT MET'}")
PY

if [ -z "${NO_GEMM:-}" ] && [ -f bench/gemm.sh ]; then
  echo
  bash bench/gemm.sh
fi
