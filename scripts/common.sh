#!/usr/bin/env bash
# Helpers sourced by the standalone launch scripts.

# Activate the project environment unless SKIP_SETUP=1, and put the project on PYTHONPATH.
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
zoo_config() {
    local config="${CONFIG_PATH:-configs/i3d/${1}_${2}.yaml}"
    [ -f "$ROOT/$config" ] || [ -f "$config" ] || { echo "error: config $config not found (set CONFIG_PATH)" >&2; exit 1; }
    echo "$config"
}

# `none` or an empty value means "no checkpoint".
zoo_ckpt() { if [ -z "$1" ] || [ "${1,,}" = "none" ]; then echo ""; else realpath -m -- "$1"; fi; }
