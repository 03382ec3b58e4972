#!/usr/bin/env bash
# Helpers sourced by the launch scripts (scripts/*.sh) and ascend_310_infer/build.sh. Sourcing only
# defines functions; a script calls zoo_require_args before zoo_setup, so a wrong call is answered
# without setting up the environment.

# Print "error: MESSAGE" and exit 1.
zoo_die() { echo "error: $*" >&2; exit 1; }

# `none` or an empty value means "not given" (no checkpoint, no rank table).
zoo_is_none() { [ -z "$1" ] || [ "${1,,}" = "none" ]; }

# Each argument shell-quoted, followed by a space: commands printed by DRY_RUN=1 can be pasted.
zoo_quoted() { printf '%q ' "$@"; }

# Print "error: MESSAGE", then the calling script's `usage` function, and exit 1.
zoo_usage_error() {
    echo "error: $*" >&2
    usage
    exit 1
}

# The calling script's leading comment block (after the #! line) without its "# " marks, on stderr:
# the usage of a script documented by its header.
zoo_print_header() { awk 'NR > 1 { if (!/^#/) exit; sub(/^# ?/, ""); print }' "$0" >&2; }

# Show the calling script's usage and exit 0 when its only argument is -h or --help.
zoo_answer_help() {
    if [ "$#" -eq 1 ] && { [ "$1" = "-h" ] || [ "$1" = "--help" ]; }; then
        usage
        exit 0
    fi
}

# Exit through zoo_usage_error unless the script got one of the argument counts COUNT...
# (a lone -h / --help shows the usage):
#   zoo_require_args 8 9 -- "$@"
zoo_require_args() {
    local counts=() count
    while [ "$1" != "--" ]; do counts+=("$1"); shift; done
    shift
    zoo_answer_help "$@"
    for count in "${counts[@]}"; do
        [ "$#" -eq "$count" ] && return 0
    done
    if [ "${counts[*]}" = "0" ]; then
        zoo_usage_error "expected no argument, got $#"
    fi
    local expected="${counts[*]}"
    zoo_usage_error "expected ${expected// / or } arguments, got $#"
}

# Activate the project environment unless SKIP_SETUP=1, put the project on PYTHONPATH, and set
# ROOT (the repository) and PYTHON (the interpreter, default: python from PATH).
zoo_setup() {
    ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    if [ "${SKIP_SETUP:-0}" != "1" ]; then
        # shellcheck disable=SC1091
        source "$ROOT/scripts/setup_env.sh"
    fi
    export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
    PYTHON="${PYTHON:-python}"
}

# DEVICE_TARGET from the environment, else the device this machine has.
zoo_device_target() {
    if [ -n "${DEVICE_TARGET:-}" ]; then echo "$DEVICE_TARGET"
    elif command -v npu-smi >/dev/null 2>&1; then echo Ascend
    elif command -v nvidia-smi >/dev/null 2>&1; then echo GPU
    else echo CPU
    fi
}

# The config of a dataset/mode: CONFIG_PATH from the environment, else configs/i3d/<dataset>_<mode>.yaml.
zoo_config() { zoo_config_file "${CONFIG_PATH:-configs/i3d/${1}_${2}.yaml}" "set CONFIG_PATH"; }

# The absolute path of config file CONFIG: a relative path is read from the current folder, else from
# the repository root. Exits with "config file CONFIG not found[; HINT]" when it is in neither.
#   CONFIG="$(zoo_config_file "$CONFIG" "pass CONFIG_PATH")"
zoo_config_file() {
    if [ -f "$1" ]; then
        realpath -- "$1"
    elif [ -f "$ROOT/$1" ]; then
        echo "$ROOT/$1"
    else
        zoo_die "config file $1 not found${2:+; $2}"
    fi
}

# Check the hosts a job of TOTAL workers is spread over and set NUM_HOSTS (default 1), HOST_RANK (this
# host's place, default 0) and LOCAL_WORKERS (TOTAL / NUM_HOSTS, the workers of this host). NAME is the
# setting TOTAL comes from, for the error messages.
#   zoo_hosts "$RANK_SIZE" RANK_SIZE
zoo_hosts() {
    local total="$1" name="$2"
    NUM_HOSTS="${NUM_HOSTS:-1}"
    HOST_RANK="${HOST_RANK:-0}"
    [[ "$NUM_HOSTS" =~ ^[1-9][0-9]*$ ]] \
        || zoo_die "NUM_HOSTS must be a positive integer (the number of hosts of the job), got '$NUM_HOSTS'"
    [[ "$HOST_RANK" =~ ^(0|[1-9][0-9]*)$ ]] && [ "$HOST_RANK" -lt "$NUM_HOSTS" ] \
        || zoo_die "HOST_RANK must be 0..$((NUM_HOSTS - 1)) with NUM_HOSTS=$NUM_HOSTS (give each host its own" \
                   "place, 0 on the first host), got '$HOST_RANK'"
    [ $((total % NUM_HOSTS)) -eq 0 ] \
        || zoo_die "$name=$total does not divide over NUM_HOSTS=$NUM_HOSTS hosts; make $name (the workers of" \
                   "all hosts) a multiple of NUM_HOSTS"
    LOCAL_WORKERS=$((total / NUM_HOSTS))
}

# The absolute checkpoint path, or "" for `none` / an empty value.
zoo_ckpt() { if zoo_is_none "$1"; then echo ""; else realpath -m -- "$1"; fi; }

# Run "$PYTHON ARGS... --save_dir OUT_DIR $EXTRA_ARGS", its output also written to OUT_DIR/console.log;
# with DRY_RUN=1 print that command instead.
zoo_run_logged() {
    local out="$1"
    shift
    local extra=()
    read -r -a extra <<< "${EXTRA_ARGS:-}"
    local cmd=("$PYTHON" "$@" --save_dir "$out" ${extra[@]+"${extra[@]}"})
    if [ "${DRY_RUN:-0}" = "1" ]; then
        echo "$(zoo_quoted "${cmd[@]}")> $(zoo_quoted "$out/console.log")"
        return 0
    fi
    mkdir -p "$out"
    "${cmd[@]}" 2>&1 | tee "$out/console.log"
}

# The MindSpore package folder: MINDSPORE_PATH when set, else the first `mindspore` folder in the
# Location of `pip show mindspore-ascend`, then `pip show mindspore` (PYTHON's pip). With FILE (a path
# inside the package, e.g. lib/libmindspore.so) only a folder holding FILE counts. Fails when none does.
zoo_find_mindspore() {
    local required="${1:-}" package location
    if [ -n "${MINDSPORE_PATH:-}" ]; then
        [ -z "$required" ] || [ -f "$MINDSPORE_PATH/$required" ] || return 1
        echo "$MINDSPORE_PATH"
        return 0
    fi
    for package in mindspore-ascend mindspore; do
        location="$("${PYTHON:-python}" -m pip show "$package" 2>/dev/null | awk '/^Location:/ {print $2}')"
        if [ -n "$location" ] && [ -d "$location/mindspore" ] \
                && { [ -z "$required" ] || [ -f "$location/mindspore/$required" ]; }; then
            echo "$location/mindspore"
            return 0
        fi
    done
    return 1
}
