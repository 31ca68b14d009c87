#!/usr/bin/env bash
# Record: docs/experiments/throughput.md, "Updates in bfloat16". Does sac_collect.py --bf16 learn the same experts as
# the float32 update? The quickstart's collection (Cheetah-Vel training tasks 0 8 12 21 29 37, 40k steps, 11
# checkpoints from 35k on), float32 and --bf16, collection seeds 1, 2 and 3; then experiments/bf16_compare.py pairs the
# runs task by task and seed by seed.
# Rule, fixed before the runs: the measure is each task's mean return over its kept checkpoints (what a generator trains
# on); --bf16 counts as learning the same experts if the 95% bootstrap interval of the mean difference bf16 - float32
# over the 18 (task, seed) pairs contains 0 or lies above it. If it lies below 0, --bf16 is slower learning, and the
# record says so beside its speed.
# Resumable: a finished run (its task files exist) is skipped by sac_collect.py itself. PY=echo prints the commands;
# RUNS moves the data; SEEDS picks the seeds (two calls with SEEDS=1 and SEEDS="2 3" use both cores).
{  # read whole before it runs: editing this file during a run cannot change the run
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python}
RUNS=${RUNS:-../genhyper-runs/bf16-check}
SEEDS=${SEEDS:-1 2 3}
COLLECT="--suite cheetah-vel --task-ids 0 8 12 21 29 37 --total-timesteps 40000 --save-after 35000 --save-every 500 \
--num-checkpoints 11"
for seed in $SEEDS; do
    for precision in fp32 bf16; do
        flags=$([ $precision = bf16 ] && echo --bf16 || true)
        $PY sac_collect.py $COLLECT --seed "$seed" $flags --out "$RUNS/${precision}_seed$seed" --runs-dir "$RUNS/runs"
    done
done
$PY experiments/bf16_compare.py "$RUNS" --out "$RUNS/compare.md"
exit
}
