#!/usr/bin/env bash
# Evaluate the checkpoints of consecutive epochs in parallel, one eval.py process per device, and
# gather their top-1/top-5 into one summary. Run with no argument for the usage.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
    cat >&2 <<'EOF'
Usage: bash scripts/run_distributed_single-mode_eval.sh CKPT_START_ID MODE DATASET ANNOTATION_PATH \
           VIDEO_PATH OUTPUT_CKPT_PATH TRAIN_STEPS [CONFIG_PATH]

  CKPT_START_ID     first epoch to evaluate; epochs CKPT_START_ID .. CKPT_START_ID+DEVICE_NUM-1 are tried
                    (shared out between the hosts when NUM_HOSTS > 1)
  MODE              rgb | flow              DATASET  ucf101 | hmdb51 | ...
  ANNOTATION_PATH   annotation JSON / list file;  VIDEO_PATH  frame root
  OUTPUT_CKPT_PATH  folder holding the training's checkpoints (searched recursively; the match
                    nearest to the folder wins when several are found)
  TRAIN_STEPS       steps per epoch in the checkpoint names: <prefix>-<epoch>_<TRAIN_STEPS>.ckpt
  CONFIG_PATH       YAML config (default: $CONFIG_PATH, else configs/i3d/<DATASET>_<MODE>.yaml)

Environment:
  DEVICE_TARGET  Ascend | GPU | CPU (default: Ascend); a host's checkpoint k runs on DEVICE_ID k (0 on CPU)
  DEVICE_NUM     checkpoints evaluated at once over all hosts, one per device (default: 8)
  NUM_HOSTS      hosts sharing the epochs (default: 1); run this script on each of them with the same
                 arguments and DEVICE_NUM: each evaluates DEVICE_NUM / NUM_HOSTS consecutive epochs.
                 The evaluations are independent: no MASTER_ADDR / MASTER_PORT is needed
  HOST_RANK      this host's place, 0..NUM_HOSTS-1 (default: 0); it evaluates epochs
                 CKPT_START_ID + HOST_RANK * DEVICE_NUM / NUM_HOSTS onwards
  OUTPUT_DIR     output folder (default: ./output_eval): <checkpoint name>/ with eval.log and
                 results.json per checkpoint, and summary.txt (one line per checkpoint;
                 summary_host_<HOST_RANK>.txt when NUM_HOSTS > 1)
  EXTRA_ARGS     more config overrides for eval.py, e.g. "--test_crop three"
  PYTHON         python interpreter (default: python from PATH)
  DRY_RUN=1      list the checkpoints found and print the commands, start nothing
  SKIP_SETUP=1   do not `source scripts/setup_env.sh`

Example: bash scripts/run_distributed_single-mode_eval.sh 33 rgb ucf101 \
           ./dataset/rgb/ucf101/annotation/ucf101_01.json ./dataset/rgb/ucf101/jpg ./output/distribute_train/checkpoints 1190
EOF
}

zoo_require_args 7 8 -- "$@"
zoo_setup
set -euo pipefail

START_ID="$1"
MODE="$2"
DATASET="$3"
ANNOTATION_PATH="$(realpath -m -- "$4")"
VIDEO_PATH="$(realpath -m -- "$5")"
CKPT_DIR="$(realpath -m -- "$6")"
TRAIN_STEPS="$7"
CONFIG="${8:-${CONFIG_PATH:-$ROOT/configs/i3d/${DATASET}_${MODE}.yaml}}"
DEVICE_TARGET="${DEVICE_TARGET:-Ascend}"
DEVICE_NUM="${DEVICE_NUM:-8}"
OUTPUT_DIR="$(realpath -m -- "${OUTPUT_DIR:-./output_eval}")"
DRY_RUN="${DRY_RUN:-0}"

[[ "$START_ID" =~ ^[0-9]+$ ]] || zoo_die "CKPT_START_ID must be an epoch number, got '$START_ID'"
[[ "$TRAIN_STEPS" =~ ^[0-9]+$ ]] || zoo_die "TRAIN_STEPS must be a number, got '$TRAIN_STEPS'"
[[ "$DEVICE_NUM" =~ ^[1-9][0-9]*$ ]] || zoo_die "DEVICE_NUM must be a positive integer, got '$DEVICE_NUM'"
[[ "$MODE" =~ ^(rgb|flow)$ ]] || zoo_die "MODE must be rgb or flow, got '$MODE'"
[[ "$DEVICE_TARGET" =~ ^(Ascend|GPU|CPU)$ ]] || zoo_die "DEVICE_TARGET must be Ascend, GPU or CPU, got '$DEVICE_TARGET'"
zoo_hosts "$DEVICE_NUM" DEVICE_NUM
[ -d "$CKPT_DIR" ] || zoo_die "OUTPUT_CKPT_PATH $CKPT_DIR is not a folder"
[ -d "$VIDEO_PATH" ] || zoo_die "VIDEO_PATH $VIDEO_PATH is not a folder"
[ -e "$ANNOTATION_PATH" ] || zoo_die "ANNOTATION_PATH $ANNOTATION_PATH does not exist"
CONFIG="$(zoo_config_file "$CONFIG" "pass CONFIG_PATH (8th argument or environment variable)")"
read -r -a EXTRA <<< "${EXTRA_ARGS:-}"

# This host's epochs FIRST_EPOCH .. LAST_EPOCH of START_ID .. START_ID+DEVICE_NUM-1.
FIRST_EPOCH=$((START_ID + HOST_RANK * LOCAL_WORKERS))
LAST_EPOCH=$((FIRST_EPOCH + LOCAL_WORKERS - 1))
SUMMARY="$OUTPUT_DIR/summary.txt"
if [ "$NUM_HOSTS" -gt 1 ]; then
    SUMMARY="$OUTPUT_DIR/summary_host_$HOST_RANK.txt"
    echo "host $HOST_RANK of $NUM_HOSTS: epochs $FIRST_EPOCH..$LAST_EPOCH, summary: $SUMMARY"
fi

# Checkpoints of this host's epochs; of several matches, the shallowest wins.
CKPTS=()
EPOCHS=()
for ((epoch = FIRST_EPOCH; epoch <= LAST_EPOCH; epoch++)); do
    mapfile -t matches < <(find "$CKPT_DIR" -type f -name "*-${epoch}_${TRAIN_STEPS}.ckpt" -printf '%d %p\n' \
                           | sort -k1,1n -k2 | cut -d' ' -f2-)
    if [ "${#matches[@]}" -eq 0 ]; then
        echo "epoch $epoch: no *-${epoch}_${TRAIN_STEPS}.ckpt in $CKPT_DIR, skipped"
        continue
    fi
    [ "${#matches[@]}" -eq 1 ] || echo "epoch $epoch: ${#matches[@]} matches, using the first"
    echo "epoch $epoch: ${matches[0]}"
    CKPTS+=("${matches[0]}")
    EPOCHS+=("$epoch")
done
[ "${#CKPTS[@]}" -gt 0 ] || zoo_die "no checkpoint named *-<epoch>_${TRAIN_STEPS}.ckpt for epochs" \
    "$FIRST_EPOCH..$LAST_EPOCH under $CKPT_DIR; check CKPT_START_ID and TRAIN_STEPS"

PIDS=()
RUN_DIRS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; exit 130' INT TERM
for index in "${!CKPTS[@]}"; do
    ckpt="${CKPTS[$index]}"
    run_dir="$OUTPUT_DIR/$(basename "$ckpt" .ckpt)"
    device=$index
    [ "$DEVICE_TARGET" = "CPU" ] && device=0
    cmd=("$PYTHON" "$ROOT/eval.py" --config_path "$CONFIG" --dataset "$DATASET" --mode "$MODE"
         --annotation_path "$ANNOTATION_PATH" --video_path "$VIDEO_PATH" --checkpoint_path "$ckpt"
         --device_target "$DEVICE_TARGET" --device_id "$device" --save_dir "$run_dir" ${EXTRA[@]+"${EXTRA[@]}"})
    RUN_DIRS+=("$run_dir")
    if [ "$DRY_RUN" = "1" ]; then
        echo "[eval $index] cd $(zoo_quoted "$run_dir")&& DEVICE_ID=$device" \
             "$(zoo_quoted "${cmd[@]}")> $(zoo_quoted "$run_dir/eval.log")2>&1"
        continue
    fi
    mkdir -p "$run_dir"
    (cd "$run_dir" && export DEVICE_ID="$device" && exec "${cmd[@]}") > "$run_dir/eval.log" 2>&1 &
    PIDS+=("$!")
    echo "started $(basename "$ckpt") on device $device (pid $!), log: $run_dir/eval.log"
done
[ "$DRY_RUN" = "1" ] && exit 0

mkdir -p "$OUTPUT_DIR"
: > "$SUMMARY"
failed=0
for index in "${!PIDS[@]}"; do
    if wait "${PIDS[$index]}"; then code=0; else code=$?; fi
    results="${RUN_DIRS[$index]}/results.json"
    if [ "$code" -eq 0 ] && scores="$("$PYTHON" -c '
import json, sys
with open(sys.argv[1], encoding="utf-8") as handle:
    results = json.load(handle)
print(" ".join(f"{key}={results[key]:.4f}" if isinstance(results[key], float) else f"{key}={results[key]}"
               for key in ("top1", "top5")))
' "$results" 2>&1)"; then
        line="epoch ${EPOCHS[$index]} ${CKPTS[$index]} $scores"
    else
        failed=$((failed + 1))
        [ "$code" -eq 0 ] && reason="no readable top1/top5 in $results" || reason="exit code $code"
        line="epoch ${EPOCHS[$index]} ${CKPTS[$index]} FAILED ($reason; see ${RUN_DIRS[$index]}/eval.log)"
    fi
    echo "$line" | tee -a "$SUMMARY"
done
trap - INT TERM
echo "summary: $SUMMARY"
[ "$failed" -eq 0 ] || zoo_die "$failed of ${#PIDS[@]} evaluations failed"
