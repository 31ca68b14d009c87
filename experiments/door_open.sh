#!/usr/bin/env bash
# Record: docs/experiments/door-open.md. Probes on MetaWorld door-open alone, each SAC with --keep successful and a
# checkpoint every 2000 steps from 4000 on, from another task's expert of the 16-task collection or from a behaviour
# clone of the scripted policy (experiments/door_open_clone.py), with and without fine-tuning's guards. DATA must hold
# the collection (experiments/metaworld.sh, stage collect).
# STAGES picks the probes: experts (from other tasks' experts), clone (from the clone of drawer-open's expert), recipe
# (fine-tuning's recipe from a clone of a fresh actor), long (SAC from scratch for 1M steps); the last two need no
# collection.
# Resumable: a finished probe (its report exists) is skipped. PY=echo prints the commands; RUNS moves the data.
{  # read whole before it runs: editing this file during a run cannot change the run
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python}
RUNS=${RUNS:-../genhyper-runs/door-open}
DATA=${DATA:-../genhyper-runs/metaworld/data_successful/metaworld}
once() { local out=$1; shift; [ -f "$out" ] || $PY "$@"; }
STAGES=${STAGES:-experts clone recipe long}
PROBE="--suite metaworld --task-ids door-open --keep successful --save-after 4000 --save-every 2000 --num-checkpoints 20"

probe() {  # probe NAME FLAGS...: one SAC run on door-open into $RUNS/NAME; one that diverges leaves NAME/stopped
    local name=$1 && shift
    [ -f "$RUNS/$name/stopped" ] && return
    once "$RUNS/$name/metaworld/collect_1.json" sac_collect.py $PROBE --out "$RUNS/$name" --runs-dir "$RUNS/runs" "$@" ||
        { mkdir -p "$RUNS/$name" && touch "$RUNS/$name/stopped"; }
}

for stage in $STAGES; do
    case $stage in
    experts)
        probe from_drawer_open --init-from "$DATA/task_02.pt" --total-timesteps 100000
        probe from_drawer_open_seed2 --init-from "$DATA/task_02.pt" --total-timesteps 100000 --seed 2
        probe from_window_open --init-from "$DATA/task_00.pt" --total-timesteps 100000
        for n in 10000 30000; do
            probe "from_drawer_open_scripted$n" --init-from "$DATA/task_02.pt" --scripted-steps "$n" --total-timesteps 100000
        done
        ;;
    clone)
        once "$RUNS/clone.pt" experiments/door_open_clone.py --init "$DATA/task_02.pt" --out "$RUNS/clone.pt"
        probe clone_plain --init-from "$RUNS/clone.pt" --total-timesteps 60000
        probe clone_ramp --init-from "$RUNS/clone.pt" --lr-ramp-steps 20000 --total-timesteps 60000
        probe clone_guards --init-from "$RUNS/clone.pt" --lr-ramp-steps 40000 --lambda-td 10 --total-timesteps 60000
        probe clone_guards_scripted --init-from "$RUNS/clone.pt" --lr-ramp-steps 40000 --lambda-td 10 --scripted-steps 10000 \
            --total-timesteps 60000
        ;;
    recipe)
        # fine-tuning's recipe for a policy start (temperature starting at 0.01, ramp 40k, lambda_TD 10), with and
        # without 10k critic-only updates, from a clone of a fresh actor (needs no collection); checkpoints from 30k on
        once "$RUNS/clone_fresh.pt" experiments/door_open_clone.py --out "$RUNS/clone_fresh.pt"
        RECIPE="--alpha 0.01 --lr-ramp-steps 40000 --lambda-td 10 --save-after 30000 --num-checkpoints 35"
        RECIPE="$RECIPE --total-timesteps 100000"
        probe clone_fresh_recipe --init-from "$RUNS/clone_fresh.pt" $RECIPE
        # the temperature held at 0.01 (autotuning drove it from 0.01 to ~3000 in 36k steps), or learned at the ramp's rate
        probe clone_fresh_recipe_fixed --init-from "$RUNS/clone_fresh.pt" $RECIPE --no-autotune
        probe clone_fresh_recipe_temperature_ramp --init-from "$RUNS/clone_fresh.pt" $RECIPE --temperature-ramp
        probe clone_fresh_recipe_warmup --init-from "$RUNS/clone_fresh.pt" $RECIPE --critic-warmup 10000
        # a pull toward the clone's actions that fades over the ramp (gone from step 45k on)
        probe clone_fresh_recipe_anchor100 --init-from "$RUNS/clone_fresh.pt" $RECIPE --anchor-weight 100
        probe clone_fresh_recipe_anchor100_fixed --init-from "$RUNS/clone_fresh.pt" $RECIPE --anchor-weight 100 --no-autotune
        probe clone_fresh_recipe_anchor100_tramp --init-from "$RUNS/clone_fresh.pt" $RECIPE --anchor-weight 100 \
            --temperature-ramp
        once "$RUNS/spread.md" experiments/door_open_spread.py "$RUNS/clone_fresh.pt" \
            "$RUNS"/clone_fresh_recipe_anchor100_{fixed,tramp}/metaworld/task_01.pt --out "$RUNS/spread.md"
        ;;
    long)
        # SAC from scratch for 1M steps (public SAC curves first succeed on door-open between 100k and 700k steps),
        # evaluated every 10k steps from 100k on; it stops once it has kept 20 successful checkpoints
        probe long_1m --total-timesteps 1000000 --save-after 100000 --save-every 10000 --state-every 20000
        once "$RUNS/long_experts.md" experiments/door_open_experts.py "$RUNS/long_1m/metaworld/task_01.pt" \
            --out "$RUNS/long_experts.md"
        ;;
    *) echo "STAGES: unknown stage '$stage' (experts, clone, recipe, long)" >&2 && exit 2 ;;
    esac
done
exit
}
