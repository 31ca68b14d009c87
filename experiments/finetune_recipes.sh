#!/usr/bin/env bash
# Record: docs/experiments/finetuning.md, "Keeping the head start". Fine-tuning recipes judged on a training task only:
# the quickstart's expert of training task 21 (v = 1.65; its best checkpoint) fine-tuned on its own task, where keeping
# the start is the whole test; 40k steps, 5 deterministic episodes every 1000 steps, seeds 7 and 8. Needs the
# quickstart's collection (experiments/quickstart.sh, stage quickstart) in QUICKSTART.
# Rule, fixed before the runs: a recipe passes if on both seeds its worst dip is at most 10% of the gap between its
# start and a random actor; the passing recipe with the highest mean return at 40k becomes finetune_tdreg.py's default.
# Then, after the collapses were traced to the temperature (learned at the full rate while the ramped actor cannot
# answer, it grew from 0.2 to ~900 in 30k steps), the same rule for the temperature learned at the ramp's rate.
# Last, the expert again with the default this rule chose on a generated start (--anchor-weight 100); it collapsed
# there (the temperature outgrew the anchored actor, as it had outgrown a warmed-up one), so the anchor with the
# temperature ramp and the anchor after a critic warm-up on both starts, and the rule for a policy start's default
# became: pass on both starts and both seeds, then the highest mean return at 40k over the four runs.
# Then, after that default (the anchor, from a generated start) held cheetah-vel-15's policy on a test task until the
# anchor faded at the ramp's end and collapsed it there, at 45k steps, past the 40k these probes ran: the generated
# start again for 100k steps (stage release), the anchor with a floor it never fades below; the same rule over the
# whole 100k, then the highest mean return at 100k becomes the default from a generated start.
# STAGES picks: expert (the above), generated (the same rule on a generated start: cheetah-vel-15's final generator's
# first policy at training velocity 2.1, task 27, fine-tuned on task 27, after the default recipe collapsed from a
# generated start on a test task; needs CV15 = the cheetah-vel-15 run folder with its final stage done).
# Resumable: a finished run (its output exists) is skipped. PY=echo prints the commands; RUNS moves the data.
{  # read whole before it runs: editing this file during a run cannot change the run
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python}
RUNS=${RUNS:-../genhyper-runs/finetune-recipes}
QUICKSTART=${QUICKSTART:-../genhyper-runs/quickstart}
once() { local out=$1; shift; [ -f "$out" ] || $PY "$@"; }
CV15=${CV15:-../genhyper-runs/cheetah-vel-15}
STAGES=${STAGES:-expert generated release}
SEEDS=${SEEDS:-7 8}  # SEEDS=7 and SEEDS=8 side by side use both cores; a last run with both makes the table

for stage in $STAGES; do
    steps=40000 at="10000 20000 40000"  # each run's length, and the steps its table reports
    case $stage in
    expert)
        # --anchor-weight 0 --anchor-floor 0: not defaults when these ran; a recipe's own flags come after and win
        start="--task-id 21 --policy $QUICKSTART/data/cheetah-vel/task_21.pt --anchor-weight 0 --anchor-floor 0" dir=$RUNS
        recipes=("paper|--alpha 0.2" "alpha-0.01|--alpha 0.01" "warmup-10k|--critic-warmup 10000 --alpha 0.2"
            "warmup-10k-alpha-0.01|--critic-warmup 10000 --alpha 0.01" "temperature-ramp|--alpha 0.2 --temperature-ramp"
            "alpha-0.01-temperature-ramp|--alpha 0.01 --temperature-ramp"
            "warmup-10k-temperature-ramp|--critic-warmup 10000 --alpha 0.2 --temperature-ramp"
            "alpha-0.01-anchor-100|--alpha 0.01 --anchor-weight 100"
            "alpha-0.01-anchor-100-temperature-ramp|--alpha 0.01 --anchor-weight 100 --temperature-ramp"
            "warmup-10k-alpha-0.01-anchor-100|--critic-warmup 10000 --alpha 0.01 --anchor-weight 100")
        ;;
    generated)
        start="--task-id 27 --policy $CV15/hyplatent_15_basin_generated/velocity_2.1.pt --policy-index 0 --anchor-weight 0"
        start+=" --anchor-floor 0"
        dir="$RUNS/generated"
        recipes=("default|" "warmup-10k|--critic-warmup 10000" "temperature-ramp|--temperature-ramp"
            "anchor-100|--anchor-weight 100" "warmup-10k-anchor-100|--critic-warmup 10000 --anchor-weight 100"
            "anchor-100-temperature-ramp|--anchor-weight 100 --temperature-ramp")
        ;;
    release)
        start="--task-id 27 --policy $CV15/hyplatent_15_basin_generated/velocity_2.1.pt --policy-index 0 --anchor-weight 100"
        dir="$RUNS/release" steps=100000 at="20000 50000 100000"
        recipes=("anchor-100|--anchor-floor 0" "anchor-100-floor-0.1|--anchor-floor 0.1"
            "anchor-100-floor-0.3|--anchor-floor 0.3")
        ;;
    *) echo "STAGES: unknown stage '$stage', expected expert, generated or release" >&2 && exit 2 ;;
    esac
    outs=()
    for recipe in "${recipes[@]}"; do
        IFS="|" read -r name flags <<<"$recipe"
        for seed in $SEEDS; do
            out="$dir/${name}_seed$seed.pt" && outs+=("$out")
            once "$out" finetune_tdreg.py $start --seed "$seed" --total-timesteps "$steps" $flags --out "$out" \
                --runs-dir "$RUNS/runs"
        done
    done
    $PY experiments/finetune_dips.py "${outs[@]}" --at $at --out "$dir/dips.md"
done
exit
}
