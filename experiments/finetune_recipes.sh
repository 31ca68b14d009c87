#!/usr/bin/env bash
# Record: docs/experiments/finetuning.md, "Keeping the head start". Fine-tuning recipes judged on a training task only:
# the quickstart's expert of training task 21 (v = 1.65; its best checkpoint) fine-tuned on its own task, where keeping
# the start is the whole test; 40k steps, 5 deterministic episodes every 1000 steps, seeds 7 and 8. Needs the
# quickstart's collection (experiments/quickstart.sh, stage quickstart) in QUICKSTART.
# Rule, fixed before the runs: a recipe passes if on both seeds its worst dip is at most 10% of the gap between its
# start and a random actor; the passing recipe with the highest mean return at 40k becomes finetune_tdreg.py's default.
# Then, after the collapses were traced to the temperature (learned at the full rate while the ramped actor cannot
# answer, it grew from 0.2 to ~900 in 30k steps), the same rule for the temperature learned at the ramp's rate.
# Resumable: a finished run (its output exists) is skipped. PY=echo prints the commands; RUNS moves the data.
{  # read whole before it runs: editing this file during a run cannot change the run
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python}
RUNS=${RUNS:-../genhyper-runs/finetune-recipes}
QUICKSTART=${QUICKSTART:-../genhyper-runs/quickstart}
once() { local out=$1; shift; [ -f "$out" ] || $PY "$@"; }
EXPERT="$QUICKSTART/data/cheetah-vel/task_21.pt"
SEEDS=${SEEDS:-7 8}  # SEEDS=7 and SEEDS=8 side by side use both cores; a last run with both makes the table

outs=()
for recipe in "paper|--alpha 0.2" "alpha-0.01|--alpha 0.01" "warmup-10k|--critic-warmup 10000 --alpha 0.2" \
    "warmup-10k-alpha-0.01|--critic-warmup 10000 --alpha 0.01" "temperature-ramp|--alpha 0.2 --temperature-ramp" \
    "alpha-0.01-temperature-ramp|--alpha 0.01 --temperature-ramp" \
    "warmup-10k-temperature-ramp|--critic-warmup 10000 --alpha 0.2 --temperature-ramp"; do
    IFS="|" read -r name flags <<<"$recipe"
    for seed in $SEEDS; do
        out="$RUNS/${name}_seed$seed.pt" && outs+=("$out")
        once "$out" finetune_tdreg.py --task-id 21 --policy "$EXPERT" --seed "$seed" --total-timesteps 40000 $flags \
            --out "$out" --runs-dir "$RUNS/runs"
    done
done
$PY experiments/finetune_dips.py "${outs[@]}" --out "$RUNS/dips.md"
exit
}
