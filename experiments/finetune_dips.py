# Dips of fine-tuning runs (docs/experiments/finetuning.md, "Keeping the head start"): per run of finetune_tdreg.py,
# its step-0 return, its worst evaluation, the worst dip as a fraction of the gap between the start and a random actor
# (the same deterministic episodes), and the return at chosen steps; one markdown row per run.
#   python experiments/finetune_dips.py runs/*.pt --at 10000 20000 40000
import os
import sys
from dataclasses import dataclass

import torch
import tyro

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # common.py, at the top level
from common import Actor, Task, evaluate, load_policies, write_text_atomic  # noqa: E402

WHO = "finetune_dips"


@dataclass
class Args:
    runs: tyro.conf.Positional[tuple[str, ...]] = ()
    """finished runs of finetune_tdreg.py (policy files with a curve)"""
    at: tuple[int, ...] = (10_000, 20_000, 40_000)
    """steps whose evaluation is reported"""
    seed: int = 0
    """seed of the random actor"""
    out: str = ""
    """also write the markdown table here (empty: print only)"""


def main(args: Args) -> list:
    if not args.runs:
        raise SystemExit(f"{WHO}: give finished runs of finetune_tdreg.py")
    rows, random_return = [], {}
    for path in args.runs:
        run = load_policies(path, WHO)
        if "curve" not in run:
            raise SystemExit(f"{WHO}: {path}: not a finetune_tdreg.py run (no curve)")
        task, key = Task.from_dict(run["task"]), (str(run["task"]), run["eval_seed"], run["episode_returns"].shape[1])
        if key not in random_return:  # a random actor on the runs' own evaluation episodes
            torch.manual_seed(args.seed)
            actor = Actor(**run["actor_args"])
            random_return[key] = float(evaluate(actor, [task], key[2], run["eval_seed"]).mean())
        steps, returns = run["curve"]["steps"].tolist(), run["curve"]["returns"].tolist()
        start, worst = returns[0], min(returns)
        dip = max(0.0, start - worst) / max(start - random_return[key], 1e-9)
        at = [f"{returns[steps.index(s)]:.1f}" if s in steps else "–" for s in args.at]
        rows.append(f"| {run['label']} | {run['args']['seed']} | {start:.1f} | {worst:.1f} (at {steps[returns.index(worst)]}) "
                    f"| {dip:.2f} | " + " | ".join(at) + " |")  # fmt: skip
    header = "| recipe | seed | step 0 | worst (at step) | worst dip / (start - random) | " + " | ".join(
        f"at {s // 1000}k" for s in args.at
    )
    table = "\n".join([header + " |", "|---" * (5 + len(args.at)) + "|", *rows])
    print(f"random actor: {', '.join(f'{r:.1f}' for r in random_return.values())}\n{table}")
    if args.out:
        write_text_atomic(args.out, table + "\n", WHO)
    return rows


if __name__ == "__main__":
    main(tyro.cli(Args))
