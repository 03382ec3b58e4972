#!/usr/bin/env bash
# Offline inference of the four I3D models (ucf101 / hmdb51 x rgb / flow) with
# scripts/run_infer_310.sh, then the joint RGB + flow accuracy of each dataset and a summary.
# Run with --help for the usage.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
    cat >&2 <<'EOF_USAGE'
Usage: bash scripts/run_infer_310_all.sh        (no argument; settings come from the environment)

For every dataset of DATASETS and mode of MODES runs MINDIR_DIR/i3d_<dataset>_<mode>.mindir (the
default name of export.py) on PRE_RESULT_ROOT/<dataset>_<mode> (scripts/run_preprocess_all.sh)
into RESULT_ROOT/<dataset>_<mode>; with both modes, also the joint accuracy into
RESULT_ROOT/<dataset>_joint. Prints a summary table, also written to RESULT_ROOT/summary.txt.

Environment:
  MINDIR_DIR       folder of the exported models (default: .)
  PRE_RESULT_ROOT  preprocessed batches (default: ./preprocess_Result)
  RESULT_ROOT      outputs (default: ./infer_Result)
  DEVICE_ID        device index (default: 0)
  DATASETS         default "ucf101 hmdb51";  MODES  default "rgb flow"
  JOINT_FUSION     logits_sum | softmax_avg (default: logits_sum, the I3D rule)
  INFER_RUNNER, MINDSPORE_PATH, DEVICE_TARGET, PYTHON, SKIP_SETUP: as for scripts/run_infer_310.sh

Note: streams preprocessed one at a time sample the RGB clips over the RGB frame count, so the joint
numbers can differ slightly from eval.py --test_mode joint; for identical clips preprocess with
--test_mode joint (scripts/run_preprocess.sh CONFIG OUT --test_mode joint --video_path_joint_flow DIR)
and point PRE_RESULT_PATH of each stream at OUT/rgb and OUT/flow.

Example: MINDIR_DIR=./exported DEVICE_ID=0 bash scripts/run_infer_310_all.sh
EOF_USAGE
}

zoo_require_args 0 -- "$@"
zoo_setup
set -euo pipefail

MINDIR_DIR="$(realpath -m -- "${MINDIR_DIR:-.}")"
PRE_RESULT_ROOT="$(realpath -m -- "${PRE_RESULT_ROOT:-./preprocess_Result}")"
RESULT_ROOT="$(realpath -m -- "${RESULT_ROOT:-./infer_Result}")"
DEVICE_ID="${DEVICE_ID:-0}"
DATASETS="${DATASETS:-ucf101 hmdb51}"
MODES="${MODES:-rgb flow}"

missing=()
for dataset in $DATASETS; do
    for mode in $MODES; do
        [ -f "$MINDIR_DIR/i3d_${dataset}_${mode}.mindir" ] || missing+=("$MINDIR_DIR/i3d_${dataset}_${mode}.mindir")
    done
done
[ "${#missing[@]}" -eq 0 ] \
    || zoo_die "missing exported models: ${missing[*]}; export them with export.py or set MINDIR_DIR"

summary=()
top1_of() {
    "$PYTHON" -c 'import json, sys; r = json.load(open(sys.argv[1]))
print("top1 %.2f  top5 %.2f  mean class %.2f  (%d videos)" % (r["top1"], r["top5"], r["mean_class_accuracy"], r["num_videos"]))' "$1"
}
for dataset in $DATASETS; do
    for mode in $MODES; do
        echo "=== i3d $dataset $mode ==="
        PRE_RESULT_PATH="$PRE_RESULT_ROOT/${dataset}_${mode}" RESULT_PATH="$RESULT_ROOT/${dataset}_${mode}" SKIP_SETUP=1 \
            bash "$ROOT/scripts/run_infer_310.sh" "$MINDIR_DIR/i3d_${dataset}_${mode}.mindir" "$dataset" "$DEVICE_ID" "$mode"
        summary+=("$dataset $mode: $(top1_of "$RESULT_ROOT/${dataset}_${mode}/results.json")")
    done
    if [[ " $MODES " == *" rgb "* ]] && [[ " $MODES " == *" flow "* ]]; then
        echo "=== i3d $dataset joint ==="
        "$PYTHON" "$ROOT/postprocess.py" --rgb_result_path "$RESULT_ROOT/${dataset}_rgb" \
            --flow_result_path "$RESULT_ROOT/${dataset}_flow" --postprocess_path "$RESULT_ROOT/${dataset}_joint" \
            --joint_fusion "${JOINT_FUSION:-logits_sum}"
        summary+=("$dataset joint: $(top1_of "$RESULT_ROOT/${dataset}_joint/results.json")")
    fi
done
printf '%s\n' "${summary[@]}" | tee "$RESULT_ROOT/summary.txt"
