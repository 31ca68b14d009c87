#!/usr/bin/env bash
# Preset: ant-dir-15 (docs/experiments/ant-dir.md), the paper's smallest Ant-Dir training set (Table I: 15 tasks).
# STAGES picks what runs:
#   collect   SAC experts of the 15 training tasks (500k steps, 200 checkpoints from 400.5k on, as the paper keeps
#             checkpoints from 500k on of a longer run; updates in bfloat16, the tasks split over PROCS processes of
#             one thread each: 1.7x one process on two threads); a training expert whose best checkpoint is below 400
#             (it stood still for the alive bonus) is collected once more at --seed 2, the first kept in stood_still/;
#             the experts' returns (experts.md: best, last, halves; stood_still.md: the replaced ones) and gait
#             (experts_gait.png); then the 5 test tasks into the same folder (test_experts.md): only the zero-shot
#             table's "own expert" column reads those (ae_train.py never trains on a test task)
#   validate  4 of the 15 (VAL) held out from everything: the autoencoder and HypLatent train on the other 11, and each
#             recipe of VARIANTS (the condition raw radians or (cos, sin), each with the defaults, with
#             cheetah-vel-15's pick and with the pick plus its behaviour lever) is scored on VAL
#             (validate/held_out.md) and on the suite's other training tasks, between the 15 as the test tasks are
#             (validate/between.md). Rule, fixed before the run: the recipe with the highest generated mean on the
#             between tasks, if its interval lies wholly above the defaults' (raw radians, the paper's condition);
#             otherwise the defaults (tools/compare_recipes.py --pick-against applies it: between.md's last line)
#   final     the validate stage's pick (or RECIPE) on all 15, scored on the 5 test tasks; the sweep over 60 directions
#             (zeroshot_sweep.png) and the gait, the direction walked against the goal's (gait.png)
#   finetune  from the generated policy (policy k = seed - 1 of its file) of test tasks 30 and 41, the two farthest from
#             a training task (8.3 and 6.3 degrees), seeds 1-3, 100k steps, fine-tuning's defaults; scratch SAC on the
#             same tasks and seeds for 200k steps; the curves and their table (finetune.png, .md); a run that diverges
#             is named in finetune/failed.txt and the others go on
# The 15 training tasks were fixed before any Ant-Dir number of them was seen: for each of the 15 evenly spaced
# directions 0, 24, ..., 336 degrees, the training task (not one of Table I's test tasks) whose goal is nearest.
# Run it again after a stop: sac_collect.py resumes an interrupted run and skips tasks whose files exist. PY picks the
# interpreter (PY=echo prints the commands), OUT the folder, EXTRA adds flags to every stage (e.g. "--no-cuda").
{  # read whole before it runs: editing this file during a run cannot change the run
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python}
OUT=${OUT:-paper/ant-dir-15}
EXTRA=${EXTRA:-}
STAGES=${STAGES:-collect validate final finetune}
TRAIN="49 1 45 28 27 7 20 16 32 15 34 43 38 10 8"  # goals 10.5, 24.4, 48.2, ..., 340.4 degrees: one per 24 degrees
TEST="6 17 23 30 41"                              # Table I's test tasks (the suite's)
VAL="45 20 34 10"                                  # 48, 143, 244, 311 degrees: one per quarter, none at the ends
COLLECT="--total-timesteps 500000 --save-after 400500 --save-every 500 --num-checkpoints 200 --state-every 20000 --bf16"
PROCS=${PROCS:-2}  # commands run side by side, one torch thread each (one per core): a collection's tasks are split over
# PROCS processes; validate's recipes and finetune's runs go PROCS at a time
# name | HypLatent flags: the candidates of the validate stage (the first is the defaults)
VARIANTS=${VARIANTS:-"raw|--condition raw
cossin|--condition cossin
raw-pick|--condition raw --lambda-recon 1e2 --ema-decay 0.995
cossin-pick|--condition cossin --lambda-recon 1e2 --ema-decay 0.995
raw-pick-behavior1|--condition raw --lambda-recon 1e2 --ema-decay 0.995 --lambda-behavior 1
cossin-pick-behavior1|--condition cossin --lambda-recon 1e2 --ema-decay 0.995 --lambda-behavior 1"}
RECIPE=${RECIPE:-}  # final's HypLatent flags; empty: the validate stage's pick by its rule (validate/between.md)
GEN=${GEN:-"--bf16"}  # every HypLatent's training: in bfloat16, 2.1x on one thread (docs/experiments/throughput.md)
once() { local out=$1; shift; [ -f "$out" ] || $PY "$@"; }  # runs a stage command unless its output exists
lanes=()  # the stage's commands running side by side
side_by_side() {  # side_by_side CMD...: CMD in the background on one torch thread, once fewer than PROCS others run
    if ((${#lanes[@]} >= PROCS)); then wait "${lanes[0]}"; lanes=("${lanes[@]:1}"); fi
    OMP_NUM_THREADS=1 "$@" </dev/null &
    lanes+=($!)
}
all_done() { local p; for p in "${lanes[@]}"; do wait "$p"; done; lanes=(); }  # (wait PID: a failure stops the preset)
collect() {  # collect FOLDER SEED TASK...: sac_collect.py on the tasks, split over PROCS processes
    local out=$1 seed=$2 n i && shift 2 && n=$#
    for ((i = 0; i < PROCS && i < n; i++)); do
        local part=("${@:1 + i * n / PROCS:(i + 1) * n / PROCS - i * n / PROCS}")  # tasks i n / PROCS to (i + 1) n / PROCS
        side_by_side $PY sac_collect.py --suite ant-dir --task-ids "${part[@]}" $COLLECT --seed "$seed" --out "$out" \
            --runs-dir "$OUT/runs" $EXTRA
    done
    all_done
}
stood_still() {  # training tasks whose expert never walked (no checkpoint at 400: it settled on the +1 alive bonus),
    [ "$PY" != echo ] && [ -d "$OUT/data/ant-dir" ] || return 0  # not replaced yet (the same set until all are)
    $PY - "$OUT" $TRAIN <<'EOF'
import os, sys, torch
out = sys.argv[1]
for i in sys.argv[2:]:
    data, replaced = f"{out}/data/ant-dir/task_{int(i):02d}.pt", f"{out}/stood_still/task_{int(i):02d}.pt"
    if os.path.exists(data) and not os.path.exists(replaced) and torch.load(data, weights_only=True)["returns"].max() < 400:
        print(i)
EOF
}

for stage in $STAGES; do
    case $stage in
    collect)
        collect "$OUT/data" 1 $TRAIN
        retries=$(stood_still)
        if [ -n "$retries" ]; then collect "$OUT/retry" 2 $retries; fi  # collected once more at --seed 2
        for t in $retries; do  # the retry replaces the expert that stood still, which is kept beside
            file=$(printf "task_%02d.pt" "$t") && mkdir -p "$OUT/stood_still"
            cp "$OUT/retry/ant-dir/$file" "$OUT/data/ant-dir/.$file" && mv "$OUT/data/ant-dir/$file" "$OUT/stood_still/"
            mv "$OUT/data/ant-dir/.$file" "$OUT/data/ant-dir/$file"
        done
        once "$OUT/experts.md" tools/expert_table.py "$OUT/data/ant-dir" --task-ids $TRAIN --out "$OUT/experts.md"
        [ ! -d "$OUT/stood_still" ] || once "$OUT/stood_still.md" tools/expert_table.py "$OUT/stood_still" \
            --out "$OUT/stood_still.md"  # the experts the retries replaced: what they had learned
        once "$OUT/experts_gait.png" tools/plot_gait.py --experts "$OUT/data/ant-dir" --episodes 2 \
            --out "$OUT/experts_gait.png"  # do the training experts walk their direction (and how fast along it)
        collect "$OUT/data" 1 $TEST
        once "$OUT/test_experts.md" tools/expert_table.py "$OUT/data/ant-dir" --task-ids $TEST --out "$OUT/test_experts.md"
        ;;
    validate)
        FIT=$(for t in $TRAIN; do [[ " $VAL " == *" $t "* ]] || echo -n "$t "; done)
        BETWEEN=$(for t in $(seq 0 49); do [[ " $TRAIN $TEST " == *" $t "* ]] || echo -n "$t "; done)  # the other 30
        once "$OUT/validate/ae.pt" ae_train.py --data "$OUT/data/ant-dir" --train-task-ids $FIT --out "$OUT/validate/ae.pt" \
            --runs-dir "$OUT/runs" $EXTRA
        variant() {  # variant HYP FLAGS: a recipe's HypLatent, scored on VAL, then on the 30 between tasks
            once "$1" hyplatent_train.py --ae "$OUT/validate/ae.pt" --out "$1" --test-task-ids $VAL $2 $GEN \
                --runs-dir "$OUT/runs" $EXTRA
            once "${1%.pt}_between.json" hyplatent_train.py --out "$1" --eval-only --test-task-ids $BETWEEN \
                --table "${1%.pt}_between.json" $EXTRA
        }
        tables=() betweens=()
        while IFS="|" read -r name flags; do
            hyp="$OUT/validate/hyplatent_$name.pt"
            side_by_side variant "$hyp" "$flags"
            tables+=("${hyp%.pt}_zeroshot.json") betweens+=("${hyp%.pt}_between.json")
        done <<<"$VARIANTS"
        all_done
        $PY tools/compare_recipes.py "${tables[@]}" --out "$OUT/validate/held_out.md"
        $PY tools/compare_recipes.py "${betweens[@]}" --pick-against "${VARIANTS%%|*}" --out "$OUT/validate/between.md"
        ;;
    final)
        if [ -z "$RECIPE" ]; then  # the rule's pick, the last line of between.md ("pick: NAME (rule: ...)")
            pick=$(sed -n 's/^pick: \([^ ]*\) .*/\1/p' "$OUT/validate/between.md" 2>/dev/null || true)
            [ -n "$pick" ] || [ "$PY" != echo ] || pick=${VARIANTS%%|*}  # a dry run prints the defaults' commands
            [ -n "$pick" ] || { echo "final: $OUT/validate/between.md: no pick; run validate or set RECIPE" >&2 && exit 2; }
            RECIPE=$(grep "^$pick|" <<<"$VARIANTS" | cut -d "|" -f 2 || true)
            [ -n "$RECIPE" ] || { echo "final: $OUT/validate/between.md picks '$pick', which VARIANTS does not name" >&2 && exit 2; }
        fi
        once "$OUT/ae.pt" ae_train.py --data "$OUT/data/ant-dir" --train-task-ids $TRAIN --out "$OUT/ae.pt" \
            --runs-dir "$OUT/runs" $EXTRA
        once "$OUT/hyplatent.pt" hyplatent_train.py --ae "$OUT/ae.pt" --out "$OUT/hyplatent.pt" $RECIPE $GEN \
            --runs-dir "$OUT/runs" $EXTRA
        once "$OUT/hyplatent_zeroshot_params.json" hyplatent_train.py --out "$OUT/hyplatent.pt" --eval-only \
            --params $(seq 0 0.105 6.2) $EXTRA  # 60 directions over the circle, 6 degrees apart
        once "$OUT/zeroshot_sweep.png" tools/plot_zeroshot.py "$OUT/hyplatent_zeroshot_params.json" \
            "$OUT/hyplatent_zeroshot.json" --out "$OUT/zeroshot_sweep.png"
        once "$OUT/gait.png" tools/plot_gait.py "$OUT/hyplatent_generated" --labels "generated" \
            --experts "$OUT/data/ant-dir" --episodes 2 --out "$OUT/gait.png"
        ;;
    finetune)
        rm -f "$OUT/finetune/failed.txt"
        tune() {  # tune RUN FLAG...: a fine-tuning run; one that fails (one that diverged stops with a line naming the
            # step) is a result, named in failed.txt and left out of the table, and the other runs go on
            once "$OUT/finetune/$1.pt" finetune_tdreg.py --suite ant-dir "${@:2}" --out "$OUT/finetune/$1.pt" \
                --runs-dir "$OUT/runs" $EXTRA || { mkdir -p "$OUT/finetune" && echo "$1" >>"$OUT/finetune/failed.txt"; }
        }
        for t in 30 41; do for s in 1 2 3; do
            side_by_side tune "task${t}_generated_seed$s" --task-id "$t" --policy "$OUT/hyplatent_generated/task_$t.pt" \
                --policy-index $((s - 1)) --seed "$s" --total-timesteps 100000
            side_by_side tune "task${t}_scratch_seed$s" --task-id "$t" --init scratch --lambda-td 0 --lr-ramp-steps 0 \
                --seed "$s" --total-timesteps 200000
        done; done
        all_done
        [ ! -f "$OUT/finetune/failed.txt" ] || echo "finetune: runs that stopped, left out of the table:" \
            $(cat "$OUT/finetune/failed.txt") >&2
        once "$OUT/finetune.png" tools/plot_finetune.py "$OUT"/finetune/task*.pt --at 20000 50000 100000 200000 \
            --out "$OUT/finetune.png"  # the table: returns at 100k (fine-tuning's budget) and 200k (scratch's)
        ;;
    *) echo "STAGES: unknown stage '$stage', expected collect, validate, final or finetune" >&2 && exit 2 ;;
    esac
done
exit
}
