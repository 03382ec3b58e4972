#!/usr/bin/env bash
# Offline-inference input of the four I3D models: ucf101 / hmdb51 x rgb / flow, each from
# configs/i3d/<dataset>_<mode>.yaml. Run with --help for the usage.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
    cat >&2 <<'EOF_USAGE'
Usage: bash scripts/run_preprocess_all.sh        (no argument; settings come from the environment)

Writes PRE_RESULT_ROOT/<dataset>_<mode>/ (00_data/*.bin, meta.json, labels.npy) for every
dataset of DATASETS and mode of MODES, with configs/i3d/<dataset>_<mode>.yaml.

Environment:
  PRE_RESULT_ROOT  output root (default: ./preprocess_Result), the default input of
                   scripts/run_infer_310.sh and scripts/run_infer_310_all.sh
  DATA_ROOT        dataset root replacing the configs' ./dataset: frames are read from
                   DATA_ROOT/<mode>/<dataset>/jpg, the annotation from
                   DATA_ROOT/<mode>/<dataset>/annotation/<dataset>_01.json (default: the configs' paths)
  BATCH_SIZE       rows per .bin file, the batch size of the exported models (default: 1; export with
                   python export.py --config_path configs/i3d/<dataset>_<mode>.yaml --batch_size 1 ...)
  DATASETS         default "ucf101 hmdb51";  MODES  default "rgb flow"
  EXTRA_ARGS       more config overrides for preprocess.py, e.g. "--num_workers 4"
  PYTHON           python interpreter (default: python from PATH)
  SKIP_SETUP=1     do not `source scripts/setup_env.sh`

Example: DATA_ROOT=./dataset bash scripts/run_preprocess_all.sh
EOF_USAGE
}

zoo_require_args 0 -- "$@"
zoo_setup
set -euo pipefail

PRE_RESULT_ROOT="$(realpath -m -- "${PRE_RESULT_ROOT:-./preprocess_Result}")"
BATCH_SIZE="${BATCH_SIZE:-1}"
[[ "$BATCH_SIZE" =~ ^[1-9][0-9]*$ ]] || zoo_die "BATCH_SIZE must be a positive integer"
read -r -a EXTRA <<< "${EXTRA_ARGS:-}"

for dataset in ${DATASETS:-ucf101 hmdb51}; do
    for mode in ${MODES:-rgb flow}; do
        args=("configs/i3d/${dataset}_${mode}.yaml" "$PRE_RESULT_ROOT/${dataset}_${mode}" --batch_size "$BATCH_SIZE")
        if [ -n "${DATA_ROOT:-}" ]; then
            data="$(realpath -m -- "$DATA_ROOT")/$mode/$dataset"
            args+=(--video_path "$data/jpg" --annotation_path "$data/annotation/${dataset}_01.json")
        fi
        SKIP_SETUP=1 bash "$ROOT/scripts/run_preprocess.sh" "${args[@]}" ${EXTRA[@]+"${EXTRA[@]}"}
    done
done
echo "preprocessed data in $PRE_RESULT_ROOT"
