#!/usr/bin/env bash
# Preset: ant-dir-15 (docs/experiments/ant-dir.md), the paper's smallest Ant-Dir training set (Table I: 15 tasks).
# STAGES picks what runs:
#   collect   SAC experts of the 15 training tasks (500k steps, 200 checkpoints from 400.5k on, as the paper keeps
#             checkpoints from 500k on of a longer run), then of the 5 test tasks into the same folder: only the
#             zero-shot table's "own expert" column reads those (ae_train.py never trains on a test task)
# The 15 training tasks were fixed before any Ant-Dir number of them was seen: for each of the 15 evenly spaced
# directions 0, 24, ..., 336 degrees, the training task (not one of Table I's test tasks) whose goal is nearest.
# Run it again after a stop: sac_collect.py resumes an interrupted run and skips tasks whose files exist. PY picks the
# interpreter (PY=echo prints the commands), OUT the folder, EXTRA adds flags to every stage (e.g. "--no-cuda").
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python}
OUT=${OUT:-paper/ant-dir-15}
EXTRA=${EXTRA:-}
STAGES=${STAGES:-collect}
TRAIN="49 1 45 28 27 7 20 16 32 15 34 43 38 10 8"  # goals 10.5, 24.4, 48.2, ..., 340.4 degrees: one per 24 degrees
TEST="6 17 23 30 41"                              # Table I's test tasks (the suite's)
COLLECT="--total-timesteps 500000 --save-after 400500 --save-every 500 --num-checkpoints 200 --state-every 20000"

for stage in $STAGES; do
    case $stage in
    collect)
        $PY sac_collect.py --suite ant-dir --task-ids $TRAIN $COLLECT --out "$OUT/data" --runs-dir "$OUT/runs" $EXTRA
        $PY sac_collect.py --suite ant-dir --task-ids $TEST $COLLECT --out "$OUT/data" --runs-dir "$OUT/runs" $EXTRA
        ;;
    *) echo "STAGES: unknown stage '$stage', expected collect" >&2 && exit 2 ;;
    esac
done
