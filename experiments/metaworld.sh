#!/usr/bin/env bash
# Records: docs/experiments/metaworld-collection.md, metaworld-embedding.md, metaworld-generators.md. STAGES picks:
#   collect_first   16 tasks x 120k steps with scripted seeding, checkpoints from the first success on (the paper's
#                   rule), into data_seeded/; and 4 of them without seeding, into data_unseeded/
#   chain_first     on data_seeded/: autoencoder, embedding, HypLatent (defaults), HypFormer at L = 8, 16, 32, Fig. 8
#   collect         16 tasks x 300k steps, checkpoints only when they succeed on both goals, into data_successful/
#   transfer        each seen task's training checkpoints run on every other seen task (choosing a validation split)
#   validate_cn     --condition-noise 0 and 0.5 on the seen-task splits (5 7) and (3 5), trained on the other 5
#   chain           on data_successful/: autoencoder, embedding; HypLatent at --condition-noise 0, 0.5, 0.5 with
#                   --ema-decay 0.995, and 1.0 with it; HypFormer on each
#   validate_more   on split (3 5): the evaluation noise scale, --ema-decay 0.995 (C), --condition-noise 1.0; the 5-task
#                   generator on the 8 unseen tasks (unseen success against the number of seen tasks)
#   seeds           generator seed 1 of the 0.5 and 1.0 recipes (with --ema-decay 0.995), HypFormer on 1.0's
#   eval_only       HypFormer's --eval-only: the table of a saved checkpoint again, without training
#   latents         where the unseen tasks' latents land (experiments/where_latents_land.py)
#   collect_more    the 4 more seen tasks (common.METAWORLD_TASKS 16-19) as collect, into data_more/
#   folds           the 8 seen tasks (door-open's experts from DOOR when collect kept none) in 4 folds of 2: each fold's
#                   autoencoder, embedding and HypLatent train on the other 6 and score the 2 as unseen, at
#                   --condition-noise 0, 0.5 and 1 (--ema-decay 0.995, --bf16); pooled over the folds (folds.md)
#   seen8           the paper's split with all 8 seen tasks at CN (the folds' pick): HypLatent and HypFormer, seeds 0, 1
#   seen_count      the 8 unseen tasks from generators on 4, 6, 8 and 12 seen tasks (ids 0-3, 0-5, 0-7, and 16-19 too)
#   collect_seed2   a second collection: collect's command at --seed 2 (other episodes, the same initialization),
#                   into data_seed2/
#   seen8_seed2     seen8 on the second collection at CN, generator seed 0: generator against retrieval on both
# The records' builds were resumed across stops by a collector that started new episodes at each resume, so two builds
# of one command differ; the records say which build each table comes from. The collector now steps back into the
# episodes it stopped in, so a build resumed any number of times equals one uninterrupted run of its command.
# Resumable: a finished command (its output exists) is skipped. PY=echo prints the commands; RUNS moves the data.
{  # read whole before it runs: editing this file during a run cannot change the run
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python}
RUNS=${RUNS:-../genhyper-runs/metaworld}
STAGES=${STAGES:-collect_first chain_first collect transfer validate_cn chain validate_more seeds eval_only latents \
collect_more folds seen8 seen_count collect_seed2 seen8_seed2}
DOOR=${DOOR:-../genhyper-runs/door-open/long_1m/metaworld/task_01.pt}  # door-open's experts from its long SAC run
CN=${CN:-}  # --condition-noise of seen8, seen_count and seen8_seed2; empty: the folds' pick by their rule (folds.md)
once() { local out=$1; shift; [ -f "$out" ] || $PY "$@"; }
SEEDED="--scripted-steps 10000 --save-after 4000 --save-every 2000 --num-checkpoints 20"
A="$RUNS/chain"     # the chain on data_successful/
B="$RUNS/val"       # generators on 5 seen tasks, 2 held out
MTRL="--condition behavior --eval-samples 100"

chain() {  # chain DATA DIR: autoencoder and embedding of a collection
    once "$2/ae.pt" ae_train.py --data "$1" --out "$2/ae.pt" --runs-dir "$RUNS/runs"
    once "$2/embed.pt" behavior_embed.py --data "$1" --out "$2/embed.pt" --runs-dir "$RUNS/runs"
}
link() {  # link DIR DATA IDS...: DIR/metaworld/ holds links to the tasks' files (DATA's, else data_more's; door-open:
    # DOOR); a task no collection kept experts of is left out, said on stderr
    local dir=$1 data=$2 && shift 2
    [ "$PY" = echo ] || mkdir -p "$dir/metaworld"
    for i in "$@"; do
        local f && f=$(printf "task_%02d.pt" "$i")
        local src="$data/metaworld/$f"
        [ -f "$src" ] || src="$RUNS/data_more/metaworld/$f"
        [ -f "$src" ] || [ "$i" != 1 ] || src=$DOOR
        [ -f "$src" ] || { echo "metaworld.sh: task $i has no experts in any collection; left out of $dir" >&2 && continue; }
        [ "$PY" = echo ] || ln -sfn "$(realpath "$src")" "$dir/metaworld/$f"
    done
}
folds_pick() {  # CN, else the folds' pick: folds.md's last line "pick: hyplatent_bf16_cn0.5.pt" gives 0.5
    local pick
    [ -z "$CN" ] || { echo "$CN" && return; }
    pick=$(sed -n 's/^pick: hyplatent_bf16_cn\(.*\)\.pt$/\1/p' "$RUNS/folds/folds.md" 2>/dev/null || true)
    [ -n "$pick" ] || [ "$PY" != echo ] || pick=0.5  # a dry run prints the commands at 0.5
    [ -n "$pick" ] || { echo "metaworld.sh: $RUNS/folds/folds.md: no pick; run the folds stage or set CN" >&2 && return 2; }
    echo "$pick"
}
hyplatent() {  # hyplatent DIR NAME FLAGS...: a behaviour-conditioned HypLatent and its MTRL table
    local dir=$1 name=$2 && shift 2
    once "$dir/$name.pt" hyplatent_train.py --ae "$dir/ae.pt" --embedding "$dir/embed.pt" $MTRL --out "$dir/$name.pt" \
        --runs-dir "$RUNS/runs" "$@"
}
hypformer() {  # hypformer DIR GENERATOR NAME FLAGS...: HypFormer on a HypLatent generator, and its MTRL table
    local dir=$1 gen=$2 name=$3 && shift 3
    once "$dir/$name.pt" hypformer_train.py --hyplatent "$dir/$gen.pt" --ae "$dir/ae.pt" --embedding "$dir/embed.pt" \
        --out "$dir/$name.pt" --runs-dir "$RUNS/runs" "$@"
}

for stage in $STAGES; do
    case $stage in
    collect_first)
        $PY sac_collect.py --suite metaworld --task-ids $(seq 0 15) $SEEDED --total-timesteps 120000 \
            --out "$RUNS/data_seeded" --runs-dir "$RUNS/runs"
        $PY sac_collect.py --suite metaworld --task-ids button-press drawer-close door-open dial-turn --total-timesteps 120000 \
            --save-after 4000 --save-every 2000 --num-checkpoints 20 --out "$RUNS/data_unseeded" --runs-dir "$RUNS/runs"
        ;;
    chain_first)  # the record's runs of this chain drew from seed 1 (the embedding, HypLatent and HypFormer)
        once "$RUNS/first/ae.pt" ae_train.py --data "$RUNS/data_seeded/metaworld" --out "$RUNS/first/ae.pt" \
            --runs-dir "$RUNS/runs"
        once "$RUNS/first/embed.pt" behavior_embed.py --data "$RUNS/data_seeded/metaworld" --out "$RUNS/first/embed.pt" \
            --seed 1 --runs-dir "$RUNS/runs"
        hyplatent "$RUNS/first" hyplatent --seed 1
        for L in 8 16 32; do hypformer "$RUNS/first" hyplatent "hypformer_L$L" --num-samples "$L" --seed 1; done
        once "$RUNS/first/tokens.png" tools/plot_tokens.py "$RUNS"/first/hypformer_L{8,16,32}_mtrl.json \
            --out "$RUNS/first/tokens.png"
        ;;
    collect)
        $PY sac_collect.py --suite metaworld --task-ids $(seq 0 15) $SEEDED --total-timesteps 300000 --keep successful \
            --state-every 10000 --out "$RUNS/data_successful" --runs-dir "$RUNS/runs"
        ;;
    transfer)
        once "$RUNS/transfer.json" experiments/transfer_matrix.py --data "$RUNS/data_successful/metaworld" \
            --embedding "$A/embed.pt" --out "$RUNS/transfer.json"
        ;;
    validate_cn)
        chain "$RUNS/data_successful/metaworld" "$A"
        for split in "5 7|0 2 3 4 6" "3 5|0 2 4 6 7"; do
            IFS="|" read -r held train <<<"$split"
            for cn in 0 0.5; do
                hyplatent "$A" "../val/hyplatent_${held// /}_cn$cn" --train-task-ids $train --test-task-ids $held \
                    --condition-noise "$cn"
            done
        done
        ;;
    chain)
        chain "$RUNS/data_successful/metaworld" "$A"
        hyplatent "$A" hyplatent --seed 1   # the first build's table drew from seed 1, the later ones from 0
        hyplatent "$A" hyplatent_cn --condition-noise 0.5
        hyplatent "$A" hyplatent_cn_ema --condition-noise 0.5 --ema-decay 0.995
        hyplatent "$A" hyplatent_cn1_ema --condition-noise 1.0 --ema-decay 0.995
        hypformer "$A" hyplatent hypformer --seed 1
        for gen in hyplatent_cn hyplatent_cn_ema hyplatent_cn1_ema; do
            hypformer "$A" "$gen" "${gen/hyplatent/hypformer}"
        done
        ;;
    validate_more)
        split="--train-task-ids 0 2 4 6 7 --test-task-ids 3 5"
        for s in 0.5 0; do
            once "$B/hyplatent_35_cn0.5_noise$s.json" hyplatent_train.py --out "$B/hyplatent_35_cn0.5.pt" --eval-only \
                --eval-samples 100 --noise-scale "$s" --table "$B/hyplatent_35_cn0.5_noise$s.json"
        done
        hyplatent "$A" ../val/hyplatent_35_cn0.5_ema $split --condition-noise 0.5 --ema-decay 0.995
        hyplatent "$A" ../val/hyplatent_35_cn1_ema $split --condition-noise 1.0 --ema-decay 0.995
        once "$B/hyplatent_35_cn0.5_ema_unseen.json" hyplatent_train.py --out "$B/hyplatent_35_cn0.5_ema.pt" --eval-only \
            --eval-samples 100 --test-task-ids $(seq 8 15) --table "$B/hyplatent_35_cn0.5_ema_unseen.json"
        ;;
    seeds)
        hyplatent "$A" hyplatent_cn_ema_seed1 --condition-noise 0.5 --ema-decay 0.995 --seed 1
        hyplatent "$A" hyplatent_cn1_ema_seed1 --condition-noise 1.0 --ema-decay 0.995 --seed 1
        hypformer "$A" hyplatent_cn1_ema_seed1 hypformer_cn1_ema_seed1 --seed 1
        ;;
    eval_only)
        once "$A/hypformer_cn_ema_eval.json" hypformer_train.py --out "$A/hypformer_cn_ema.pt" --eval-only \
            --table "$A/hypformer_cn_ema_eval.json"
        ;;
    latents)
        for gen in cn cn_ema; do
            once "$A/latents_$gen.json" experiments/where_latents_land.py --hypformer "$A/hypformer_$gen.pt" \
                --out "$A/latents_$gen.json"
        done
        ;;
    collect_more)
        $PY sac_collect.py --suite metaworld --task-ids 16 17 18 19 $SEEDED --total-timesteps 300000 --keep successful \
            --state-every 10000 --out "$RUNS/data_more" --runs-dir "$RUNS/runs"
        ;;
    folds)
        pooled=()
        for fold in "0 1" "2 3" "4 5" "6 7"; do
            dir="$RUNS/folds/fold_${fold// /-}" && rest=$(for i in $(seq 0 7); do [[ " $fold " == *" $i "* ]] || echo -n "$i "; done)
            link "$dir" "$RUNS/data_successful" $(seq 0 15)
            once "$dir/ae.pt" ae_train.py --data "$dir/metaworld" --train-task-ids $rest --out "$dir/ae.pt" --runs-dir "$RUNS/runs"
            once "$dir/embed.pt" behavior_embed.py --data "$dir/metaworld" --seen-task-ids $rest --out "$dir/embed.pt" \
                --runs-dir "$RUNS/runs"
            for cn in 0 0.5 1; do
                hyplatent "$dir" "hyplatent_bf16_cn$cn" --train-task-ids $rest --test-task-ids $fold --condition-noise "$cn" \
                    --ema-decay 0.995 --bf16
                pooled+=("$dir/hyplatent_bf16_cn$cn.pt")
            done
        done
        $PY experiments/pool_folds.py "${pooled[@]}" --out "$RUNS/folds/folds.md"
        # the precision check: fold (0 1) at --condition-noise 0 in float32 too (trained before --bf16 was adopted)
        hyplatent "$RUNS/folds/fold_0-1" hyplatent_cn0 --train-task-ids 2 3 4 5 6 7 --test-task-ids 0 1 --condition-noise 0 \
            --ema-decay 0.995
        once "$RUNS/folds/precision.md" experiments/pool_folds.py "$RUNS/folds/fold_0-1/hyplatent_cn0.pt" \
            "$RUNS/folds/fold_0-1/hyplatent_bf16_cn0.pt" --out "$RUNS/folds/precision.md"
        ;;
    seen8)
        CN=$(folds_pick)
        link "$RUNS/seen8" "$RUNS/data_successful" $(seq 0 15)
        chain "$RUNS/seen8/metaworld" "$RUNS/seen8"
        for seed in 0 1; do
            hyplatent "$RUNS/seen8" "hyplatent_seed$seed" --condition-noise "$CN" --ema-decay 0.995 --seed "$seed" --bf16
            hypformer "$RUNS/seen8" "hyplatent_seed$seed" "hypformer_seed$seed" --seed "$seed"
        done
        ;;
    collect_seed2)
        $PY sac_collect.py --suite metaworld --task-ids $(seq 0 15) $SEEDED --total-timesteps 300000 --keep successful \
            --state-every 10000 --seed 2 --out "$RUNS/data_seed2" --runs-dir "$RUNS/runs"
        ;;
    seen8_seed2)  # door-open: the same long run's experts as seen8's (the second collection keeps none either, if so)
        CN=$(folds_pick)
        link "$RUNS/seen8_seed2" "$RUNS/data_seed2" $(seq 0 15)
        chain "$RUNS/seen8_seed2/metaworld" "$RUNS/seen8_seed2"
        hyplatent "$RUNS/seen8_seed2" hyplatent_seed0 --condition-noise "$CN" --ema-decay 0.995 --seed 0 --bf16
        hypformer "$RUNS/seen8_seed2" hyplatent_seed0 hypformer_seed0 --seed 0
        ;;
    seen_count)  # 8 seen tasks: seen8's seed 0
        CN=$(folds_pick)
        tables=()
        for seen in "0 1 2 3" "0 1 2 3 4 5" "0 1 2 3 4 5 6 7 16 17 18 19"; do
            dir="$RUNS/seen_count/seen$(wc -w <<<"$seen")"
            link "$dir" "$RUNS/data_successful" $seen $(seq 8 15)
            chain "$dir/metaworld" "$dir"
            hyplatent "$dir" hyplatent --condition-noise "$CN" --ema-decay 0.995 --bf16
            hypformer "$dir" hyplatent hypformer
            tables+=("$dir/hypformer_mtrl.json")
        done
        once "$RUNS/seen_count/seen_count.png" experiments/plot_seen_count.py "${tables[@]:0:2}" \
            "$RUNS/seen8/hypformer_seed0_mtrl.json" "${tables[2]}" --out "$RUNS/seen_count/seen_count.png"
        ;;
    *) echo "STAGES: unknown stage '$stage'" >&2 && exit 2 ;;
    esac
done
exit
}
