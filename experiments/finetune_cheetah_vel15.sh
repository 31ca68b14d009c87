#!/usr/bin/env bash
# Record: docs/experiments/finetuning.md, "From cheetah-vel-15's generator". Fine-tuning from the generated policies of
# cheetah-vel-15's final generator (presets/cheetah_vel15.sh, stage final; RUNS must hold it) on test tasks 23 and 26,
# seeds 1-3, 100k steps: fine-tuning's defaults, the paper's recipe (the temperature starting at 0.2) and scratch SAC;
# then the figure and its table (worst dip as a fraction of the start's gap to a random actor, the return at 20k, 50k
# and 100k). The generated start of seed s is policy s - 1 of the task's file (a zero-shot sample, not chosen by its
# return). Resumable: a finished run (its output exists) is skipped, an interrupted one resumes. PY=echo prints the
# commands; RUNS moves the data; HYP names the generator (its <HYP>_generated/ folder holds the policies). TASKS, SEEDS
# and ROWS (generated paper scratch) pick a part, so two parts can run side by side; the figure is drawn from every
# finished run.
{  # read whole before it runs: editing this file during a run cannot change the run
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python}
RUNS=${RUNS:-../genhyper-runs/cheetah-vel-15}
HYP=${HYP:-$RUNS/hyplatent_15_basin.pt}
FT="$RUNS/finetune"
once() { local out=$1; shift; [ -f "$out" ] || $PY "$@"; }
TASKS=${TASKS:-23 26}
SEEDS=${SEEDS:-1 2 3}
ROWS=" ${ROWS:-generated paper scratch} "
row() {  # row NAME OUT SCRIPT FLAGS...: runs it once if ROWS names it
    local name=$1 out=$2 && shift 2
    if [[ $ROWS == *" $name "* ]]; then once "$out" "$@" --out "$out" --runs-dir "$RUNS/runs"; fi
}

for t in $TASKS; do for s in $SEEDS; do
    gen="--task-id $t --policy ${HYP%.pt}_generated/task_$t.pt --policy-index $((s - 1)) --seed $s --total-timesteps 100000"
    row generated "$FT/task${t}_generated_seed$s.pt" finetune_tdreg.py $gen
    row paper "$FT/task${t}_generated_paper_seed$s.pt" finetune_tdreg.py $gen --alpha 0.2 --critic-warmup 0 --anchor-weight 0
    row scratch "$FT/task${t}_scratch_seed$s.pt" finetune_tdreg.py --task-id "$t" --init scratch --lambda-td 0 \
        --lr-ramp-steps 0 --seed "$s" --total-timesteps 100000
done; done
$PY tools/plot_finetune.py "$FT"/task*.pt --out "$RUNS/finetune_cheetah_vel15.png"
exit
}
