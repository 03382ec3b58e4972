#!/bin/bash
# ModelArts / openI jobs run this file (from the root of the code folder) before the job's boot
# command. It installs the project's pinned requirements into the job image's Python in ONE pip call
# (so the numpy<2 pin holds for every package; no virtual environment is needed in a job image) and
# prints the versions the job will use.
#
# The image's own MindSpore is kept when it imports: it is built for the image's CANN and driver, and
# a wheel from PyPI would not match them. Set FORCE_MINDSPORE=1 to install the pinned one anyway.
# PYTHON selects the interpreter (default: python).
set -e
CODE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python}"
REQUIREMENTS="$CODE_DIR/requirements.txt"

if [ "${FORCE_MINDSPORE:-0}" != "1" ] && "$PYTHON" -c "import mindspore" > /dev/null 2>&1; then
    echo "[ma-pre-start] keeping the image's mindspore $("$PYTHON" -c 'import mindspore; print(mindspore.__version__)')"
    filtered="$(mktemp)"
    trap 'rm -f "$filtered"' EXIT
    grep -vE '^[[:space:]]*mindspore[[:space:]]*([=<>!~;[]|$)' "$REQUIREMENTS" > "$filtered"
    REQUIREMENTS="$filtered"
fi

echo "[ma-pre-start] installing: $(grep -vE '^[[:space:]]*(#|$)' "$REQUIREMENTS" | tr '\n' ' ')"
"$PYTHON" -m pip install --no-cache-dir --disable-pip-version-check -r "$REQUIREMENTS"

"$PYTHON" - <<'EOF'
import importlib
import platform

print(f"[ma-pre-start] python {platform.python_version()}")
for name in ("mindspore", "numpy", "cv2", "yaml", "PIL", "tqdm", "matplotlib"):
    try:
        version = getattr(importlib.import_module(name), "__version__", "?")
    except ImportError as err:
        version = f"NOT IMPORTABLE ({err})"
    print(f"[ma-pre-start] {name} {version}")
EOF
