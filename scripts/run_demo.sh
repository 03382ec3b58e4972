#!/usr/bin/env bash
# The main job: generate the demo dataset, prepare it (frames, flow, annotations) and train,
# evaluate and export a model on it. Creates/refreshes .venv first.
#   bash scripts/run_demo.sh [i3d|resnet3d|tsn|bmn|all] [--work_dir DIR] [--flow_method dis|farneback|tvl1]
set -eo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup_env.sh"
cd "$ROOT"
MODEL="${1:-i3d}"
[ $# -gt 0 ] && shift
python -m src.demo --model "$MODEL" "$@"
