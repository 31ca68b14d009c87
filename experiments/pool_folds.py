# Pools the folds of a held-out-seen-task protocol (docs/experiments/metaworld-generators.md): MetaWorld HypLatent
# checkpoints, one per fold and recipe, each trained on the seen tasks but its fold's and scored (the MTRL table) on
# the fold's tasks as if unseen. Checkpoints with the same file name in different fold folders are one recipe; per
# recipe, the success of its generated policies on every held-out task of every fold, pooled: the mean over tasks with
# a stratified bootstrap interval (zeroshot_eval.py's), and each task's mean. Reads the checkpoints and the policy files
# hyplatent_train.py wrote beside them (<checkpoint>_generated/). Writes a markdown table (printed, and to --out).
#   python experiments/pool_folds.py val/fold_0-1/hyplatent_cn0.pt val/fold_2-3/hyplatent_cn0.pt ... --out folds.md
import os
import sys
from collections import defaultdict
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import tyro

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # common.py and the evaluator whose interval this uses
from common import check_output, load_artifact, load_policies, write_text_atomic  # noqa: E402
from zeroshot_eval import interval  # noqa: E402

WHO = "pool_folds"


@dataclass
class Args:
    checkpoints: tyro.conf.Positional[tuple[str, ...]] = ()
    """HypLatent checkpoints, one per fold and recipe (a recipe is a file name shared across the fold folders)"""
    seed: int = 0
    """seed of the bootstrap"""
    out: str = ""
    """also write the markdown table here (empty: print only)"""


def held_out_success(path: str) -> dict:
    """{task: (N,) success of each generated policy over its goals} for the tasks the checkpoint did not train on."""
    ckpt = load_artifact(path, "hyplatent", ("train_task_ids", "condition"), who=WHO)
    if ckpt["condition"] != "behavior":
        raise SystemExit(f"{WHO}: {path}: conditioned on {ckpt['condition']!r}, expected a MetaWorld (behavior) generator")
    folder = f"{os.path.splitext(path)[0]}_generated"
    names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    files = [load_policies(os.path.join(folder, name), WHO) for name in names if name.endswith(".pt")]
    held = {
        f["task"]["index"]: f["success"].numpy().mean(1) for f in files if f["task"]["index"] not in ckpt["train_task_ids"]
    }
    if not held:
        raise SystemExit(f"{WHO}: {path}: no generated policies of a held-out task in {folder}")
    return held


def main(args: Args) -> str:
    if not args.checkpoints:
        raise SystemExit(f"{WHO}: give the folds' HypLatent checkpoints")
    if args.out:
        check_output(WHO, "--out", args.out, args.checkpoints)
    recipes = defaultdict(dict)  # file name -> {task: success per policy}
    for path in args.checkpoints:
        for task, success in held_out_success(path).items():
            if task in recipes[os.path.basename(path)]:
                raise SystemExit(f"{WHO}: {path}: task {task} is held out by two folds of {os.path.basename(path)}")
            recipes[os.path.basename(path)][task] = success
    tasks = sorted(next(iter(recipes.values())))
    lines = ["| recipe | held-out success, mean over tasks [95% interval] | " + " | ".join(map(str, tasks)) + " |",
             "|---" * (len(tasks) + 2) + "|"]  # fmt: skip
    for name, per_task in recipes.items():
        if sorted(per_task) != tasks:
            raise SystemExit(f"{WHO}: {name}: holds out tasks {sorted(per_task)}, the others {tasks}: one set of folds")
        scores = np.stack([per_task[t] for t in tasks], axis=1)  # (policies, tasks)
        low, high = interval(scores, SimpleNamespace(seed=args.seed, ci=0.95, ci_reps=5000))
        cells = " | ".join(f"{100 * per_task[t].mean():.1f}" for t in tasks)
        lines.append(f"| {name} | **{100 * scores.mean():.1f}** [{100 * low:.1f}, {100 * high:.1f}] | {cells} |")
    table = "\n".join(lines) + "\n"
    print(table, end="")
    if args.out:
        write_text_atomic(args.out, table, WHO)
    return table


if __name__ == "__main__":
    main(tyro.cli(Args))
