#!/usr/bin/env bash
# Record: docs/experiments/cheetah-vel-10.md. The reference collection (sac_collect.py's defaults: 10 training tasks,
# 150k steps, 100 checkpoints), its autoencoder, HypLatent with eq. (2)'s parameter-space reconstruction and with
# AMT-Hyp's latent regression (--recon latent), each with Table I on the 5 test tasks.
# Resumable: a finished command (its output exists) is skipped. PY=echo prints the commands; RUNS moves the data.
{  # read whole before it runs: editing this file during a run cannot change the run
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python}
RUNS=${RUNS:-../genhyper-runs/cheetah-vel-10}
once() { local out=$1; shift; [ -f "$out" ] || $PY "$@"; }

$PY sac_collect.py --out "$RUNS/data" --runs-dir "$RUNS/runs"   # skips the tasks already collected
once "$RUNS/cv10_ae.pt" ae_train.py --data "$RUNS/data/cheetah-vel" --out "$RUNS/cv10_ae.pt" --steps 3000 --runs-dir "$RUNS/runs"
once "$RUNS/cv10_hyplatent.pt" hyplatent_train.py --ae "$RUNS/cv10_ae.pt" --out "$RUNS/cv10_hyplatent.pt" --iterations 1500 \
    --runs-dir "$RUNS/runs"
once "$RUNS/cv10_hyplatent_latent.pt" hyplatent_train.py --ae "$RUNS/cv10_ae.pt" --out "$RUNS/cv10_hyplatent_latent.pt" \
    --iterations 1500 --recon latent --runs-dir "$RUNS/runs"
exit
}
