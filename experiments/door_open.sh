#!/usr/bin/env bash
# Record: docs/experiments/door-open.md. Probes on MetaWorld door-open alone, each SAC with --keep successful and a
# checkpoint every 2000 steps from 4000 on, from another task's expert of the 16-task collection or from a behaviour
# clone of the scripted policy (experiments/door_open_clone.py), with and without fine-tuning's guards. DATA must hold
# the collection (experiments/metaworld.sh, stage collect).
# Resumable: a finished probe (its report exists) is skipped. PY=echo prints the commands; RUNS moves the data.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python}
RUNS=${RUNS:-../genhyper-runs/door-open}
DATA=${DATA:-../genhyper-runs/metaworld/data_successful/metaworld}
once() { local out=$1; shift; [ -f "$out" ] || $PY "$@"; }
PROBE="--suite metaworld --task-ids door-open --keep successful --save-after 4000 --save-every 2000 --num-checkpoints 20"

probe() {  # probe NAME FLAGS...: one SAC run on door-open into $RUNS/NAME
    local name=$1 && shift
    once "$RUNS/$name/metaworld/collect_1.json" sac_collect.py $PROBE --out "$RUNS/$name" --runs-dir "$RUNS/runs" "$@"
}

probe from_drawer_open --init-from "$DATA/task_02.pt" --total-timesteps 100000
probe from_drawer_open_seed2 --init-from "$DATA/task_02.pt" --total-timesteps 100000 --seed 2
probe from_window_open --init-from "$DATA/task_00.pt" --total-timesteps 100000
for n in 10000 30000; do
    probe "from_drawer_open_scripted$n" --init-from "$DATA/task_02.pt" --scripted-steps "$n" --total-timesteps 100000
done
once "$RUNS/clone.pt" experiments/door_open_clone.py --init "$DATA/task_02.pt" --out "$RUNS/clone.pt"
probe clone_plain --init-from "$RUNS/clone.pt" --total-timesteps 60000
probe clone_ramp --init-from "$RUNS/clone.pt" --lr-ramp-steps 20000 --total-timesteps 60000
probe clone_guards --init-from "$RUNS/clone.pt" --lr-ramp-steps 40000 --lambda-td 10 --total-timesteps 60000
probe clone_guards_scripted --init-from "$RUNS/clone.pt" --lr-ramp-steps 40000 --lambda-td 10 --scripted-steps 10000 \
    --total-timesteps 60000
