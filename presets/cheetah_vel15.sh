#!/usr/bin/env bash
# Preset: cheetah-vel-15 (docs/experiments/cheetah-vel-15.md), the paper's smallest Cheetah-Vel training set,
# and the protocol that picks the generator's recipe without looking at a test task. STAGES picks what runs:
#   collect   SAC experts of the 15 training tasks (500k steps, 200 checkpoints from 400.5k on), and of the 5 test
#             tasks into the same folder: only the zero-shot table's "own expert" column reads those (ae_train.py
#             never trains on a test task)
#   basin     the 15 training tasks' experts again, each fine-tuned from ONE converged expert (the middle task 20's
#             best checkpoint, v = 1.575) for BASIN_FLAGS: experts in one basin by construction, into basin/ (the
#             test tasks' collect-stage experts are linked there as the own-expert column once they exist; final links
#             them too)
#   validate  validation subset VAL of the training tasks held out from everything: the autoencoder and HypLatent
#             train on the other 11, and each recipe of VARIANTS is scored on VAL against the nearest expert
#             (validate/held_out.md), at the 11 training velocities against their own experts (validate/fit.md), and
#             at the suite's other training tasks 0.075 from a fit task, the test tasks' distance (validate/near.md);
#             then SCALE_RECIPE's generator at NEAR with the evaluation noise scaled by each of NOISE_SCALES
#             (validate/noise_near.md; NOISE_SCALES="" skips it). REPORT names the tables: validate/held_out$REPORT.md, ...
#   final     the recipe (AE_FLAGS, HYP_FLAGS, EVAL_FLAGS, picked from validate) on all 15, scored on the 5 test tasks
#             and over 60 velocities (zeroshot_sweep_15.png, gait_15.png); the same on cheetah-vel-10 (10 of the 15)
# EXPERTS picks whose experts validate and final train on: basin (the default; outputs get a _basin suffix) or data
# (collect's converged experts, which the validate stage showed lie too far apart to interpolate). The defaults are
# the record's chosen recipe (its lever_final rows at generator seed 0, both sizes): all four stages, basin experts,
# HYP_FLAGS and EVAL_FLAGS = what validation picked.
# Run it again after a stop: a finished command (its output exists) is skipped, an interrupted one resumes. PY picks
# the interpreter (PY=echo prints the commands), OUT the folder, EXTRA adds flags to every stage (e.g. "--no-cuda").
{  # read whole before it runs: editing this file during a run cannot change the run
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python}
OUT=${OUT:-paper/cheetah-vel-15}
EXTRA=${EXTRA:-}
STAGES=${STAGES:-collect basin validate final}
SIZES=${SIZES:-15 10}  # final: the training-set sizes (15, and 10 of the 15); one each lets two run side by side
TRAIN="0 3 6 9 12 14 18 20 22 27 29 32 34 37 39"  # round(linspace(0, 34, 15)) into the 35 sorted training ids
TEN="0 6 9 14 18 22 27 32 34 39"                   # round(linspace(0, 14, 10)) into TRAIN
TEST="2 7 15 23 26"                                # Table I's test tasks (the suite's)
VAL=${VAL:-6 14 22 32}                             # v = 0.525, 1.125, 1.725, 2.475: interior, one per quarter
AE_FLAGS=${AE_FLAGS:-}
# picked on the basin experts' validation tasks (the record: validate, then the levers on top); "": the defaults
HYP_FLAGS=${HYP_FLAGS-"--lambda-recon 1e2 --ema-decay 0.995 --lambda-behavior 1"}
EVAL_FLAGS=${EVAL_FLAGS-"--noise-scale 0.75"}  # picked by validate/noise_near.md (the record); EVAL_FLAGS="" = the paper's
SCALE_RECIPE=${SCALE_RECIPE:-recon-1e2}       # the recipe (a VARIANTS name) whose generator the noise scales are scored on
NOISE_SCALES=${NOISE_SCALES-"0 0.25 0.5 0.75 1"}
REPORT=${REPORT:-}  # a suffix of the validate stage's tables: a run of a few VARIANTS leaves the full tables as they are
EXPERTS=${EXPERTS:-basin}
BASIN_FLAGS=${BASIN_FLAGS:-"--learning-starts 5000 --lr-ramp-steps 20000 --total-timesteps 60000 --save-after 50500 \
--save-every 500 --num-checkpoints 20 --state-every 5000"}
# name | autoencoder flags | HypLatent flags: the candidate recipes scored on VAL (the first is the defaults)
VARIANTS=${VARIANTS:-"default||
train-encoder||--train-encoder
best-20||--best-checkpoints 20
recon-latent||--recon latent
decoder-frozen||--no-train-decoder
recon-1e2||--lambda-recon 1e2
projection||--lambda-recon 1e2 --projection-discriminator
iterations-6000||--iterations 6000
best5-recon-1e2||--lambda-recon 1e2 --best-checkpoints 5
ae9k-recon-1e2|--steps 9000|--lambda-recon 1e2
ema-recon-1e2||--lambda-recon 1e2 --ema-decay 0.995
ema-best5-recon-1e2||--lambda-recon 1e2 --ema-decay 0.995 --best-checkpoints 5
ema-ae9k-recon-1e2|--steps 9000|--lambda-recon 1e2 --ema-decay 0.995
ema-cn0.1-recon-1e2||--lambda-recon 1e2 --ema-decay 0.995 --condition-noise 0.1
ema0.998-recon-1e2||--lambda-recon 1e2 --ema-decay 0.998"}
[[ " $STAGES " != *" validate "* ]] || cut -d "|" -f 1 <<<"$VARIANTS" | grep -qxF "$SCALE_RECIPE" ||
    { echo "SCALE_RECIPE: '$SCALE_RECIPE' is not a recipe name of VARIANTS" >&2 && exit 2; }  # before any stage runs
COLLECT="--total-timesteps 500000 --save-after 400500 --save-every 500 --num-checkpoints 200 --state-every 20000"
case $EXPERTS in
data) TAG="" ;;
basin) TAG="_basin" ;;
*) echo "EXPERTS: unknown expert set '$EXPERTS', expected data or basin" >&2 && exit 2 ;;
esac
DATA="$OUT/$EXPERTS/cheetah-vel"
once() { local out=$1; shift; [ -f "$out" ] || $PY "$@"; }  # runs a stage command unless its output exists
link_tests() {  # the test tasks' collect-stage experts, linked into basin/ as the own-expert column, once they exist
    mkdir -p "$OUT/basin/cheetah-vel"
    for t in $TEST; do
        f=$(printf "task_%02d.pt" "$t")
        [ ! -f "$OUT/data/cheetah-vel/$f" ] || ln -sfn "../../data/cheetah-vel/$f" "$OUT/basin/cheetah-vel/$f"
    done
}

for stage in $STAGES; do
    case $stage in
    collect)
        # sac_collect.py itself skips the tasks whose files exist
        $PY sac_collect.py --suite cheetah-vel --task-ids $TRAIN $COLLECT --out "$OUT/data" --runs-dir "$OUT/runs" $EXTRA
        $PY sac_collect.py --suite cheetah-vel --task-ids $TEST $COLLECT --out "$OUT/data" --runs-dir "$OUT/runs" \
            $EXTRA
        ;;
    basin)
        $PY sac_collect.py --suite cheetah-vel --task-ids $TRAIN --init-from "$OUT/data/cheetah-vel/task_20.pt" $BASIN_FLAGS \
            --out "$OUT/basin" --runs-dir "$OUT/runs" $EXTRA
        link_tests
        ;;
    validate)
        FIT=$(for t in $TRAIN; do [[ " $VAL " == *" $t "* ]] || echo -n "$t "; done)
        FIT_V=$(for t in $FIT; do echo -n "$(awk "BEGIN { print 0.075 * ($t + 1) }") "; done)  # velocity 0.075 (i + 1)
        # NEAR: the suite's other training tasks 0.075 from a fit task (none of the 15, no test task), as far from a fit
        # task as each test task is from the 15; the VAL tasks, 0.15-0.225 from one, flattered the generator (the record)
        NEAR=$(for t in $FIT; do for n in $((t - 1)) $((t + 1)); do
            [[ " $TRAIN $TEST " == *" $n "* ]] || ((n < 0 || n > 39)) || echo "$n"; done; done | sort -nu | xargs)
        declare -A ae_of=() && tables=() fits=() nears=()
        while IFS="|" read -r name ae_flags hyp_flags; do
            # recipes with the same autoencoder flags share one, named after the first of them (the defaults': ae.pt)
            ae=${ae_of["x$ae_flags"]-}  # keyed "x<flags>": an associative array refuses the defaults' empty key
            if [[ -z $ae ]]; then
                ae="$OUT/validate$TAG/ae${ae_flags:+_$name}.pt" && ae_of["x$ae_flags"]=$ae
                once "$ae" ae_train.py --data "$DATA" --train-task-ids $FIT --out "$ae" $ae_flags --runs-dir "$OUT/runs" $EXTRA
            fi
            hyp="$OUT/validate$TAG/hyplatent_$name.pt"
            once "$hyp" hyplatent_train.py --ae "$ae" --out "$hyp" --test-task-ids $VAL $hyp_flags --runs-dir "$OUT/runs" \
                $EXTRA
            # the same generator at the 11 training velocities: how well it fits the experts it was trained on
            once "${hyp%.pt}_zeroshot_params.json" hyplatent_train.py --out "$hyp" --eval-only --params $FIT_V $EXTRA
            # and at the NEAR tasks: how it does as close to a training task as the test tasks are
            once "${hyp%.pt}_near.json" hyplatent_train.py --out "$hyp" --eval-only --test-task-ids $NEAR \
                --table "${hyp%.pt}_near.json" $EXTRA
            tables+=("${hyp%.pt}_zeroshot.json") fits+=("${hyp%.pt}_zeroshot_params.json") nears+=("${hyp%.pt}_near.json")
        done <<<"$VARIANTS"
        $PY tools/compare_recipes.py "${tables[@]}" --out "$OUT/validate$TAG/held_out$REPORT.md"
        $PY tools/compare_recipes.py "${fits[@]}" --out "$OUT/validate$TAG/fit$REPORT.md"
        $PY tools/compare_recipes.py "${nears[@]}" --out "$OUT/validate$TAG/near$REPORT.md"
        # the evaluation noise of one recipe, scaled (truncation): 10 samples per task, as many as fit a mean
        hyp="$OUT/validate$TAG/hyplatent_$SCALE_RECIPE.pt" scaled=()
        for s in $NOISE_SCALES; do
            table="${hyp%.pt}_noise-${s}_near.json" && scaled+=("$table")
            once "$table" hyplatent_train.py --out "$hyp" --eval-only --test-task-ids $NEAR --noise-scale "$s" \
                --eval-samples 10 --table "$table" $EXTRA
        done
        [[ -z $NOISE_SCALES ]] || $PY tools/compare_recipes.py "${scaled[@]}" --out "$OUT/validate$TAG/noise_near$REPORT.md"
        ;;
    final)
        [ "$EXPERTS" != basin ] || link_tests  # the basin stage may have run before the test tasks' experts existed
        for size in $SIZES; do
            case $size in
            15) ids=$TRAIN ;;
            10) ids=$TEN ;;
            *) echo "SIZES: unknown size '$size', expected 15 or 10" >&2 && exit 2 ;;
            esac
            stem="$OUT/hyplatent_$size$TAG"
            once "$OUT/ae_$size$TAG.pt" ae_train.py --data "$DATA" --train-task-ids $ids --out "$OUT/ae_$size$TAG.pt" \
                $AE_FLAGS --runs-dir "$OUT/runs" $EXTRA
            once "$stem.pt" hyplatent_train.py --ae "$OUT/ae_$size$TAG.pt" --out "$stem.pt" $HYP_FLAGS $EVAL_FLAGS \
                --runs-dir "$OUT/runs" $EXTRA
            # the whole range: 60 velocities over (0, 3], then the figure with the test tasks
            once "${stem}_zeroshot_params.json" hyplatent_train.py --out "$stem.pt" --eval-only --params $(seq 0.05 0.05 3) \
                $EVAL_FLAGS $EXTRA
            once "$OUT/zeroshot_sweep_$size$TAG.png" tools/plot_zeroshot.py "${stem}_zeroshot_params.json" "${stem}_zeroshot.json" \
                --out "$OUT/zeroshot_sweep_$size$TAG.png"
            # speed or gait: where the generated policies lose, against the experts at their own velocities
            once "$OUT/gait_$size$TAG.png" tools/plot_gait.py "${stem}_generated" --experts "$DATA" --episodes 5 \
                --out "$OUT/gait_$size$TAG.png"
        done
        ;;
    *) echo "STAGES: unknown stage '$stage', expected collect, basin, validate or final" >&2 && exit 2 ;;
    esac
done
exit
}
