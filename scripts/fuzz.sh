#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang-16 with ASan+UBSan, in
# ${FUZZ_BUILD_DIR:-build-asan}, shared with scripts/sanitize.sh) and runs
# each for SECONDS (default 60) on its seed corpus (tests/fuzz/make_corpus.py)
# plus the corpus it grew before (build-asan/fuzz/corpus/<target>), then
# prints the executions and findings of each target. Findings (crashes,
# sanitizer reports, timeouts over 10 s, more than 2 GiB) are saved as
# build-asan/fuzz/findings/<target>-*; exit status 1 when there is one.
#   scripts/fuzz.sh [SECONDS] [TARGET...]    e.g. scripts/fuzz.sh 600 frontend
# FUZZ_FLAGS adds libFuzzer flags (e.g. FUZZ_FLAGS="-runs=1000000 -entropic=0"
# for a run of a fixed number of executions; -entropic=0 and
# ASAN_OPTIONS=...:malloc_context_size=5 make `frontend` ~1.6x faster).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
shift || true
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=(frontend air safetensors loaders options)
fi
BUILD_DIR=${FUZZ_BUILD_DIR:-build-asan}
scripts/sanitize.sh configure "$BUILD_DIR"
cmake --build "$BUILD_DIR" -j "${JOBS:-$(nproc)}" --target adj-fuzzers

OUT=$BUILD_DIR/fuzz
python3 tests/fuzz/make_corpus.py . "$OUT/seeds"
mkdir -p "$OUT/findings" "$OUT/logs"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
summary=()
for t in "${TARGETS[@]}"; do
  mkdir -p "$OUT/corpus/$t"
  dict=()
  if [ -f "$OUT/seeds/$t.dict" ]; then dict=(-dict="$OUT/seeds/$t.dict"); fi
  # Inputs up to a few times the largest seed (smaller is faster).
  case $t in
  options) maxlen=1024 ;;
  safetensors) maxlen=16384 ;;
  *) maxlen=8192 ;;
  esac
  log=$OUT/logs/$t.log
  before=$(ls "$OUT/findings" | grep -c "^$t-" || true)
  echo "fuzz: $t for ${SECS}s"
  rc=0
  # shellcheck disable=SC2086 # FUZZ_FLAGS is split into flags on purpose
  "$BUILD_DIR/bin/fuzz-$t" -max_total_time="$SECS" -timeout=10 \
    -rss_limit_mb=2048 -malloc_limit_mb=2048 -max_len=$maxlen \
    -print_final_stats=1 -artifact_prefix="$OUT/findings/$t-" "${dict[@]}" \
    ${FUZZ_FLAGS:-} \
    "$OUT/corpus/$t" "$OUT/seeds/$t" > "$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  after=$(ls "$OUT/findings" | grep -c "^$t-" || true)
  found=$((after - before))
  if [ "$rc" -ne 0 ] && [ "$found" -eq 0 ]; then found=1; fi
  summary+=("$(printf '%-12s %12s executions  %d finding(s)  (%s)' "$t" \
    "${execs:-?}" "$found" "$log")")
  if [ "$found" -ne 0 ]; then
    status=1
    grep -m1 -E 'ERROR: |runtime error|deadly signal|timeout|out-of-memory' "$log" || true
  fi
done
echo "fuzz summary (${SECS}s per target):"
printf '  %s\n' "${summary[@]}"
exit $status
