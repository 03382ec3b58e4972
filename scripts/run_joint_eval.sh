#!/usr/bin/env bash
# Evaluate RGB + flow jointly on the same clips with the config's fusion (I3D: sum of the two
# streams' logits; TSN: softmax scores RGB 1 : flow 1.5), or EXTRA_ARGS="--joint_fusion softmax_avg --rgb_weight 0.5".
# Usage: bash scripts/run_joint_eval.sh [device_id] [dataset] [video_path] [video_path_joint_flow] [annotation_path] [annotation_path_joint_flow] [rgb_path] [flow_path]
# Environment: CONFIG_PATH (default configs/i3d/<dataset>_rgb.yaml), DEVICE_TARGET,
# OUTPUT_DIR (default ./output/eval_<dataset>_joint), EXTRA_ARGS, DRY_RUN=1 (print the command), SKIP_SETUP=1.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
usage() { zoo_print_header; }
zoo_require_args 8 -- "$@"
zoo_setup
set -eo pipefail
config="$(zoo_config "$2" rgb)"
zoo_run_logged "${OUTPUT_DIR:-./output/eval_${2}_joint}" "$ROOT/eval.py" --config_path "$config" --device_id "$1" \
    --device_target "$(zoo_device_target)" --test_mode joint --dataset "$2" \
    --video_path "$(realpath -m -- "$3")" --video_path_joint_flow "$(realpath -m -- "$4")" \
    --annotation_path "$(realpath -m -- "$5")" --annotation_path_joint_flow "$(realpath -m -- "$6")" \
    --rgb_path "$(realpath -m -- "$7")" --flow_path "$(realpath -m -- "$8")"
