#!/usr/bin/env bash
# The test suite under sanitizers (README.md, "Fuzzing and sanitizers"),
# built with clang-16 at -O1 (ccache when present):
#   scripts/sanitize.sh asan   # build-asan: ASan+UBSan (and the fuzz
#                              # targets' coverage), every runtime test
#   scripts/sanitize.sh tsan   # build-tsan: TSan, the thread pool, session,
#                              # threaded-kernel and tiered-JIT tests
#   scripts/sanitize.sh configure DIR   # configure DIR as build-asan
# The static checks (format, layering, codegen-function-size) look at the
# source, not at a run, and stay in the normal build. Known reports that are
# not ours are suppressed in tests/sanitizers/*.supp, each with its reason.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}
SUPP=$PWD/tests/sanitizers

configure() {
  local dir=$1
  shift
  [ -f "$dir/build.ninja" ] && return 0
  local launcher=()
  if command -v ccache > /dev/null; then
    launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache
      -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  fi
  mkdir -p "$dir"
  cmake -G Ninja -S . -B "$dir" -DCMAKE_C_COMPILER=clang-16 \
    -DCMAKE_CXX_COMPILER=clang++-16 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" \
    "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" \
    "${launcher[@]}" "$@" > "$dir/configure.log" 2>&1 ||
    { cat "$dir/configure.log"; return 1; }
}

STATIC_CHECKS='^(format|layering|layering-compile-.*|codegen-function-size)$'

case ${1:-} in
configure)
  configure "${2:-build-asan}" -DADJ_FUZZ=ON
  ;;
asan)
  dir=${ASAN_BUILD_DIR:-build-asan}
  configure "$dir" -DADJ_FUZZ=ON
  cmake --build "$dir" -j "$JOBS"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1
  export LSAN_OPTIONS=suppressions=$SUPP/lsan.supp:print_suppressions=0
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  ctest --test-dir "$dir" -j "$JOBS" --output-on-failure -E "$STATIC_CHECKS"
  ;;
tsan)
  dir=${TSAN_BUILD_DIR:-build-tsan}
  configure "$dir" -DADJ_SANITIZE=thread
  cmake --build "$dir" -j "$JOBS" --target adj-unittests
  export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$SUPP/tsan.supp
  ctest --test-dir "$dir" -j "$JOBS" --output-on-failure -R \
    '^(ThreadPool|SessionTest|CodegenThreads|TiersTest)'
  ;;
*)
  echo "usage: $0 asan|tsan|configure [DIR]" >&2
  exit 2
  ;;
esac
