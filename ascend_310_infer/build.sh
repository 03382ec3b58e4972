#!/bin/bash
# Builds ascend_310_infer/out/main against the installed MindSpore: the package folder comes from
# MINDSPORE_PATH, else from `pip show mindspore-ascend`, else `pip show mindspore` (Location field).
# PYTHON selects the interpreter whose pip is asked (default: python).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../scripts/common.sh"
PYTHON="${PYTHON:-python}"

usage() {
    cat >&2 <<'EOF_USAGE'
Usage: bash ascend_310_infer/build.sh

Builds ascend_310_infer/out/main (CMake) against the MindSpore C++ library libmindspore.so.

Environment:
  MINDSPORE_PATH  MindSpore folder holding include/ and lib/libmindspore.so
                  (default: the Location of `pip show mindspore-ascend`, then `pip show mindspore`)
  PYTHON          interpreter whose pip is asked (default: python)

Without the library (the pip wheels for CPU/GPU have none) it stops saying so;
bash ascend_310_infer/check_syntax.sh compile-checks the sources against the headers alone.
EOF_USAGE
}
zoo_require_args 0 -- "$@"

MINDSPORE_PATH="$(zoo_find_mindspore)" \
    || zoo_die "MindSpore is not installed for $PYTHON (pip show mindspore-ascend / mindspore); set MINDSPORE_PATH"
[ -f "$MINDSPORE_PATH/include/api/model.h" ] || zoo_die "no C++ API headers in $MINDSPORE_PATH/include/api"
[ -f "$MINDSPORE_PATH/lib/libmindspore.so" ] || zoo_die "no libmindspore.so in $MINDSPORE_PATH/lib. The pip wheel" \
    "for CPU ships the C++ headers but not the inference library: install MindSpore for Ascend on the" \
    "inference host, or set MINDSPORE_PATH to a MindSpore folder holding include/ and lib/libmindspore.so." \
    "(bash check_syntax.sh checks the sources without it.)"

echo "MindSpore: $MINDSPORE_PATH"
mkdir -p "$HERE/build"
cd "$HERE/build"
cmake .. -DMINDSPORE_PATH="$MINDSPORE_PATH"
make -j"$(nproc)"
echo "built $HERE/out/main"
