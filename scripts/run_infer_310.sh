#!/usr/bin/env bash
# Offline inference of one exported model on its preprocessed validation batches, then the metrics.
# Uses the C++ program ascend_310_infer/out/main (built with ascend_310_infer/build.sh) when the
# MindSpore C++ library libmindspore.so is installed, else the Python MINDIR runner, and says which.
# Run with no argument for the usage.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
    cat >&2 <<'EOF_USAGE'
Usage: bash scripts/run_infer_310.sh MINDIR_PATH DATASET DEVICE_ID MODE

  MINDIR_PATH  exported model (python export.py ... --file_format MINDIR --batch_size N)
  DATASET      ucf101 | hmdb51 | activitynet | ...    (names the default folders below)
  DEVICE_ID    device index, e.g. 0
  MODE         rgb | flow | bmn   (bmn: proposals, AR@AN and AUC instead of accuracy)

Environment:
  PRE_RESULT_PATH  preprocessed batches of this model (preprocess.py / scripts/run_preprocess.sh,
                   same batch size as the export): PRE_RESULT_PATH/00_data/*.bin and meta.json
                   (default: ./preprocess_Result/<DATASET>_<MODE>)
  RESULT_PATH      output folder: result_Files/, time_Result/, meta.json (a copy), results.json,
                   confusion PNG and scores.npz (default: ./infer_Result/<DATASET>_<MODE>)
  INFER_RUNNER     auto | cpp | python (default: auto = cpp when libmindspore.so is found)
  MINDSPORE_PATH   MindSpore package folder with include/ and lib/libmindspore.so (default: found
                   with pip show mindspore-ascend / mindspore)
  DEVICE_TARGET    Ascend | GPU | CPU (default: Ascend for the C++ program, CPU for the Python runner)
  EXTRA_ARGS       more config overrides for postprocess.py
  PYTHON           python interpreter (default: python from PATH)
  SKIP_SETUP=1     do not `source scripts/setup_env.sh`

Example: bash scripts/run_infer_310.sh ./i3d_ucf101_rgb.mindir ucf101 0 rgb
EOF_USAGE
}

zoo_require_args 4 -- "$@"
zoo_setup
set -euo pipefail

MINDIR_PATH="$(realpath -m -- "$1")"
DATASET="$2"
DEVICE_ID="$3"
MODE="$4"
PRE_RESULT_PATH="$(realpath -m -- "${PRE_RESULT_PATH:-./preprocess_Result/${DATASET}_${MODE}}")"
RESULT_PATH="$(realpath -m -- "${RESULT_PATH:-./infer_Result/${DATASET}_${MODE}}")"
INFER_RUNNER="${INFER_RUNNER:-auto}"

[ -f "$MINDIR_PATH" ] || zoo_die "MINDIR_PATH $MINDIR_PATH does not exist; export it with export.py"
[[ "$DEVICE_ID" =~ ^[0-9]+$ ]] || zoo_die "DEVICE_ID must be a non-negative integer, got '$DEVICE_ID'"
[[ "$MODE" =~ ^(rgb|flow|bmn)$ ]] || zoo_die "MODE must be rgb, flow or bmn, got '$MODE'"
[[ "$INFER_RUNNER" =~ ^(auto|cpp|python)$ ]] || zoo_die "INFER_RUNNER must be auto, cpp or python, got '$INFER_RUNNER'"
[ -f "$PRE_RESULT_PATH/meta.json" ] && [ -d "$PRE_RESULT_PATH/00_data" ] \
    || zoo_die "no preprocessed batches in $PRE_RESULT_PATH (00_data/ and meta.json); run scripts/run_preprocess.sh" \
           "or set PRE_RESULT_PATH"

# The MindSpore folder holding lib/libmindspore.so, looked for as ascend_310_infer/build.sh does.
LIB_FOLDER=""
if [ "$INFER_RUNNER" != "python" ]; then
    LIB_FOLDER="$(zoo_find_mindspore lib/libmindspore.so)" || LIB_FOLDER=""
fi
if [ "$INFER_RUNNER" = "cpp" ] && [ -z "$LIB_FOLDER" ]; then
    zoo_die "INFER_RUNNER=cpp but libmindspore.so was not found (set MINDSPORE_PATH)"
fi

mkdir -p "$RESULT_PATH"
rm -f "$RESULT_PATH"/result_Files/*.bin  # results of an earlier run must not mix with these
cp "$PRE_RESULT_PATH/meta.json" "$RESULT_PATH/meta.json"

if [ -n "$LIB_FOLDER" ]; then
    echo "runner: C++ program ascend_310_infer/out/main (libmindspore.so found in $LIB_FOLDER/lib)"
    MINDSPORE_PATH="$LIB_FOLDER" bash "$ROOT/ascend_310_infer/build.sh" || zoo_die "building ascend_310_infer failed"
    export LD_LIBRARY_PATH="$LIB_FOLDER/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    "$ROOT/ascend_310_infer/out/main" --mindir_path "$MINDIR_PATH" --input_path "$PRE_RESULT_PATH/00_data" \
        --device_target "${DEVICE_TARGET:-Ascend}" --device_id "$DEVICE_ID" --output_path "$RESULT_PATH" \
        || zoo_die "inference failed (ascend_310_infer/out/main)"
else
    if [ "$INFER_RUNNER" = "python" ]; then
        reason="chosen with INFER_RUNNER=python"
    else
        reason="libmindspore.so not found (the MindSpore C++ inference library; set MINDSPORE_PATH to use ascend_310_infer)"
    fi
    echo "runner: Python MINDIR runner (src/infer/mindir_runner.py); $reason"
    "$PYTHON" -m src.infer.mindir_runner --mindir_path "$MINDIR_PATH" --input_path "$PRE_RESULT_PATH/00_data" \
        --device_target "${DEVICE_TARGET:-CPU}" --device_id "$DEVICE_ID" --output_path "$RESULT_PATH" \
        || zoo_die "inference failed (src.infer.mindir_runner)"
fi

read -r -a EXTRA <<< "${EXTRA_ARGS:-}"
"$PYTHON" "$ROOT/postprocess.py" --pre_result_path "$PRE_RESULT_PATH" --result_path "$RESULT_PATH" \
    ${EXTRA[@]+"${EXTRA[@]}"}
