#!/usr/bin/env bash
# The main job: generate the demo dataset, prepare it (frames, flow, annotations) and train,
# evaluate and export a model on it. Creates/refreshes .venv first.
#   bash scripts/run_demo.sh [i3d|resnet3d|tsn|bmn|all] [--work_dir DIR] [--flow_method dis|farneback|tvl1]
# The model defaults to i3d; `--model NAME` works as well. --help lists the options.
set -eo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup_env.sh"
cd "$ROOT"
# A leading word is the model; options are passed on as they are.
if [ $# -gt 0 ] && [[ "$1" != -* ]]; then
    MODEL="$1"
    shift
    set -- --model "$MODEL" "$@"
fi
python -m src.demo "$@"
