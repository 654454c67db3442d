#!/usr/bin/env bash
# Checks that every C and C++ file under version control is formatted as
# clang-format (LLVM style, .clang-format) formats it; names each file that
# is not and exits 1. Fix with `clang-format -i FILE`. Run by ctest
# (`format`) and so by CI. Without git (a source tarball) it checks the
# files on disk.
set -euo pipefail
cd "$(dirname "$0")/.."
if git rev-parse --git-dir >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.cpp' '*.h' '*.def' '*.c')
else
  mapfile -t files < <(find . -path ./build -prune -o \
    \( -name '*.cpp' -o -name '*.h' -o -name '*.def' -o -name '*.c' \) -print)
fi
bad=()
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -ne 0 ]; then
  printf '%s: not clang-formatted (run clang-format -i on it)\n' "${bad[@]}"
  exit 1
fi
echo "clang-format: ${#files[@]} files formatted"
