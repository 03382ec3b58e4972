#!/usr/bin/env bash
# Evaluate RGB + flow jointly on the same clips (fusion: sum of the two streams' logits, or
# EXTRA_ARGS="--joint_fusion softmax_avg --rgb_weight 0.5").
#   bash scripts/run_joint_eval.sh [device_id] [dataset] [video_path] [video_path_joint_flow] [annotation_path] [annotation_path_joint_flow] [rgb_path] [flow_path]
# Environment: CONFIG_PATH (default configs/i3d/<dataset>_rgb.yaml), DEVICE_TARGET,
# OUTPUT_DIR (default ./output/eval_<dataset>_joint), EXTRA_ARGS, SKIP_SETUP=1.
if [ $# -ne 8 ]; then
    sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' >&2
    echo "error: expected 8 arguments, got $#" >&2
    exit 1
fi
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
zoo_setup
set -eo pipefail
config="$(zoo_config "$2" rgb)"
out="${OUTPUT_DIR:-./output/eval_${2}_joint}"
mkdir -p "$out"
cd "$ROOT"
# shellcheck disable=SC2086
"$PYTHON" eval.py --config_path "$config" --device_id "$1" --device_target "$(zoo_device_target)" \
    --test_mode joint --dataset "$2" --video_path "$(realpath -m -- "$3")" \
    --video_path_joint_flow "$(realpath -m -- "$4")" --annotation_path "$(realpath -m -- "$5")" \
    --annotation_path_joint_flow "$(realpath -m -- "$6")" --rgb_path "$(realpath -m -- "$7")" \
    --flow_path "$(realpath -m -- "$8")" --save_dir "$out" ${EXTRA_ARGS:-} 2>&1 | tee "$out/console.log"
