#!/usr/bin/env bash
# Source this file: it creates or refreshes the project's virtual environment (.venv) from the
# pinned requirements when the environment is missing or the requirement files changed, then
# activates it. Everything is installed in ONE pip call so the numpy<2 pin holds for every package.
set -euo pipefail
PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_DIR="${VENV_DIR:-$PROJECT_ROOT/.venv}"
REQ_FILE="${REQ_FILE:-$PROJECT_ROOT/requirements-dev.txt}"
STAMP="$VENV_DIR/.requirements.sha256"
PYTHON_BIN="${PYTHON_BIN:-python3}"

wanted=$(cat "$PROJECT_ROOT/requirements.txt" "$REQ_FILE" | sha256sum | cut -d' ' -f1)
if [ ! -x "$VENV_DIR/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$wanted" ]; then
    echo "[setup] creating/refreshing $VENV_DIR from $(basename "$REQ_FILE") ..."
    start=$(date +%s)
    [ -x "$VENV_DIR/bin/python" ] || "$PYTHON_BIN" -m venv "$VENV_DIR"
    "$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ_FILE" 2>&1 \
        | grep -v "is ignored: it is neither a file nor a directory" || true
    "$VENV_DIR/bin/python" -c "import mindspore, numpy, cv2; assert numpy.__version__ < '2'; cv2.optflow" \
        || { echo "[setup] the environment in $VENV_DIR is broken; delete it and run again" >&2; exit 1; }
    echo "$wanted" > "$STAMP"
    echo "[setup] environment ready in $(( $(date +%s) - start )) s"
fi
# shellcheck disable=SC1091
source "$VENV_DIR/bin/activate"
export PYTHONPATH="$PROJECT_ROOT${PYTHONPATH:+:$PYTHONPATH}"
# Quieter MindSpore logs (warnings and errors only); users can override.
export GLOG_v="${GLOG_v:-2}"
set +euo pipefail
