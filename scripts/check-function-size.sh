#!/usr/bin/env bash
# Fails when a function in codegen/*.cpp is longer than 150 lines, naming
# each one, so that the code generator stays one a newcomer can follow
# (issue 11). The measure is clang-tidy's readability-function-size: the
# lines of a function's body, blank lines, comments and lambdas included.
#   usage: scripts/check-function-size.sh BUILD_DIR
# BUILD_DIR must hold the compile_commands.json that CMake writes. Files are
# checked two at a time; the ctest test codegen-function-size runs this.
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=$(cd "$1" && pwd)
LIMIT=150
if [ ! -f "$BUILD_DIR/compile_commands.json" ]; then
  echo "check-function-size: no $BUILD_DIR/compile_commands.json" >&2
  exit 2
fi
command -v clang-tidy >/dev/null || {
  echo "check-function-size: clang-tidy not found (scripts/bootstrap.sh)" >&2
  exit 2
}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
CONFIG="{CheckOptions: [{key: readability-function-size.LineThreshold, value: $LIMIT}]}"

# One file: clang-tidy's diagnostics to $OUT/<file>.out, its status to .rc.
check_one() {
  local f=$1 name
  name=$(basename "$f")
  set +e
  clang-tidy -p "$BUILD_DIR" --quiet -checks='-*,readability-function-size' \
    -config="$CONFIG" "$f" >"$OUT/$name.out" 2>"$OUT/$name.err"
  echo $? >"$OUT/$name.rc"
}
export -f check_one
export BUILD_DIR OUT CONFIG
printf '%s\n' "$ROOT"/codegen/*.cpp | xargs -P 2 -I{} bash -c 'check_one "$1"' _ {}

status=0
for f in "$ROOT"/codegen/*.cpp; do
  name=$(basename "$f")
  rel=codegen/$name
  if [ "$(cat "$OUT/$name.rc")" != 0 ] || grep -q 'error:' "$OUT/$name.out"; then
    echo "check-function-size: clang-tidy failed on $rel:"
    cat "$OUT/$name.out" "$OUT/$name.err"
    status=1
    continue
  fi
  # file:line:col: warning: function 'name' exceeds ... then
  # file:line:col: note: N lines including whitespace and comments ...
  while IFS= read -r line; do
    case $line in
    *"warning: function '"*)
      fn=${line#*function \'}
      fn=${fn%%\'*}
      loc=${line%%: warning:*}
      loc=${loc#"$ROOT"/}
      ;;
    *"lines including whitespace"*)
      lines=${line#*note: }
      lines=${lines%% *}
      echo "$loc: function '$fn' is $lines lines long (at most $LIMIT)"
      status=1
      ;;
    esac
  done <"$OUT/$name.out"
done
if [ $status -eq 0 ]; then
  echo "check-function-size: every function in codegen/*.cpp is at most $LIMIT lines"
fi
exit $status
