# Pools the folds of a held-out-seen-task protocol (docs/experiments/metaworld-generators.md): MetaWorld HypLatent
# checkpoints, one per fold and recipe, each trained on the seen tasks but its fold's and scored (the MTRL table) on
# the fold's tasks as if unseen. Checkpoints with the same file name in different fold folders are one recipe; per
# recipe, the success of its generated policies on every held-out task of every fold, pooled: the mean over tasks with
# a stratified bootstrap interval (zeroshot_eval.py's), and each task's mean; beside it the same policies' success on
# each fold's own training tasks, pooled. The pick (the record's rule): the highest held-out mean, a tie (to the 0.1
# shown) going to the higher training-task mean, then to the recipe given first. Reads the checkpoints and the policy
# files hyplatent_train.py wrote beside them (<checkpoint>_generated/). Writes a markdown table (printed, and to --out).
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


def fold_success(path: str) -> tuple[dict, dict]:
    """{task: (N,) success of each generated policy over its goals} for the tasks the checkpoint did not train on, and
    the same for those it trained on."""
    ckpt = load_artifact(path, "hyplatent", ("train_task_ids", "condition"), who=WHO)
    if ckpt["condition"] != "behavior":
        raise SystemExit(f"{WHO}: {path}: conditioned on {ckpt['condition']!r}, expected a MetaWorld (behavior) generator")
    folder = f"{os.path.splitext(path)[0]}_generated"
    names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    files = [load_policies(os.path.join(folder, name), WHO) for name in names if name.endswith(".pt")]
    success = {f["task"]["index"]: f["success"].numpy().mean(1) for f in files}
    held = {task: s for task, s in success.items() if task not in ckpt["train_task_ids"]}
    if not held:
        raise SystemExit(f"{WHO}: {path}: no generated policies of a held-out task in {folder}")
    return held, {task: s for task, s in success.items() if task in ckpt["train_task_ids"]}


def main(args: Args) -> str:
    if not args.checkpoints:
        raise SystemExit(f"{WHO}: give the folds' HypLatent checkpoints")
    if args.out:
        check_output(WHO, "--out", args.out, args.checkpoints)
    recipes, trained = defaultdict(dict), defaultdict(list)  # file name -> {task: success per policy}; [task means]
    for path in args.checkpoints:
        held, fit = fold_success(path)
        for task, success in held.items():
            if task in recipes[os.path.basename(path)]:
                raise SystemExit(f"{WHO}: {path}: task {task} is held out by two folds of {os.path.basename(path)}")
            recipes[os.path.basename(path)][task] = success
        trained[os.path.basename(path)] += [s.mean() for s in fit.values()]
    tasks = sorted(next(iter(recipes.values())))
    lines = ["| recipe | held-out success, mean over tasks [95% interval] | " + " | ".join(map(str, tasks))
             + " | the folds' training tasks |", "|---" * (len(tasks) + 3) + "|"]  # fmt: skip
    ranks = {}
    for name, per_task in recipes.items():
        if sorted(per_task) != tasks:
            raise SystemExit(f"{WHO}: {name}: holds out tasks {sorted(per_task)}, the others {tasks}: one set of folds")
        scores = np.stack([per_task[t] for t in tasks], axis=1)  # (policies, tasks)
        low, high = interval(scores, SimpleNamespace(seed=args.seed, ci=0.95, ci_reps=5000))
        cells = " | ".join(f"{100 * per_task[t].mean():.1f}" for t in tasks)
        seen = 100 * np.mean(trained[name]) if trained[name] else float("nan")
        lines.append(f"| {name} | **{100 * scores.mean():.1f}** [{100 * low:.1f}, {100 * high:.1f}] | {cells} | {seen:.1f} |")
        ranks[name] = (round(100 * scores.mean(), 1), round(seen, 1) if trained[name] else -1.0)
    pick = max(ranks, key=lambda name: ranks[name])  # max keeps the first of equals: the recipe given first
    table = "\n".join(lines) + f"\n\npick: {pick}\n"
    print(table, end="")
    if args.out:
        write_text_atomic(args.out, table, WHO)
    return table


if __name__ == "__main__":
    main(tyro.cli(Args))
