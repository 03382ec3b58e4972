#!/usr/bin/env bash
# Train one model on one device.
# Usage: bash scripts/run_standalone_train.sh [device_id] [dataset] [mode] [num_epochs] [video_path] [annotation_path] [checkpoint_path]
# checkpoint_path `none` trains from scratch. Environment: CONFIG_PATH (default
# configs/i3d/<dataset>_<mode>.yaml; e.g. configs/resnet3d/ucf101.yaml for another model),
# DEVICE_TARGET (default: the device this machine has), OUTPUT_DIR (default ./output/train_<dataset>_<mode>),
# EXTRA_ARGS (more --key value overrides), DRY_RUN=1 (print the command, start nothing), SKIP_SETUP=1.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
usage() { zoo_print_header; }
zoo_require_args 7 -- "$@"
zoo_setup
set -eo pipefail
config="$(zoo_config "$2" "$3")"
zoo_run_logged "${OUTPUT_DIR:-./output/train_${2}_${3}}" "$ROOT/train.py" --config_path "$config" --device_id "$1" \
    --device_target "$(zoo_device_target)" --dataset "$2" --mode "$3" --num_epochs "$4" \
    --video_path "$(realpath -m -- "$5")" --annotation_path "$(realpath -m -- "$6")" \
    --checkpoint_path "$(zoo_ckpt "$7")"
