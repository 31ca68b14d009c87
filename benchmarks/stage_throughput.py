# Benchmark: what fraction of this machine's dense matmul throughput each training stage after collection reaches
# (the collector's own figure is benchmarks/sac_throughput.py). Every stage runs its own main() at its default model
# sizes on a small input built here (2-3 tasks, a few checkpoints; a training step samples its batch with
# replacement, so its cost does not depend on how many checkpoints there are), twice: with --steps N and N + n.
# Loading and evaluation cost the same in both runs, so their difference is n training steps:
#   - seconds per step: the difference of the two runs' wall times, over n
#   - FLOPs per step:   the difference of torch's FlopCounterMode counts (matmuls, forward and backward) of two runs
#                       with N and N + 2 steps, over 2
# and prints steps/s, GFLOP/s and the fraction of the dense matmul throughput, measured right before and after each
# stage (the mean of the two; on a shared machine the load drifts). Ratios are comparable; absolute numbers are not.
# Runs on CUDA when torch sees it (--cuda). With --bf16 (the default) hyplatent_train.py --bf16 gets its own row; its
# FLOPs are counted as float32's (the same products), so its GFLOP/s compares with the float32 row's.
#   python benchmarks/stage_throughput.py --steps 20
import contextlib
import io
import os
import sys
import tempfile
import time
from dataclasses import dataclass

import torch
import tyro
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from sac_throughput import matmul_gflops  # noqa: E402

import ae_train  # noqa: E402
import behavior_embed  # noqa: E402
import hypformer_train  # noqa: E402
import hyplatent_train  # noqa: E402
import sac_collect  # noqa: E402

STAGES = ("ae_train", "hyplatent_train", "behavior_embed", "hypformer_train")


@dataclass
class Args:
    steps: int = 20
    """n, the timed training steps (per stage: the difference between its two runs); raised x4 until they take --min-seconds"""
    min_seconds: float = 1.0
    """the timed steps must take at least this long: a shorter difference drowns in the run-to-run noise of loading and
    evaluation (on a GPU, 10 steps of the autoencoder take ~6 ms)"""
    base_steps: int = 3
    """N, the steps of the shorter run (its loading, warm-up and evaluation cancel out)"""
    matmul_size: int = 1024
    """n of the n x n matmul that measures dense throughput"""
    stages: tuple[str, ...] = STAGES
    """stages to measure"""
    bf16: bool = True
    """also measure hyplatent_train.py --bf16 (training's forward passes in bfloat16), beside its float32 row"""


def quiet_main(module, args) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        module.main(args)


def inputs(folder: str) -> None:
    """Small MuJoCo and MetaWorld collections at the default actor size (hidden 128)."""
    tiny = dict(hidden=128, total_timesteps=700, learning_starts=300, save_after=500, save_every=25, num_checkpoints=8,
                eval_episodes=1, out=os.path.join(folder, "data"), runs_dir=os.path.join(folder, "runs"))  # fmt: skip
    quiet_main(sac_collect, sac_collect.Args(suite="cheetah-vel", task_ids=(0, 20), **tiny))
    quiet_main(sac_collect, sac_collect.Args(suite="metaworld", task_ids=("window-open", "button-press", "drawer-close"),
               scripted_steps=400, success_threshold=0.0, **tiny))  # fmt: skip


def stage_args(stage: str, folder: str, steps: int, tag: str, flags: dict):
    """The stage's Args at its defaults but `flags`, on this benchmark's inputs, with `steps` training steps, writing
    to tag."""
    data, runs = os.path.join(folder, "data"), os.path.join(folder, "runs")
    out = os.path.join(folder, "_".join([stage, *flags, tag]) + ".pt")
    if stage == "ae_train":
        return ae_train.Args(data=f"{data}/cheetah-vel", out=out, steps=steps, eval_episodes=1, runs_dir=runs)
    if stage == "hyplatent_train":
        return hyplatent_train.Args(ae=f"{folder}/ae_mujoco.pt", out=out, iterations=steps, eval_samples=1,
                                    eval_episodes=1, ci_reps=100, runs_dir=runs, **flags)  # fmt: skip
    if stage == "behavior_embed":
        return behavior_embed.Args(data=f"{data}/metaworld", out=out, epochs=steps, holdout_every=2, runs_dir=runs)
    return hypformer_train.Args(hyplatent=f"{folder}/hyplatent_mw.pt", out=out, iterations=steps, eval_samples=1,
                                pca_tasks=("window-open",), ci_reps=100, runs_dir=runs)  # fmt: skip


def upstream(folder: str) -> None:
    """The artifacts the later stages read: an autoencoder per suite, the embedding, a behaviour-conditioned HypLatent."""
    data, runs = os.path.join(folder, "data"), os.path.join(folder, "runs")
    quiet_main(ae_train, ae_train.Args(data=f"{data}/cheetah-vel", out=f"{folder}/ae_mujoco.pt", steps=5, runs_dir=runs))
    quiet_main(ae_train, ae_train.Args(data=f"{data}/metaworld", out=f"{folder}/ae_mw.pt", steps=5, runs_dir=runs))
    quiet_main(behavior_embed, behavior_embed.Args(data=f"{data}/metaworld", out=f"{folder}/embed_mw.pt", epochs=3,
                                                   holdout_every=2, runs_dir=runs))  # fmt: skip
    quiet_main(hyplatent_train, hyplatent_train.Args(ae=f"{folder}/ae_mw.pt", condition="behavior",
               embedding=f"{folder}/embed_mw.pt", out=f"{folder}/hyplatent_mw.pt", iterations=5, eval_samples=1,
               ci_reps=100, runs_dir=runs))  # fmt: skip


def wall_seconds(module, stage: str, folder: str, steps: int, flags: dict) -> float:
    start = time.perf_counter()
    quiet_main(module, stage_args(stage, folder, steps, f"time{steps}", flags))
    return time.perf_counter() - start


def measure(stage: str, folder: str, args: Args, flags: dict) -> dict:
    """One row: the stage at its defaults but `flags` (a row of its own, named by them)."""
    module = sys.modules[stage]
    flops = []
    for steps in (args.base_steps, args.base_steps + 2):
        with FlopCounterMode(display=False) as counter:
            quiet_main(module, stage_args(stage, folder, steps, f"flops{steps}", flags))
        flops.append(counter.get_total_flops())
    base, steps = wall_seconds(module, stage, folder, args.base_steps, flags), args.steps
    extra = wall_seconds(module, stage, folder, args.base_steps + steps, flags) - base
    while extra < args.min_seconds and steps < args.steps * 4**5:
        steps *= 4
        extra = wall_seconds(module, stage, folder, args.base_steps + steps, flags) - base
    step_seconds = extra / steps if extra > 0 else float("nan")  # nan: still drowned in noise after 1024x the steps
    step_flops = (flops[1] - flops[0]) / 2
    return {"stage": " ".join([stage, *(f"--{flag}" for flag in flags)]), "timed_steps": steps,
            "steps_per_s": 1 / step_seconds, "gflop_per_step": step_flops / 1e9,
            "gflops": step_flops / step_seconds / 1e9}  # fmt: skip


def main(args: Args) -> list:
    for stage in args.stages:
        if stage not in STAGES:
            raise SystemExit(f"stage_throughput: --stages {stage}: expected some of {list(STAGES)}")
    if args.steps < 1 or args.base_steps < 1 or args.min_seconds < 0:
        raise SystemExit(
            f"stage_throughput: --steps {args.steps} / --base-steps {args.base_steps} / --min-seconds {args.min_seconds}: "
            "expected >= 1, >= 1, >= 0"
        )
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        inputs(folder)
        upstream(folder)
        runs = [(stage, {}) for stage in args.stages]
        if args.bf16 and "hyplatent_train" in args.stages:
            runs.append(("hyplatent_train", {"bf16": True}))
        for stage, flags in runs:
            before = matmul_gflops(args.matmul_size)
            rows.append(measure(stage, folder, args, flags))
            rows[-1]["matmul_gflops"] = (before + matmul_gflops(args.matmul_size)) / 2
            print(f"{rows[-1]['stage']}: {rows[-1]['steps_per_s']:.2f} steps/s", flush=True)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    print(f"\n{device}, {torch.get_num_threads()} threads, dense matmul {args.matmul_size}^3 fp32")
    print(
        "| stage | timed steps | steps/s (behavior_embed: epochs/s) | GFLOP per step | GFLOP/s | matmul GFLOP/s | of matmul |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['stage']} | {r['timed_steps']} | {r['steps_per_s']:.2f} | {r['gflop_per_step']:.2f} | "
              f"{r['gflops']:.1f} | {r['matmul_gflops']:.1f} | {r['gflops'] / r['matmul_gflops']:.1%} |")  # fmt: skip
    return rows


if __name__ == "__main__":
    main(tyro.cli(Args))
