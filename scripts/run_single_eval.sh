#!/usr/bin/env bash
# Evaluate one stream: a checkpoint, or every checkpoint of a folder (summary.txt).
#   bash scripts/run_single_eval.sh [device_id] [mode] [dataset] [ckpt_path] [video_path] [annotation_path]
# Environment: CONFIG_PATH (default configs/i3d/<dataset>_<mode>.yaml), DEVICE_TARGET,
# OUTPUT_DIR (default ./output/eval_<dataset>_<mode>), EXTRA_ARGS, SKIP_SETUP=1.
if [ $# -ne 6 ]; then
    sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//' >&2
    echo "error: expected 6 arguments, got $#" >&2
    exit 1
fi
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
zoo_setup
set -eo pipefail
config="$(zoo_config "$3" "$2")"
out="${OUTPUT_DIR:-./output/eval_${3}_${2}}"
mkdir -p "$out"
cd "$ROOT"
# shellcheck disable=SC2086
"$PYTHON" eval.py --config_path "$config" --device_id "$1" --device_target "$(zoo_device_target)" --mode "$2" \
    --dataset "$3" --checkpoint_path "$(realpath -m -- "$4")" --video_path "$(realpath -m -- "$5")" \
    --annotation_path "$(realpath -m -- "$6")" --save_dir "$out" ${EXTRA_ARGS:-} 2>&1 | tee "$out/console.log"
