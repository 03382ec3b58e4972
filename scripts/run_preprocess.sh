#!/usr/bin/env bash
# Offline-inference input for one model / dataset / stream: the validation split as .bin batches
# (preprocess.py). Run with no argument for the usage.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
    cat >&2 <<'EOF_USAGE'
Usage: bash scripts/run_preprocess.sh CONFIG_PATH OUTPUT_PATH [--key value ...]

  CONFIG_PATH   YAML config of the model, dataset and stream, e.g. configs/i3d/ucf101_rgb.yaml
  OUTPUT_PATH   output folder: OUTPUT_PATH/00_data/*.bin, meta.json, labels.npy
                (--test_mode joint: OUTPUT_PATH/rgb/ and OUTPUT_PATH/flow/, each such a folder)
  --key value   config overrides for preprocess.py, e.g. --batch_size 1 --video_path DIR
                --annotation_path FILE. batch_size must be the batch size the model is exported
                with (python export.py ... --batch_size N); it defaults to the config's.

Environment:
  PYTHON        python interpreter (default: python from PATH)
  DRY_RUN=1     print the preprocess.py command, start nothing
  SKIP_SETUP=1  do not `source scripts/setup_env.sh` (use the python already on PATH)

Example: bash scripts/run_preprocess.sh configs/i3d/ucf101_rgb.yaml ./preprocess_Result/ucf101_rgb --batch_size 1
EOF_USAGE
}

zoo_answer_help "$@"
if [ $# -lt 2 ] || [ $(( ($# - 2) % 2 )) -ne 0 ]; then
    zoo_usage_error "expected CONFIG_PATH OUTPUT_PATH and --key value pairs, got $# argument(s)"
fi
zoo_setup
set -euo pipefail

CONFIG="$(zoo_config_file "$1")"
OUTPUT_PATH="$(realpath -m -- "$2")"
shift 2

CMD=("$PYTHON" "$ROOT/preprocess.py" --config_path "$CONFIG" --pre_result_path "$OUTPUT_PATH" "$@")
if [ "${DRY_RUN:-0}" = "1" ]; then
    zoo_quoted "${CMD[@]}"
    echo
    exit 0
fi
echo "preprocess: config $CONFIG -> $OUTPUT_PATH"
"${CMD[@]}"
