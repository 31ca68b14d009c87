# GenHyper expert table: did each task's SAC expert converge? One row per task file of a collection: its best and last
# checkpoint's return, the mean and spread of all its checkpoints, and the mean of the first half of its checkpoints
# against the second (a second half above the first: still improving when the collection stopped). The returns are
# those the collector stored (each checkpoint's deterministic evaluation episodes); nothing runs again.
# Reads: collection folders (sac_collect.py's <out>/<suite>/) or task files of one suite. Writes: a markdown table
# (printed, and to --out when given).
#   python tools/expert_table.py data/ant-dir --task-ids 49 1 45 --out data/experts.md
import math
import os
import sys
from dataclasses import dataclass

import numpy as np
import tyro

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # common.py, at the top level
from common import check_output, collection_files, load_policies, write_text_atomic  # noqa: E402

WHO = "expert_table"


@dataclass
class Args:
    collections: tyro.conf.Positional[tuple[str, ...]]
    """collection folders (every task_XX.pt in each) or task files, all of one suite; each file is one row"""
    task_ids: tuple[int, ...] = ()
    """only these tasks, in this order (empty: every task file given, in the order given)"""
    out: str = ""
    """also write the markdown table here (empty: print only)"""


def validate(args: Args) -> list:
    """One-line errors for missing inputs, mixed suites, task ids not found and an unusable --out; the rows' files."""
    paths = []
    for path in args.collections:
        if not os.path.exists(path):
            raise SystemExit(f"{WHO}: {path}: no such collection folder or task file")
        found = collection_files(path) if os.path.isdir(path) else [path]
        if not found:
            raise SystemExit(f"{WHO}: {path}: a folder without task files (task_XX.pt from sac_collect.py)")
        paths += found
    if not paths:
        raise SystemExit(f"{WHO}: collections: expected at least one collection folder or task file")
    if args.out:
        check_output(WHO, "--out", args.out, tuple(paths))
    files = [(path, load_policies(path, WHO)) for path in paths]
    for path, data in files:
        if "steps" not in data:
            raise SystemExit(f"{WHO}: {path}: not a collection's task file (no checkpoint steps; sac_collect.py writes them)")
        if data["task"]["suite"] != files[0][1]["task"]["suite"]:
            raise SystemExit(
                f"{WHO}: {path}: a task of {data['task']['suite']}, {files[0][0]} of {files[0][1]['task']['suite']}"
            )
    if not args.task_ids:
        return files
    by_index = {}
    for path, data in files:  # a task chosen by id must name one file (a collection and its stood_still/ both hold one)
        i = data["task"]["index"]
        if i in args.task_ids and i in by_index:
            raise SystemExit(f"{WHO}: --task-ids {i}: held twice ({by_index[i][0]} and {path}); give one of them")
        by_index[i] = (path, data)
    missing = [i for i in args.task_ids if i not in by_index]
    if missing:
        raise SystemExit(f"{WHO}: --task-ids {missing}: not in the collections given (they hold {sorted(by_index)})")
    return [by_index[i] for i in args.task_ids]


def condition(task: dict) -> str:
    """The task's MDP parameter as the records give it: Ant-Dir's goal in degrees, Cheetah-Vel's velocity."""
    if task["suite"] == "ant-dir":
        return f"{math.degrees(task['params'][0]):.1f} deg"
    return ", ".join(f"{p:g}" for p in task["params"]) or "-"


def row(data: dict) -> dict:
    """Per task: best, last, mean, std and the two halves of its checkpoints' stored returns, in step order."""
    returns = data["returns"].double().numpy()[np.argsort(data["steps"].numpy(), kind="stable")]
    half = len(returns) // 2
    first, second = (returns[:half].mean(), returns[half:].mean()) if half else (math.nan, returns.mean())
    steps = (int(data["steps"].min()), int(data["steps"].max()))
    return {"best": returns.max(), "last": returns[-1], "mean": returns.mean(), "std": returns.std(), "first": first,
            "second": second, "checkpoints": len(returns), "steps": steps}  # fmt: skip


def main(args: Args) -> str:
    files = validate(args)
    rows = [(data["task"], row(data)) for _, data in files]
    lines = [
        "| task | condition | checkpoints (steps) | best | last | mean | std | first half / second half |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for task, r in rows:
        steps = f"{r['checkpoints']} ({r['steps'][0] / 1e3:g}k-{r['steps'][1] / 1e3:g}k)"
        name = "" if task["name"] == f"{task['suite']}-{task['index']}" else f" {task['name']}"  # MetaWorld's names
        lines.append(f"| {task['index']}{name} | {condition(task)} | {steps} | {r['best']:.1f} | {r['last']:.1f} | "
                     f"{r['mean']:.1f} | {r['std']:.1f} | {r['first']:.1f} / {r['second']:.1f} |")  # fmt: skip
    means = {k: np.mean([r[k] for _, r in rows]) for k in ("best", "last", "mean", "std")}
    lines.append(f"| **mean of {len(rows)}** | | | **{means['best']:.1f}** | **{means['last']:.1f}** | "
                 f"**{means['mean']:.1f}** | {means['std']:.1f} | |")  # fmt: skip
    trend = [r["second"] - r["first"] for _, r in rows if not math.isnan(r["first"])]
    below = [task["index"] for task, r in rows if r["second"] < r["first"]]
    if trend:
        lines.append(f"\nsecond half - first half: {min(trend):+.1f} to {max(trend):+.1f}; "
                     f"second half below the first: {below or 'none'}")  # fmt: skip
    markdown = "\n".join(lines)
    print(markdown)
    if args.out:
        write_text_atomic(args.out, markdown + "\n", WHO)
    return markdown


if __name__ == "__main__":
    main(tyro.cli(Args))
