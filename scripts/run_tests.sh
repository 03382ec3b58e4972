#!/usr/bin/env bash
# The test suite. Creates/refreshes .venv first, so a fresh clone needs nothing else.
# Extra arguments go to pytest (e.g. `bash scripts/run_tests.sh -k config`).
set -eo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup_env.sh"
cd "$ROOT"
set +e
# A passing run keeps no temporary folders: checkpoints and datasets take ~1.7 GB a run.
python -m pytest -q -o tmp_path_retention_policy=failed tests "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "no tests were collected: that is a failure" >&2
    exit 1
fi
exit "$status"
