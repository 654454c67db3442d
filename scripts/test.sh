#!/usr/bin/env bash
# The README's second command: installs what is missing, builds, and runs
# every test (GoogleTest units and lit + FileCheck) with ctest; then the
# suite under ASan+UBSan, the threaded tests under TSan and every fuzz
# target for ADJ_FUZZ_SECONDS (default 30) each (README.md, "Fuzzing and
# sanitizers"). ADJ_TEST_QUICK=1 runs the normal build and ctest only. Each
# part runs even when an earlier one failed; the wall time of each is
# printed at the end, and the exit status is 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh || exit 1
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
export JOBS
times=()
failed=()
part() {
  local name=$1
  shift
  local start=$SECONDS
  echo "=== test.sh: $name"
  if ! "$@"; then failed+=("$name"); fi
  times+=("$(printf '%-10s %4d s' "$name" $((SECONDS - start)))")
}
normal() {
  scripts/build.sh &&
    ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS"
}
part normal normal
if [ "${ADJ_TEST_QUICK:-0}" != 1 ]; then
  part asan scripts/sanitize.sh asan
  part tsan scripts/sanitize.sh tsan
  part fuzz scripts/fuzz.sh "${ADJ_FUZZ_SECONDS:-30}"
fi
echo "=== test.sh: wall time per part"
printf '  %s\n' "${times[@]}"
if [ ${#failed[@]} -ne 0 ]; then
  echo "test.sh: FAILED: ${failed[*]}"
  exit 1
fi
echo "test.sh: all parts passed"
