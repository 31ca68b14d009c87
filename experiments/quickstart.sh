#!/usr/bin/env bash
# Record: docs/experiments/quickstart.md. The quickstart into $RUNS, then what the record measures on its artifacts:
#   quickstart  bash quickstart.sh (the zero-shot table and the fine-tuning curve)
#   sweep       the generator at 60 velocities over (0, 3] and at its 6 training velocities; the sweep and gait figures
#   chain       why the generator loses to the nearest expert, on training tasks only: generators on 4 of the 6
#               training tasks (0 12 29 37), scored on the other two (8, 21), at their own velocities and near them,
#               on an autoencoder of the 4 ("strict") and on the quickstart's ("leaky": it saw 8 and 21); the strict
#               ones also near the 4 (near.md); rows 2-6 are the quality and behaviour levers
#   anchored    four of chain's strict generators, their held-out and near policies anchored at the library
#               (experiments/anchored_probe.py: at the nearest expert, or at the blend of the two nearest)
# Resumable: a finished command (its output exists) is skipped. PY=echo prints the commands; RUNS moves the data.
{  # read whole before it runs: editing this file during a run cannot change the run
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
RUNS=${RUNS:-../genhyper-runs/quickstart}
STAGES=${STAGES:-quickstart sweep chain anchored}
once() { local out=$1; shift; [ -f "$out" ] || $PY "$@"; }
FIT="0.075 0.975 2.25 2.85"                       # the 4 training velocities of the chain's generators
NEAR="0.825 0.9 1.05 1.125 2.1 2.175 2.325 2.4"   # 0.075-0.15 from one of them, no test velocity

for stage in $STAGES; do
    case $stage in
    quickstart)
        if [ "$PY" = echo ]; then echo "bash quickstart.sh"; else [ -f "$RUNS/finetune.png" ] || OUT=$RUNS bash quickstart.sh; fi
        ;;
    sweep)
        once "$RUNS/hyplatent_zeroshot_params.json" hyplatent_train.py --out "$RUNS/hyplatent.pt" --eval-only \
            --params $(seq 0.05 0.05 3.0)
        once "$RUNS/zeroshot_sweep_quickstart.png" tools/plot_zeroshot.py "$RUNS/hyplatent_zeroshot_params.json" \
            "$RUNS/hyplatent_zeroshot.json" --out "$RUNS/zeroshot_sweep_quickstart.png"
        once "$RUNS/hyplatent_fit.json" hyplatent_train.py --out "$RUNS/hyplatent.pt" --eval-only \
            --params 0.075 0.675 0.975 1.65 2.25 2.85 --table "$RUNS/hyplatent_fit.json"
        once "$RUNS/gait.png" tools/plot_gait.py "$RUNS/hyplatent_generated" --experts "$RUNS/data/cheetah-vel" \
            --out "$RUNS/gait.png"
        ;;
    chain)
        once "$RUNS/chain/ae_strict.pt" ae_train.py --data "$RUNS/data/cheetah-vel" --train-task-ids 0 12 29 37 --steps 400 \
            --out "$RUNS/chain/ae_strict.pt" --runs-dir "$RUNS/runs"
        held=() fits=() nears=()
        for recipe in "strict|default|" "strict|quality|--quality-condition" "strict|behavior10|--lambda-behavior 10" \
            "strict|behavior100|--lambda-behavior 100" "strict|behavior1|--lambda-behavior 1" \
            "strict|quality-behavior10|--quality-condition --lambda-behavior 10" \
            "strict|recon-1e2|--lambda-recon 1e2" \
            "strict|recon-1e1|--lambda-recon 1e1" "strict|best-3|--best-checkpoints 3" "leaky|default|" \
            "leaky|best-3|--best-checkpoints 3" "leaky|train-encoder|--train-encoder"; do
            IFS="|" read -r ae name flags <<<"$recipe"
            [ "$ae" = strict ] && ae_file="$RUNS/chain/ae_strict.pt" || ae_file="$RUNS/ae.pt"
            hyp="$RUNS/chain/hyplatent_${ae}_$name.pt"
            once "$hyp" hyplatent_train.py --ae "$ae_file" --out "$hyp" --train-task-ids 0 12 29 37 --test-task-ids 8 21 \
                --iterations 300 $flags --runs-dir "$RUNS/runs"
            once "${hyp%.pt}_fit.json" hyplatent_train.py --out "$hyp" --eval-only --params $FIT --table "${hyp%.pt}_fit.json"
            held+=("${hyp%.pt}_zeroshot.json") fits+=("${hyp%.pt}_fit.json")
            if [ "$ae" = strict ]; then
                once "${hyp%.pt}_near.json" hyplatent_train.py --out "$hyp" --eval-only --params $NEAR --table "${hyp%.pt}_near.json"
                nears+=("${hyp%.pt}_near.json")
            fi
        done
        $PY tools/compare_recipes.py "${held[@]}" --out "$RUNS/chain/held_out.md"
        $PY tools/compare_recipes.py "${fits[@]}" --out "$RUNS/chain/fit.md"
        $PY tools/compare_recipes.py "${nears[@]}" --out "$RUNS/chain/near.md"
        ;;
    anchored)
        for column in held near; do
            tables=()
            for name in default quality behavior10 quality-behavior10; do
                hyp="$RUNS/chain/hyplatent_strict_$name"
                [ $column = held ] && generated="${hyp}_generated" && tables+=("${hyp}_zeroshot.json")
                [ $column = near ] && generated="${hyp}_near_generated" && tables+=("${hyp}_near.json")
                for mode in nearest blend; do
                    dir="$RUNS/chain/anchored/${name}_${column}_$mode"
                    # the probe again until its table exists: an interrupted probe leaves whole files, rewritten
                    once "$dir.json" experiments/anchored_probe.py "$generated"/*.pt --mode $mode --out-dir "$dir"
                    once "$dir.json" zeroshot_eval.py "$dir"/*.pt --out "$dir.json"
                    tables+=("$dir.json")
                done
            done
            $PY tools/compare_recipes.py "${tables[@]}" --out "$RUNS/chain/anchored_$column.md"
        done
        ;;
    *) echo "STAGES: unknown stage '$stage'" >&2 && exit 2 ;;
    esac
done
exit
}
