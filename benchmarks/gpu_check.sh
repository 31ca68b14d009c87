#!/usr/bin/env bash
# The GPU check, one script sized for a short run on one GPU (under 8 minutes on an H100-class card):
#   1. the tiny pipeline on CUDA: collection -> autoencoder -> HypLatent -> fine-tuning (Cheetah-Vel), and the
#      MetaWorld chain -> embedding -> HypLatent --condition behavior -> HypFormer; every artifact is checked to load
#      on the CPU (artifacts hold CPU tensors)
#   2. benchmarks/sac_throughput.py with all 35 Cheetah-Vel training tasks at once: today's path, the new one, compiled, graphed, one task alone
#      (goal: >= 20x), plain, --compile and --compile --cudagraphs, in one run
#   3. benchmarks/stage_throughput.py: every later stage's fraction of the GPU's matmul throughput
# Figures go to stdout and to $OUT (default: gpu_check/). REQUIRE_CUDA=0 runs it on a CPU to try it out, BENCHMARKS=0
# stops after part 1.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python}
OUT=${OUT:-gpu_check}
mkdir -p "$OUT"
if [ "${REQUIRE_CUDA:-1}" = 1 ]; then
    $PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu_check: torch sees no CUDA device')"
fi
$PY -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'CPU')"
start=$(date +%s)

# 1. tiny pipelines with --cuda (the default when a GPU is present; named here so the log says it)
tiny="--hidden 32 --total-timesteps 600 --learning-starts 200 --save-after 400 --save-every 50 --num-checkpoints 4"
$PY sac_collect.py --suite cheetah-vel --task-ids 0 20 $tiny --out "$OUT/data" --runs-dir "$OUT/runs" --cuda
$PY ae_train.py --data "$OUT/data/cheetah-vel" --out "$OUT/ae.pt" --latent-dim 64 --steps 50 --runs-dir "$OUT/runs" --cuda
$PY hyplatent_train.py --ae "$OUT/ae.pt" --out "$OUT/hyplatent.pt" --iterations 30 --eval-samples 2 --eval-episodes 1 \
    --ci-reps 200 --runs-dir "$OUT/runs" --cuda
$PY finetune_tdreg.py --task-id 23 --policy "$OUT/hyplatent_generated/task_23.pt" --policy-index 0 --total-timesteps 1500 \
    --learning-starts 500 --out "$OUT/finetune.pt" --runs-dir "$OUT/runs" --cuda
$PY sac_collect.py --suite metaworld --task-ids window-open button-press drawer-close reach-wall $tiny --scripted-steps 400 \
    --success-threshold 0 --out "$OUT/data" --runs-dir "$OUT/runs" --cuda
$PY ae_train.py --data "$OUT/data/metaworld" --out "$OUT/ae_mw.pt" --latent-dim 64 --steps 50 --runs-dir "$OUT/runs" --cuda
$PY behavior_embed.py --data "$OUT/data/metaworld" --out "$OUT/embed.pt" --epochs 20 --holdout-every 2 \
    --runs-dir "$OUT/runs" --cuda
$PY hyplatent_train.py --ae "$OUT/ae_mw.pt" --condition behavior --embedding "$OUT/embed.pt" --out "$OUT/hyplatent_mw.pt" \
    --iterations 30 --eval-samples 4 --ci-reps 200 --runs-dir "$OUT/runs" --cuda
$PY hypformer_train.py --hyplatent "$OUT/hyplatent_mw.pt" --out "$OUT/hypformer.pt" --iterations 30 --eval-samples 4 \
    --ci-reps 200 --pca-tasks window-open --runs-dir "$OUT/runs" --cuda
$PY - "$OUT" <<'EOF'
import glob, sys, torch
def devices(obj):  # every tensor's device, however deep (state dicts sit inside the checkpoints)
    if torch.is_tensor(obj):
        return {obj.device.type}
    values = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else []
    return set().union(*map(devices, values))
files = [f for f in glob.glob(f"{sys.argv[1]}/**/*.pt", recursive=True) if "/runs/" not in f]
for f in files:  # artifacts hold CPU tensors: each loads with no GPU mapping
    found = devices(torch.load(f, map_location=None, weights_only=True))
    assert found <= {"cpu"}, f"{f}: tensors on {sorted(found)}"
print(f"gpu_check: {len(files)} artifacts, all CPU tensors")
EOF
echo "gpu_check: tiny pipelines done in $(($(date +%s) - start)) s"
[ "${BENCHMARKS:-1}" = 1 ] || exit 0

# 2. the collector: 35 tasks at once vs one alone, each speed flag on and off. The matmul reference is 4096^3 here: at
# 1024^3 an H200 reached 38 TFLOP/s, below the autoencoder's own larger matmuls
$PY benchmarks/sac_throughput.py --suites cheetah-vel --num-tasks 35 --steps 1000 --warmup-steps 200 --compile --alone --matmul-size 4096 \
    | tee "$OUT/sac_throughput.txt"
# 3. every later stage against the GPU's matmul throughput
$PY benchmarks/stage_throughput.py --steps 10 --matmul-size 4096 | tee "$OUT/stage_throughput.txt"
echo "gpu_check: done in $(($(date +%s) - start)) s"
