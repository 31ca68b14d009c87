#!/usr/bin/env bash
# GenHyper quickstart: set up the environment, then run the whole pipeline on a small Cheetah-Vel
# config: the zero-shot table, then a short fine-tuning curve (2-core CPU: ~11 minutes from a fresh
# clone). Each stage is a plain script; copy a line to change one flag. Outputs go to $OUT
# (default: quickstart/).
set -euo pipefail
cd "$(dirname "$0")"
[ -x .venv/bin/python ] || { python3 -m venv .venv && .venv/bin/pip install -q -r requirements.txt; }
PY=.venv/bin/python
OUT=${OUT:-quickstart}

# Stage 1: expert SAC policies for 6 training tasks (v = 0.075 .. 2.85), 11 checkpoints each.
$PY sac_collect.py --suite cheetah-vel --task-ids 0 8 12 21 29 37 --total-timesteps 40000 \
    --save-after 35000 --save-every 500 --num-checkpoints 11 --out "$OUT/data" --runs-dir "$OUT/runs"
# Stage 2: parameter autoencoder over those checkpoints.
$PY ae_train.py --data "$OUT/data/cheetah-vel" --out "$OUT/ae.pt" --steps 400 --runs-dir "$OUT/runs"
# Stage 3: HypLatent, then zero-shot on the 5 held-out test tasks (2, 7, 15, 23, 26).
$PY hyplatent_train.py --ae "$OUT/ae.pt" --out "$OUT/hyplatent.pt" --iterations 300 --runs-dir "$OUT/runs"
# Stage 4: fine-tune the policy generated for test task 23 (v = 1.8) for 10k steps, then plot its curve.
$PY finetune_tdreg.py --task-id 23 --policy "$OUT/hyplatent_generated/task_23.pt" --policy-index 0 --total-timesteps 10000 \
    --learning-starts 2000 --out "$OUT/finetune_task23.pt" --runs-dir "$OUT/runs"
$PY tools/plot_finetune.py "$OUT/finetune_task23.pt" --out "$OUT/finetune.png"
