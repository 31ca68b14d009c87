#!/usr/bin/env bash
# Record: docs/experiments/throughput.md, "Updates in bfloat16". Do the --bf16 flags learn what float32 learns? STAGES:
#   collect    sac_collect.py: the quickstart's collection (Cheetah-Vel training tasks 0 8 12 21 29 37, 40k steps, 11
#              checkpoints from 35k on), float32 and --bf16, collection seeds 1, 2 and 3; experiments/bf16_compare.py
#              pairs the runs task by task and seed by seed. Rule, fixed before the runs: the measure is each task's
#              mean return over its kept checkpoints (what a generator trains on); --bf16 counts as learning the same
#              experts if the 95% bootstrap interval of the mean difference bf16 - float32 over the 18 (task, seed)
#              pairs contains 0 or lies above it. If it lies below 0, --bf16 is slower learning, and the record says so.
#   generator  hyplatent_train.py on the float32 seed-1 collection, the quickstart's strict chain (autoencoder and
#              HypLatent on training tasks 0 12 29 37, 300 iterations, scored on training tasks 8 and 21 held out from
#              both, and at the 4 training velocities), float32 and --bf16, generator seeds 0, 1 and 2. Rule, fixed
#              before the runs: --bf16 trains the same generator if its generated mean over the 3 seeds lies within the
#              3 float32 seeds' range (lowest to highest), on the held-out tasks and at the training velocities both.
# Resumable: a finished run (its output exists) is skipped. PY=echo prints the commands; RUNS moves the data; SEEDS
# picks the collection seeds (two calls with SEEDS=1 and SEEDS="2 3" use both cores).
{  # read whole before it runs: editing this file during a run cannot change the run
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python}
RUNS=${RUNS:-../genhyper-runs/bf16-check}
SEEDS=${SEEDS:-1 2 3}
STAGES=${STAGES:-collect generator}
once() { local out=$1; shift; [ -f "$out" ] || $PY "$@"; }
COLLECT="--suite cheetah-vel --task-ids 0 8 12 21 29 37 --total-timesteps 40000 --save-after 35000 --save-every 500 \
--num-checkpoints 11"
FIT="0.075 0.975 2.25 2.85"  # the 4 training velocities (tasks 0 12 29 37)
for stage in $STAGES; do
    case $stage in
    collect)
        for seed in $SEEDS; do
            for precision in fp32 bf16; do
                flags=$([ $precision = bf16 ] && echo --bf16 || true)
                $PY sac_collect.py $COLLECT --seed "$seed" $flags --out "$RUNS/${precision}_seed$seed" --runs-dir "$RUNS/runs"
            done
        done
        $PY experiments/bf16_compare.py "$RUNS" --out "$RUNS/compare.md"
        ;;
    generator)
        ae="$RUNS/generator/ae.pt" held=() fits=()
        once "$ae" ae_train.py --data "$RUNS/fp32_seed1/cheetah-vel" --train-task-ids 0 12 29 37 --steps 400 --out "$ae" \
            --runs-dir "$RUNS/runs"
        for precision in fp32 bf16; do
            for seed in 0 1 2; do
                flags=$([ $precision = bf16 ] && echo --bf16 || true)
                hyp="$RUNS/generator/hyplatent_${precision}_seed$seed.pt"
                once "$hyp" hyplatent_train.py --ae "$ae" --out "$hyp" --train-task-ids 0 12 29 37 --test-task-ids 8 21 \
                    --iterations 300 --seed "$seed" $flags --runs-dir "$RUNS/runs"
                once "${hyp%.pt}_fit.json" hyplatent_train.py --out "$hyp" --eval-only --params $FIT \
                    --table "${hyp%.pt}_fit.json"
                held+=("${hyp%.pt}_zeroshot.json") fits+=("${hyp%.pt}_fit.json")
            done
        done
        $PY tools/compare_recipes.py "${held[@]}" --out "$RUNS/generator/held_out.md"
        $PY tools/compare_recipes.py "${fits[@]}" --out "$RUNS/generator/fit.md"
        ;;
    *) echo "STAGES: unknown stage '$stage', expected collect or generator" >&2 && exit 2 ;;
    esac
done
exit
}
