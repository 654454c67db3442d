#!/bin/sh
# examples/transfer/run.sh [ADJC] — the numbers of README.md in this
# directory: pretrain the CNN on MNIST digits, then train the Fashion-MNIST
# model for the same number of steps from scratch, from the digits backbone
# with the convolutions frozen, and from the backbone with everything
# trained; three seeds each. Prints one line per run.
set -ef  # -f: conv* is a --freeze glob, not a file pattern
ADJC=${1:-build/bin/adjc}
DIR=$(dirname "$0")
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
"$ADJC" "$DIR/pretrain.adj" --run --quiet --save "$OUT/digits.safetensors" \
  --report "$OUT/pre.json"
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); \
print('pretrain (digits, 5 epochs): test accuracy %.4f' % r['metrics']['accuracy'])" "$OUT/pre.json"
for steps in 30 125; do
  for run in scratch frozen all; do
    for seed in 0 1 2; do
      case $run in
        scratch) extra="" ;;
        frozen) extra="--init-from $OUT/digits.safetensors --freeze conv*" ;;
        all) extra="--init-from $OUT/digits.safetensors" ;;
      esac
      # shellcheck disable=SC2086
      "$ADJC" "$DIR/finetune.adj" --run --quiet --steps $steps --seed $seed \
        --report "$OUT/r.json" $extra
      python3 -c "import json,sys; r=json.load(open(sys.argv[1])); \
print('%s steps %s seed %s: test accuracy %.4f' % (sys.argv[2], sys.argv[3], \
sys.argv[4], r['metrics']['accuracy']))" "$OUT/r.json" $steps $run $seed
    done
  done
done
