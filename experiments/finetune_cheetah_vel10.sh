#!/usr/bin/env bash
# Record: docs/experiments/finetuning.md. Fine-tuning from cheetah-vel-10's generator (experiments/cheetah_vel10.sh
# writes it; RUNS must hold it):
#   defaults  how the ramp and lambda_TD were chosen: training tasks 25 and 21 only, one seed each
#   measure   test tasks 23 and 26 x seeds 1-3: the full method and scratch SAC for 100k steps, each ablation 50k
#   plot      Fig. 6 and the steps-to-90% table of the measured runs
# Generated starts are policy k = seed - 1 of the generator's policy file of the task (a zero-shot sample, not chosen
# by its return). Resumable: a finished run (its output exists) is skipped, an interrupted one resumes. PY=echo prints
# the commands; RUNS moves the data.
{  # read whole before it runs: editing this file during a run cannot change the run
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python}
RUNS=${RUNS:-../genhyper-runs/cheetah-vel-10}
STAGES=${STAGES:-defaults measure plot}
once() { local out=$1; shift; [ -f "$out" ] || $PY "$@"; }
HYP="$RUNS/cv10_hyplatent.pt"
THEN="--alpha 0.2 --anchor-weight 0"  # fine-tuning's defaults when this record was made (a policy start; the last wins)
FT="$RUNS/finetune"

run() {  # run NAME TASK FLAGS...: one fine-tuning run into $FT/NAME.pt
    local name=$1 task=$2 && shift 2
    once "$FT/$name.pt" finetune_tdreg.py --task-id "$task" --out "$FT/$name.pt" --runs-dir "$RUNS/runs" "$@"
}

for stage in $STAGES; do
    case $stage in
    defaults)
        # the generator's policies at training tasks 25 (v 1.95) and 21 (v 1.65): velocity_1.95.pt, velocity_1.65.pt
        once "$RUNS/cv10_train_zeroshot.json" hyplatent_train.py --out "$HYP" --eval-only --params 1.95 1.65 \
            --table "$RUNS/cv10_train_zeroshot.json"
        start25="--policy $RUNS/cv10_train_generated/velocity_1.95.pt --policy-index 0 --seed 1 $THEN"
        for probe in "10000 0.1" "40000 0.1" "40000 1" "20000 10" "40000 100" "40000 10"; do
            read -r ramp td <<<"$probe"
            run "defaults/task25_ramp${ramp}_td${td}" 25 $start25 --lr-ramp-steps "$ramp" --lambda-td "$td" \
                --total-timesteps 60000 --eval-every 1000
        done
        run defaults/task25_ramp10000_td0.1_alpha0.01 25 $start25 --lr-ramp-steps 10000 --lambda-td 0.1 --alpha 0.01 \
            --total-timesteps 60000 --eval-every 1000
        run defaults/task25_ramp10000_td1 25 $start25 --lr-ramp-steps 10000 --lambda-td 1 --total-timesteps 60000 \
            --eval-every 1000
        run defaults/task21_ramp40000_td10 21 --policy "$RUNS/cv10_train_generated/velocity_1.65.pt" --policy-index 0 \
            $THEN --seed 2 --lr-ramp-steps 40000 --lambda-td 10 --total-timesteps 60000 --eval-every 1000
        ;;
    measure)
        for t in 23 26; do for s in 1 2 3; do
            gen="--policy ${HYP%.pt}_generated/task_$t.pt --policy-index $((s - 1)) --seed $s $THEN"
            run "task${t}_generated_seed$s" "$t" $gen --total-timesteps 100000
            run "task${t}_scratch_seed$s" "$t" --init scratch --lambda-td 0 --lr-ramp-steps 0 --seed "$s" \
                --total-timesteps 100000
            run "task${t}_generated_notd_seed$s" "$t" $gen --lambda-td 0 --total-timesteps 50000
            run "task${t}_generated_noramp_seed$s" "$t" $gen --lr-ramp-steps 0 --total-timesteps 50000
        done; done
        ;;
    plot)
        $PY tools/plot_finetune.py "$FT"/task*.pt --out "$RUNS/finetune_cheetah_vel.png"
        ;;
    *) echo "STAGES: unknown stage '$stage'" >&2 && exit 2 ;;
    esac
done
exit
}
