#!/usr/bin/env bash
# Record: docs/experiments/ant-dir.md. 8 Ant-Dir training tasks spread around the circle, 100k steps each, 20
# checkpoints; an autoencoder of 800 steps; HypLatent of 600 iterations on raw radians and on (cos, sin), each with
# Table I on the 5 test tasks.
# Resumable: a finished command (its output exists) is skipped. PY=echo prints the commands; RUNS moves the data.
{  # read whole before it runs: editing this file during a run cannot change the run
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python}
RUNS=${RUNS:-../genhyper-runs/ant-dir-8}
once() { local out=$1; shift; [ -f "$out" ] || $PY "$@"; }

$PY sac_collect.py --suite ant-dir --task-ids 3 20 27 32 33 37 46 49 --total-timesteps 100000 --save-after 90500 \
    --num-checkpoints 20 --out "$RUNS/data" --runs-dir "$RUNS/runs"
once "$RUNS/ae.pt" ae_train.py --data "$RUNS/data/ant-dir" --out "$RUNS/ae.pt" --steps 800 --runs-dir "$RUNS/runs"
for condition in raw cossin; do
    once "$RUNS/hyplatent_$condition.pt" hyplatent_train.py --ae "$RUNS/ae.pt" --out "$RUNS/hyplatent_$condition.pt" \
        --condition $condition --iterations 600 --runs-dir "$RUNS/runs"
done
exit
}
