#!/usr/bin/env bash
# Evaluate one stream: a checkpoint, or every checkpoint of a folder (summary.txt).
# Usage: bash scripts/run_single_eval.sh [device_id] [mode] [dataset] [ckpt_path] [video_path] [annotation_path]
# Environment: CONFIG_PATH (default configs/i3d/<dataset>_<mode>.yaml), DEVICE_TARGET,
# OUTPUT_DIR (default ./output/eval_<dataset>_<mode>), EXTRA_ARGS, DRY_RUN=1 (print the command), SKIP_SETUP=1.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
usage() { zoo_print_header; }
zoo_require_args 6 -- "$@"
zoo_setup
set -eo pipefail
config="$(zoo_config "$3" "$2")"
zoo_run_logged "${OUTPUT_DIR:-./output/eval_${3}_${2}}" "$ROOT/eval.py" --config_path "$config" --device_id "$1" \
    --device_target "$(zoo_device_target)" --mode "$2" --dataset "$3" --checkpoint_path "$(realpath -m -- "$4")" \
    --video_path "$(realpath -m -- "$5")" --annotation_path "$(realpath -m -- "$6")"
