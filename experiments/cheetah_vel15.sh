#!/usr/bin/env bash
# Record: docs/experiments/cheetah-vel-15.md. Runs presets/cheetah_vel15.sh (collect, basin, validate, final) into
# $RUNS, then the studies of the record that the preset does not run. STAGES picks them:
#   collect basin validate final   the preset's stages (validate with every recipe of the record's tables)
#   validate_converged             the first two recipes on the converged (collect-stage) experts, not the basin ones
#   basin_guarded                  basin experts with fine-tuning's two guards (dropped on the experts alone)
#   final_seed1                    cheetah-vel-15's generator again at --seed 1 (the final table's second seed)
#   fit                            both final generators at their 15 training velocities (where the test losses come from)
#   chain_probe                    two experts fine-tuned from their neighbour, and the 50/50 blends at the midpoints
#   levers                         validate's pick and the quality and behaviour levers on top of it, in their own tables
#   anchored                       levers' near-task policies anchored at the nearest expert (experiments/anchored_probe.py)
#   lever_final                    the levers' pick (LEVER: its flags, from the rule in the record) on top of the final
#                                  recipe: cheetah-vel-15 at generator seeds 0 and 1, cheetah-vel-10 at seed 0, the sweep
#                                  (named alone: it needs LEVER, which the levers' rule sets)
# Resumable: a finished command (its output exists) is skipped. PY=echo prints the commands; RUNS moves the data.
{  # read whole before it runs: editing this file during a run cannot change the run
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python}
RUNS=${RUNS:-../genhyper-runs/cheetah-vel-15}
STAGES=${STAGES:-collect validate_converged basin basin_guarded validate final final_seed1 fit chain_probe levers anchored}
LEVER=${LEVER:-}  # lever_final: the flags of the levers' pick, e.g. "--lambda-behavior 1" (the record says which)
FINAL="--lambda-recon 1e2 --ema-decay 0.995"  # the record's final recipe, picked by validate before the levers ran
once() { local out=$1; shift; [ -f "$out" ] || $PY "$@"; }
TRAIN="0 3 6 9 12 14 18 20 22 27 29 32 34 37 39"
TEN="0 6 9 14 18 22 27 32 34 39"  # cheetah-vel-10: round(linspace(0, 14, 10)) into TRAIN, as the preset's
TRAIN_V=$(for t in $TRAIN; do echo -n "$(awk "BEGIN { print 0.075 * ($t + 1) }") "; done)
BASIN_FLAGS="--learning-starts 5000 --lr-ramp-steps 20000 --total-timesteps 60000 --save-after 50500 --save-every 500 \
--num-checkpoints 20 --state-every 5000"
# the validation rows of the record: the preset's recipes, then the levers asked on top of the pick, each its own row
VARIANTS="default||
train-encoder||--train-encoder
best-20||--best-checkpoints 20
recon-latent||--recon latent
decoder-frozen||--no-train-decoder
recon-1e2||--lambda-recon 1e2
recon-3e2||--lambda-recon 3e2
recon-1e2-train-encoder||--lambda-recon 1e2 --train-encoder
reg-10-recon-1e2||--lambda-recon 1e2 --lambda-reg 10
cn0.1-recon-1e2||--lambda-recon 1e2 --condition-noise 0.1
projection||--lambda-recon 1e2 --projection-discriminator
iterations-6000||--iterations 6000
best5-recon-1e2||--lambda-recon 1e2 --best-checkpoints 5
ae9k-recon-1e2|--steps 9000|--lambda-recon 1e2
seed1-recon-1e2||--lambda-recon 1e2 --seed 1
ema-recon-1e2||--lambda-recon 1e2 --ema-decay 0.995
ema-seed1-recon-1e2||--lambda-recon 1e2 --ema-decay 0.995 --seed 1
ema-best5-recon-1e2||--lambda-recon 1e2 --ema-decay 0.995 --best-checkpoints 5
ema-ae9k-recon-1e2|--steps 9000|--lambda-recon 1e2 --ema-decay 0.995
ema-cn0.1-recon-1e2||--lambda-recon 1e2 --ema-decay 0.995 --condition-noise 0.1
ema0.998-recon-1e2||--lambda-recon 1e2 --ema-decay 0.998
ema-half-width-recon-1e2||--lambda-recon 1e2 --ema-decay 0.995 --generator-widths 1024 512 256 128
ema-quality-recon-1e2||--lambda-recon 1e2 --ema-decay 0.995 --quality-condition
ema-behavior0.1-recon-1e2||--lambda-recon 1e2 --ema-decay 0.995 --lambda-behavior 0.1
ema-behavior1-recon-1e2||--lambda-recon 1e2 --ema-decay 0.995 --lambda-behavior 1
ema-behavior10-recon-1e2||--lambda-recon 1e2 --ema-decay 0.995 --lambda-behavior 10
ema-behavior100-recon-1e2||--lambda-recon 1e2 --ema-decay 0.995 --lambda-behavior 100"

for stage in $STAGES; do
    case $stage in
    collect | basin | validate | final)  # final: the record's recipe before the levers ran (theirs: lever_final)
        PY=$PY OUT=$RUNS STAGES=$stage VARIANTS=$VARIANTS HYP_FLAGS=$FINAL \
            bash presets/cheetah_vel15.sh
        ;;
    levers)
        PY=$PY OUT=$RUNS STAGES=validate NOISE_SCALES="" REPORT=_levers SCALE_RECIPE=ema-recon-1e2 \
            VARIANTS=$(grep -E "^ema-(recon|quality-recon|behavior[0-9.]+-recon)-1e2\|" <<<"$VARIANTS") bash presets/cheetah_vel15.sh
        ;;
    anchored)  # the basin experts' blend scores far below either neighbour here (the record), so only the nearest
        tables=()
        for name in ema-recon-1e2 ema-quality-recon-1e2 ema-behavior1-recon-1e2 ema-behavior10-recon-1e2; do
            hyp="$RUNS/validate_basin/hyplatent_$name" dir="$RUNS/validate_basin/anchored/$name"
            once "$dir.json" experiments/anchored_probe.py "${hyp}_near_generated"/*.pt --mode nearest --out-dir "$dir"
            once "$dir.json" zeroshot_eval.py "$dir"/*.pt --out "$dir.json"
            tables+=("${hyp}_near.json" "$dir.json")
        done
        $PY tools/compare_recipes.py "${tables[@]}" --out "$RUNS/validate_basin/anchored_near.md"
        ;;
    lever_final)  # the final's autoencoders and noise scale, its recipe plus LEVER; the test tables and the sweep
        [ -n "$LEVER" ] || { echo "STAGES=lever_final: set LEVER to the levers' pick (the record)" >&2 && exit 2; }
        name=$(tr -d ' -' <<<"$LEVER")  # "--lambda-behavior 1" -> lambdabehavior1
        for run in "15 0" "15 1" "10 0"; do
            read -r size seed <<<"$run"
            ids=$TRAIN && [ "$size" = 15 ] || ids=$TEN  # the final's autoencoder on 15, cheetah-vel-10's on 10
            once "$RUNS/ae_${size}_basin.pt" ae_train.py --data "$RUNS/basin/cheetah-vel" --train-task-ids $ids \
                --out "$RUNS/ae_${size}_basin.pt" --runs-dir "$RUNS/runs"
            stem="$RUNS/hyplatent_${size}_basin_${name}_seed$seed"
            once "$stem.pt" hyplatent_train.py --ae "$RUNS/ae_${size}_basin.pt" --out "$stem.pt" $FINAL $LEVER \
                --noise-scale 0.75 --seed "$seed" --runs-dir "$RUNS/runs"
        done
        stem="$RUNS/hyplatent_15_basin_${name}_seed0"
        once "${stem}_zeroshot_params.json" hyplatent_train.py --out "$stem.pt" --eval-only --params $(seq 0.05 0.05 3) \
            --noise-scale 0.75
        once "$RUNS/zeroshot_sweep_15_basin_$name.png" tools/plot_zeroshot.py "${stem}_zeroshot_params.json" \
            "${stem}_zeroshot.json" --out "$RUNS/zeroshot_sweep_15_basin_$name.png"
        ;;
    validate_converged)
        PY=$PY OUT=$RUNS STAGES=validate EXPERTS=data SCALE_RECIPE=recon-1e2 NOISE_SCALES=1 \
            VARIANTS=$'default||\nrecon-1e2||--lambda-recon 1e2' bash presets/cheetah_vel15.sh
        ;;
    basin_guarded)
        $PY sac_collect.py --suite cheetah-vel --task-ids $TRAIN --init-from "$RUNS/data/cheetah-vel/task_20.pt" \
            --learning-starts 5000 --lr-ramp-steps 40000 --lambda-td 10 --total-timesteps 100000 --save-after 90500 \
            --num-checkpoints 20 --state-every 5000 --out "$RUNS/basin_guarded" --runs-dir "$RUNS/runs"
        ;;
    final_seed1)
        once "$RUNS/hyplatent_15_basin_seed1.pt" hyplatent_train.py --ae "$RUNS/ae_15_basin.pt" \
            --out "$RUNS/hyplatent_15_basin_seed1.pt" $FINAL --noise-scale 0.75 --seed 1 \
            --runs-dir "$RUNS/runs"
        ;;
    fit)
        for stem in hyplatent_15_basin hyplatent_15_basin_seed1; do
            once "$RUNS/${stem}_fit.json" hyplatent_train.py --out "$RUNS/$stem.pt" --eval-only --params $TRAIN_V \
                --noise-scale 0.75 --table "$RUNS/${stem}_fit.json"
        done
        ;;
    chain_probe)
        for pair in "12 14 1.05" "29 27 2.175"; do
            read -r task parent mid <<<"$pair"
            $PY sac_collect.py --suite cheetah-vel --task-ids "$task" --seed 1 \
                --init-from "$RUNS/basin/cheetah-vel/task_$parent.pt" $BASIN_FLAGS --out "$RUNS/chain_probe/from$parent" \
                --runs-dir "$RUNS/runs"
            $PY experiments/blend_probe.py "$RUNS/basin/cheetah-vel/task_$parent.pt" \
                "$RUNS/basin/cheetah-vel/task_$task.pt" --param "$mid"
            $PY experiments/blend_probe.py "$RUNS/basin/cheetah-vel/task_$parent.pt" \
                "$RUNS/chain_probe/from$parent/cheetah-vel/task_$task.pt" --param "$mid"
        done
        ;;
    *) echo "STAGES: unknown stage '$stage'" >&2 && exit 2 ;;
    esac
done
exit
}
