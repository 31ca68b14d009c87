#!/usr/bin/env bash
# Preset: the paper's MetaWorld configuration (Tables II-III, 8 seen + 8 unseen tasks): SAC experts with scripted
# seeding, a checkpoint every 500 steps once a task succeeds on both goals, 500 per task, up to 1M steps; the
# autoencoder, the behaviour embedding, HypLatent and HypFormer with their MTRL tables. Cost: README "Presets and costs".
# Run it again after a stop: a finished stage (its output exists) is skipped, an interrupted one resumes. PY picks
# the interpreter (PY=echo prints the commands), OUT the folder, EXTRA adds flags to every stage (e.g.
# EXTRA="--no-cuda"). Fan-out: tools/launch_collect.py (README "Presets and costs").
{  # read whole before it runs: editing this file during a run cannot change the run
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python}
OUT=${OUT:-paper/metaworld}
EXTRA=${EXTRA:-}
once() { local out=$1; shift; [ -f "$out" ] || $PY "$@"; }  # runs a stage command unless its output exists

$PY sac_collect.py --suite metaworld --task-ids $(seq 0 15) --scripted-steps 10000 --total-timesteps 1000000 \
    --save-after 4000 --save-every 500 --num-checkpoints 500 --out "$OUT/data" --runs-dir "$OUT/runs" $EXTRA
once "$OUT/ae.pt" ae_train.py --data "$OUT/data/metaworld" --out "$OUT/ae.pt" --runs-dir "$OUT/runs" $EXTRA
once "$OUT/embed.pt" behavior_embed.py --data "$OUT/data/metaworld" --out "$OUT/embed.pt" --runs-dir "$OUT/runs" $EXTRA
once "$OUT/hyplatent.pt" hyplatent_train.py --ae "$OUT/ae.pt" --condition behavior --embedding "$OUT/embed.pt" \
    --out "$OUT/hyplatent.pt" --eval-samples 100 --runs-dir "$OUT/runs" $EXTRA
once "$OUT/hypformer.pt" hypformer_train.py --hyplatent "$OUT/hyplatent.pt" --out "$OUT/hypformer.pt" \
    --runs-dir "$OUT/runs" $EXTRA
exit
}
