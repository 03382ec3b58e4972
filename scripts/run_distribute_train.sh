#!/usr/bin/env bash
# Data-parallel training on several devices: one train.py process per Ascend NPU from an HCCL rank
# table, or an msrun-launched dynamic cluster on GPU/CPU. Run with no argument for the usage.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
    cat >&2 <<'EOF'
Usage: bash scripts/run_distribute_train.sh RANK_SIZE RANK_TABLE_FILE DATASET MODE NUM_EPOCHS \
           VIDEO_PATH ANNOTATION_PATH CHECKPOINT_PATH [CONFIG_PATH]

  RANK_SIZE        number of devices (processes) of the job, e.g. 8
  RANK_TABLE_FILE  HCCL rank table (make one with `python -m src.tools.cluster hccl`), or `none` for GPU/CPU
  DATASET          ucf101 | hmdb51 | ...          MODE  rgb | flow
  NUM_EPOCHS       training epochs
  VIDEO_PATH       frame root;  ANNOTATION_PATH  annotation JSON / list file
  CHECKPOINT_PATH  pretrained checkpoint to start from, or `none` to train from scratch
  CONFIG_PATH      YAML config (default: $CONFIG_PATH, else configs/i3d/<DATASET>_<MODE>.yaml);
                   pass e.g. configs/resnet3d/ucf101.yaml to train another model

Environment:
  DEVICE_TARGET  Ascend | GPU | CPU (default: Ascend with a rank table, CPU with `none`)
  OUTPUT_DIR     output folder, the save_dir of every rank (default: ./output/distribute_train);
                 train.py keeps rank 0's outputs (checkpoints/, train.log) there and the other ranks'
                 logs in rank_<id>/. Ascend: each process runs in rank_<id>/ and prints to
                 rank_<id>/console.log; GPU/CPU: msrun writes the workers' output to msrun_log/
  EXTRA_ARGS     more config overrides for train.py, e.g. "--batch_size 4 --lr 0.01"
  SERVER_ID      this server's IP in a multi-server rank table (default: found from the host's address)
  MASTER_PORT    msrun scheduler port on GPU/CPU (default: 8118)
  NUM_HOSTS      GPU/CPU: hosts of the msrun job (default: 1); run this script on each of them with the
                 same RANK_SIZE (workers of all hosts, RANK_SIZE / NUM_HOSTS on each), MASTER_ADDR and
                 MASTER_PORT. Ascend: the rank table lists the servers instead
  HOST_RANK      this host's place, 0..NUM_HOSTS-1 (default: 0); its workers get ranks
                 HOST_RANK * RANK_SIZE / NUM_HOSTS onwards and log to msrun_log/host_<HOST_RANK>/
  MASTER_ADDR    address of the host running msrun's scheduler (needed when NUM_HOSTS > 1)
  PYTHON         python interpreter (default: python from PATH)
  DRY_RUN=1      print each process's command and environment (this host's msrun command), start nothing
  SKIP_SETUP=1   do not `source scripts/setup_env.sh` (use the python already on PATH)

Example: bash scripts/run_distribute_train.sh 8 hccl_8p_01234567_10.0.0.1.json ucf101 rgb 40 \
           ./dataset/rgb/ucf101/jpg ./dataset/rgb/ucf101/annotation/ucf101_01.json ./src/pretrained/rgb_imagenet.ckpt
EOF
}

zoo_require_args 8 9 -- "$@"
zoo_setup
set -euo pipefail
SCRIPT_ARGS=("$@")

RANK_SIZE="$1"
RANK_TABLE_ARG="$2"
DATASET="$3"
MODE="$4"
NUM_EPOCHS="$5"
VIDEO_PATH="$(realpath -m -- "$6")"
ANNOTATION_PATH="$(realpath -m -- "$7")"
CHECKPOINT_PATH="$8"
CONFIG="${9:-${CONFIG_PATH:-$ROOT/configs/i3d/${DATASET}_${MODE}.yaml}}"
OUTPUT_DIR="$(realpath -m -- "${OUTPUT_DIR:-./output/distribute_train}")"

DRY_RUN="${DRY_RUN:-0}"

# A missing input stops a real run; a dry run only notes it, so the commands can be previewed
# before the data is in place.
missing_input() {
    if [ "$DRY_RUN" = "1" ]; then echo "note (dry run): $*; a real run stops here" >&2; else zoo_die "$*"; fi
}

[[ "$RANK_SIZE" =~ ^[1-9][0-9]*$ ]] || zoo_die "RANK_SIZE must be a positive integer, got '$RANK_SIZE'"
[[ "$NUM_EPOCHS" =~ ^[1-9][0-9]*$ ]] || zoo_die "NUM_EPOCHS must be a positive integer, got '$NUM_EPOCHS'"
[[ "$MODE" =~ ^(rgb|flow)$ ]] || zoo_die "MODE must be rgb or flow, got '$MODE'"
[ -d "$VIDEO_PATH" ] || missing_input "VIDEO_PATH $VIDEO_PATH is not a folder"
[ -e "$ANNOTATION_PATH" ] || missing_input "ANNOTATION_PATH $ANNOTATION_PATH does not exist"
CHECKPOINT_PATH="$(zoo_ckpt "$CHECKPOINT_PATH")"
[ -z "$CHECKPOINT_PATH" ] || [ -e "$CHECKPOINT_PATH" ] \
    || missing_input "CHECKPOINT_PATH $CHECKPOINT_PATH does not exist (use 'none' to train from scratch)"
CONFIG="$(zoo_config_file "$CONFIG" "pass CONFIG_PATH (9th argument or environment variable)")"

if zoo_is_none "$RANK_TABLE_ARG"; then
    DEVICE_TARGET="${DEVICE_TARGET:-CPU}"
else
    DEVICE_TARGET="${DEVICE_TARGET:-Ascend}"
fi
[[ "$DEVICE_TARGET" =~ ^(Ascend|GPU|CPU)$ ]] || zoo_die "DEVICE_TARGET must be Ascend, GPU or CPU, got '$DEVICE_TARGET'"
zoo_hosts "$RANK_SIZE" RANK_SIZE
if [ "$DEVICE_TARGET" = "Ascend" ]; then
    [ "$NUM_HOSTS" -eq 1 ] || zoo_die "NUM_HOSTS=$NUM_HOSTS is for msrun on GPU/CPU; on Ascend unset NUM_HOSTS and" \
        "HOST_RANK: the rank table lists the servers (SERVER_ID picks this one)"
else
    MASTER_PORT="${MASTER_PORT:-8118}"
    [[ "$MASTER_PORT" =~ ^[1-9][0-9]*$ ]] && [ "$MASTER_PORT" -ge 1024 ] && [ "$MASTER_PORT" -le 65535 ] \
        || zoo_die "MASTER_PORT must be a port number 1024..65535, got '$MASTER_PORT'"
    [ "$NUM_HOSTS" -eq 1 ] || [ -n "${MASTER_ADDR:-}" ] \
        || zoo_die "MASTER_ADDR is not set but NUM_HOSTS=$NUM_HOSTS; set it to the address of the host running" \
                   "msrun's scheduler (the same on every host)"
fi

read -r -a EXTRA <<< "${EXTRA_ARGS:-}"
TRAIN_ARGS=(--config_path "$CONFIG" --dataset "$DATASET" --mode "$MODE" --num_epochs "$NUM_EPOCHS"
            --video_path "$VIDEO_PATH" --annotation_path "$ANNOTATION_PATH"
            --checkpoint_path "$CHECKPOINT_PATH" --distributed True --device_target "$DEVICE_TARGET")

# "resume with: ..." after a failed job: this script's command with CHECKPOINT_PATH (8th argument)
# replaced by the newest epoch checkpoint of OUTPUT_DIR and --resume True added to EXTRA_ARGS.
print_resume_command() {
    local newest
    newest="$(ls -t "$OUTPUT_DIR"/checkpoints/*-*_*.ckpt 2> /dev/null | head -n 1 || true)"
    if [ -z "$newest" ] && [ "$HOST_RANK" -gt 0 ]; then
        echo "no epoch checkpoint in $OUTPUT_DIR/checkpoints: host 0 (global rank 0) writes them; resume every" \
             "host with host 0's newest checkpoint as CHECKPOINT_PATH and --resume True in EXTRA_ARGS" >&2
        return 0
    elif [ -z "$newest" ]; then
        echo "no epoch checkpoint was saved in $OUTPUT_DIR/checkpoints: run the same command again" >&2
        return 0
    fi
    local args=("${SCRIPT_ARGS[@]}") hosts=""
    args[7]="$newest"
    if [ "$NUM_HOSTS" -gt 1 ]; then
        hosts="NUM_HOSTS=$NUM_HOSTS HOST_RANK=$HOST_RANK MASTER_ADDR=$(zoo_quoted "$MASTER_ADDR")"
        hosts+="MASTER_PORT=$MASTER_PORT "
    fi
    echo "the newest checkpoint is $newest; resume with:" >&2
    echo "  ${hosts}OUTPUT_DIR=$(zoo_quoted "$OUTPUT_DIR")DEVICE_TARGET=$DEVICE_TARGET" \
         "EXTRA_ARGS=$(zoo_quoted "${EXTRA_ARGS:+$EXTRA_ARGS }--resume True")bash $0 $(zoo_quoted "${args[@]}")" >&2
}

# How a worker ended, from its exit code (negative: killed by that signal, as Python reports it),
# to follow "FAILED".
describe_exit() {
    if [ "$1" -lt 0 ]; then echo ", killed by signal $((-$1)) ($(kill -l $((-$1)) 2> /dev/null || echo ?))"
    elif [ "$1" -gt 128 ]; then echo " with exit code $1 (signal $(kill -l $(($1 - 128)) 2> /dev/null || echo ?))"
    else echo " with exit code $1"
    fi
}

# After a failed msrun job: the rank, exit and log of each worker msrun saw fail (its console output
# CONSOLE names the worker's pid; train.py writes its pid beside its rank in the worker's log).
report_failed_workers() {
    local console="$1" log_dir="$2" pid code log rank reported=0
    while read -r pid code; do
        log="$(grep -l "(pid $pid)" "$log_dir"/worker_*.log 2> /dev/null | head -n 1 || true)"
        rank="${log##*/worker_}"
        rank="${rank%.log}"
        echo "rank ${rank:-?} (pid $pid) FAILED$(describe_exit "$code"); see ${log:-$log_dir/worker_*.log}" >&2
        reported=1
    done < <(sed -n 's/.*Worker process \([0-9]*\) exit with exception\. Error code: \(-\{0,1\}[0-9]*\).*/\1 \2/p' \
             "$console")
    local scheduler_log="$log_dir/scheduler.log"
    [ "$NUM_HOSTS" -eq 1 ] || scheduler_log="the scheduler.log of the host at $MASTER_ADDR"
    [ "$reported" = 1 ] || echo "msrun failed before a worker did; see $scheduler_log and $console" >&2
}

launch_ascend() {
    zoo_is_none "$RANK_TABLE_ARG" \
        && zoo_die "Ascend needs a rank table; make one with \`python -m src.tools.cluster hccl\`"
    RANK_TABLE_FILE="$(realpath -m -- "$RANK_TABLE_ARG")"
    local pairs
    if [ "$DRY_RUN" = "1" ] && [ ! -e "$RANK_TABLE_FILE" ]; then
        missing_input "rank table $RANK_TABLE_FILE does not exist; devices 0..$((RANK_SIZE - 1)) shown as ranks 0..$((RANK_SIZE - 1))"
        pairs="$(for ((rank = 0; rank < RANK_SIZE; rank++)); do echo "$rank $rank"; done)"
    else
        "$PYTHON" -m src.tools.cluster validate "$RANK_TABLE_FILE" --rank_size "$RANK_SIZE" \
            || zoo_die "the rank table check failed; nothing was started"
        pairs="$("$PYTHON" -m src.tools.cluster devices "$RANK_TABLE_FILE" --server_id "${SERVER_ID:-}")" \
            || zoo_die "could not find this server's devices in $RANK_TABLE_FILE"
    fi
    export RANK_TABLE_FILE RANK_SIZE

    local pids=() ranks=() devices=() logs=() device rank rank_dir
    trap 'kill "${pids[@]}" 2>/dev/null; exit 130' INT TERM
    # After a rank fails the others wait in a collective until HCCL_EXEC_TIMEOUT; they are stopped
    # after FAILED_RANK_GRACE_S seconds instead.
    local grace="${FAILED_RANK_GRACE_S:-60}" failed_at=-1
    while read -r device rank; do
        rank_dir="$OUTPUT_DIR/rank_$rank"
        local cmd=("$PYTHON" "$ROOT/train.py" "${TRAIN_ARGS[@]}" --device_id "$device" --save_dir "$OUTPUT_DIR"
                   ${EXTRA[@]+"${EXTRA[@]}"})
        if [ "$DRY_RUN" = "1" ]; then
            echo "[rank $rank] cd $(zoo_quoted "$rank_dir")&& DEVICE_ID=$device RANK_ID=$rank" \
                 "RANK_SIZE=$RANK_SIZE RANK_TABLE_FILE=$(zoo_quoted "$RANK_TABLE_FILE")$(zoo_quoted "${cmd[@]}")>" \
                 "$(zoo_quoted "$rank_dir/console.log")2>&1"
            continue
        fi
        mkdir -p "$rank_dir"
        (cd "$rank_dir" && export DEVICE_ID="$device" RANK_ID="$rank" && exec "${cmd[@]}") \
            > "$rank_dir/console.log" 2>&1 &
        pids+=("$!"); ranks+=("$rank"); devices+=("$device"); logs+=("$rank_dir/console.log")
        echo "started rank $rank on device $device (pid $!), log: $rank_dir/console.log"
    done <<< "$pairs"
    [ "$DRY_RUN" = "1" ] && return 0

    # Poll rather than wait in order: a failed rank is reported at once, while the others may hang
    # in a collective waiting for it (Ctrl-C stops them all).
    local failed=0 running=("${!pids[@]}") still index code
    while [ "${#running[@]}" -gt 0 ]; do
        still=()
        for index in "${running[@]}"; do
            if kill -0 "${pids[$index]}" 2> /dev/null; then
                still+=("$index")
            elif wait "${pids[$index]}"; then
                echo "rank ${ranks[$index]} (device ${devices[$index]}) finished"
            else
                code=$?
                failed=$((failed + 1))
                echo "rank ${ranks[$index]} (device ${devices[$index]}) FAILED$(describe_exit "$code");" \
                     "see ${logs[$index]}" >&2
                [ "$failed_at" -ge 0 ] || failed_at="$SECONDS"
            fi
        done
        running=(${still[@]+"${still[@]}"})
        if [ "$failed_at" -ge 0 ] && [ "${#running[@]}" -gt 0 ] && [ $((SECONDS - failed_at)) -ge "$grace" ]; then
            echo "stopping the ${#running[@]} remaining rank(s): a rank failed $grace s ago" >&2
            for index in "${running[@]}"; do kill -KILL "${pids[$index]}" 2> /dev/null || true; done
        fi
        [ "${#running[@]}" -eq 0 ] || sleep 2
    done
    trap - INT TERM
    if [ "$failed" -gt 0 ]; then
        print_resume_command
        zoo_die "$failed of ${#pids[@]} ranks failed"
    fi
    echo "all ${#pids[@]} ranks finished; outputs in $OUTPUT_DIR"
}

launch_msrun() {
    zoo_is_none "$RANK_TABLE_ARG" || echo "note: $DEVICE_TARGET ignores the rank table; msrun builds the cluster"
    # A rank table left in the environment would make init() choose the HCCL rank-table path.
    unset RANK_TABLE_FILE
    local log_dir="$OUTPUT_DIR/msrun_log" hosts=() tag="[msrun]"
    if [ "$NUM_HOSTS" -gt 1 ]; then
        # Hosts sharing a filesystem keep their logs apart; node_rank fixes each host's ranks.
        log_dir="$log_dir/host_$HOST_RANK"
        hosts=("--master_addr=$MASTER_ADDR" "--node_rank=$HOST_RANK")
        tag="[msrun host $HOST_RANK of $NUM_HOSTS]"
    elif [ -n "${MASTER_ADDR:-}" ]; then
        hosts=("--master_addr=$MASTER_ADDR")
    fi
    local first_rank=$((HOST_RANK * LOCAL_WORKERS))
    local cmd=(msrun "--worker_num=$RANK_SIZE" "--local_worker_num=$LOCAL_WORKERS" ${hosts[@]+"${hosts[@]}"}
               "--master_port=$MASTER_PORT" "--log_dir=$log_dir" --join=True
               "$ROOT/train.py" "${TRAIN_ARGS[@]}" --save_dir "$OUTPUT_DIR" ${EXTRA[@]+"${EXTRA[@]}"})
    if [ "$DRY_RUN" = "1" ]; then
        echo "$tag cd $(zoo_quoted "$OUTPUT_DIR")&& $(zoo_quoted "${cmd[@]}")"
        echo "$tag msrun starts $LOCAL_WORKERS workers with DEVICE_ID=0..$((LOCAL_WORKERS - 1)) and RANK_ID" \
             "$first_rank..$((first_rank + LOCAL_WORKERS - 1)); worker logs: $log_dir/worker_<rank>.log"
        return 0
    fi
    command -v msrun > /dev/null || zoo_die "msrun not found on PATH (it comes with the mindspore wheel)"
    mkdir -p "$log_dir"
    cd "$OUTPUT_DIR"
    # msrun ends the job when a worker dies (it kills the others); its console output, kept in
    # msrun_console.log, names the failed worker.
    local console="$log_dir/msrun_console.log" code=0
    "${cmd[@]}" 2>&1 | tee "$console" || code="${PIPESTATUS[0]}"
    if [ "$code" -ne 0 ]; then
        report_failed_workers "$console" "$log_dir"
        print_resume_command
        zoo_die "msrun reported a failure (exit code $code); logs in $log_dir"
    fi
    echo "all $LOCAL_WORKERS workers of this host finished; outputs in $OUTPUT_DIR, logs in $log_dir"
}

HOSTS_NOTE=""
[ "$NUM_HOSTS" -eq 1 ] || HOSTS_NOTE=" on $NUM_HOSTS hosts (this is host $HOST_RANK)"
echo "distributed training: $RANK_SIZE x $DEVICE_TARGET$HOSTS_NOTE, config $CONFIG, output $OUTPUT_DIR"
if [ "$DEVICE_TARGET" = "Ascend" ]; then
    launch_ascend
else
    launch_msrun
fi
