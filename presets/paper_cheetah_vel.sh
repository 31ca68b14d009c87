#!/usr/bin/env bash
# Preset: the paper's Cheetah-Vel configuration (Table I, 35 training tasks): SAC experts for 500k steps, then a
# checkpoint every 500 steps, 500 per task; the autoencoder, HypLatent and the zero-shot table on the 5 test tasks;
# fine-tuning from the generated policy of every test task. Cost: README "Presets and costs". Every stage resumes: run it again
# after a stop. PY picks the interpreter (PY=echo prints the commands), OUT the folder, EXTRA adds flags to every
# stage (e.g. EXTRA="--no-cuda"). Spread the collection over Slurm with tools/launch_collect.py (README "Presets and costs").
{  # read whole before it runs: editing this file during a run cannot change the run
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python}
OUT=${OUT:-paper/cheetah-vel}
EXTRA=${EXTRA:-}
once() { local out=$1; shift; [ -f "$out" ] || $PY "$@"; }  # runs a stage command unless its output exists
TRAIN="0 1 3 4 5 6 8 9 10 11 12 13 14 16 17 18 19 20 21 22 24 25 27 28 29 30 31 32 33 34 35 36 37 38 39"

$PY sac_collect.py --suite cheetah-vel --task-ids $TRAIN --total-timesteps 750000 --save-after 500000 --save-every 500 \
    --num-checkpoints 500 --out "$OUT/data" --runs-dir "$OUT/runs" $EXTRA
once "$OUT/ae.pt" ae_train.py --data "$OUT/data/cheetah-vel" --out "$OUT/ae.pt" --runs-dir "$OUT/runs" $EXTRA
once "$OUT/hyplatent.pt" hyplatent_train.py --ae "$OUT/ae.pt" --out "$OUT/hyplatent.pt" --runs-dir "$OUT/runs" $EXTRA
for t in 2 7 15 23 26; do
    once "$OUT/finetune_task$t.pt" finetune_tdreg.py --task-id $t --policy "$OUT/hyplatent_generated/task_$t.pt" \
        --out "$OUT/finetune_task$t.pt" --runs-dir "$OUT/runs" $EXTRA
done
exit
}
