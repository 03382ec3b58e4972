#!/bin/bash
# Compile-checks the inference sources (g++ -fsyntax-only, no linking) against the MindSpore C++ API
# headers shipped in the installed mindspore wheel, so the program is checked even on machines
# without libmindspore.so. PYTHON selects the interpreter whose mindspore is used (default: python).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python}"
CXX="${CXX:-g++}"

usage() {
    cat <<'EOF_USAGE'
Usage: bash ascend_310_infer/check_syntax.sh

Compile-checks ascend_310_infer/src/*.cc (g++ -fsyntax-only -Werror, no linking) against the C++ API
headers of the installed mindspore wheel; no libmindspore.so needed.

Environment:
  PYTHON  interpreter whose mindspore is used (default: python)
  CXX     C++ compiler (default: g++)
EOF_USAGE
}
if [ "$#" -eq 1 ] && { [ "$1" = "-h" ] || [ "$1" = "--help" ]; }; then usage; exit 0; fi
[ "$#" -eq 0 ] || { echo "error: expected no argument, got $#" >&2; usage >&2; exit 1; }

command -v "$CXX" > /dev/null || { echo "error: $CXX not found; install g++ (C++17)" >&2; exit 2; }
MS_DIR="$("$PYTHON" -c 'import mindspore, os; print(os.path.dirname(mindspore.__file__))')" \
    || { echo "error: $PYTHON cannot import mindspore" >&2; exit 2; }
[ -f "$MS_DIR/include/api/model.h" ] || { echo "error: no C++ API headers in $MS_DIR/include/api" >&2; exit 2; }

# The API headers include each other as "include/api/..." (root: $MS_DIR) and "mindapi/..." ($MS_DIR/include);
# -isystem keeps their own warnings out, so -Werror applies to this program only.
for source in "$HERE"/src/*.cc; do
    "$CXX" -std=c++17 -fsyntax-only -Wall -Wextra -Werror -D_GLIBCXX_USE_CXX11_ABI=0 \
        -I"$HERE/inc" -isystem "$MS_DIR" -isystem "$MS_DIR/include" "$source"
    echo "ok: $(basename "$source")"
done
