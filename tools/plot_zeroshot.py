# GenHyper zero-shot sweep: return against the MDP parameter, generated (mean and spread over noise
# samples) against the nearest expert, the blend of the two nearest and the task's own expert where
# collected, with the training and test tasks marked: where along the parameter range the generator
# helps and where it does not. Reads: the zero-shot JSON files hyplatent_train.py writes (a --params
# sweep, Table I's test tasks, or both).  Writes: a PNG.
#   python hyplatent_train.py --out artifacts/hyplatent.pt --eval-only --params $(seq 0.05 0.05 3)
#   python tools/plot_zeroshot.py artifacts/hyplatent_zeroshot_params.json artifacts/hyplatent_zeroshot.json \
#       --out docs/sweep.png
import os
import sys
from dataclasses import dataclass

import matplotlib
import numpy as np
import tyro

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # common.py, at the top level
from common import check_output, get_suite, get_task, load_json, write_atomic  # noqa: E402

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

WHO = "plot_zeroshot"
BASELINES = ("nearest expert", "interpolated experts", "own expert")


@dataclass
class Args:
    tables: tyro.conf.Positional[tuple[str, ...]]
    """zero-shot JSON files from hyplatent_train.py (one HypLatent checkpoint: same suite and training tasks)"""
    out: str = "artifacts/zeroshot_sweep.png"
    """where the figure is written"""


def noise_scale(table: dict) -> float:
    """The noise std the table's generated policies were drawn with (tables from before --noise-scale: 1)."""
    return table.get("noise_scale", 1.0)


def validate(args: Args) -> list:
    """One-line errors for unreadable or mismatched tables and an unusable --out; returns the tables."""
    check_output(WHO, "--out", args.out, args.tables)
    tables = []
    for path in args.tables:
        table = load_json(path, WHO, "zero-shot JSON")
        if not isinstance(table, dict) or not {"suite", "train_task_ids", "targets", "per_task"} <= set(table):
            raise SystemExit(
                f"{WHO}: {path}: not a zero-shot table of hyplatent_train.py (suite, train_task_ids, targets, per_task)"
            )
        if any(not isinstance(table["per_task"].get(k), dict) or not table["per_task"][k].get("params")
               for k in table["targets"]):  # fmt: skip
            raise SystemExit(f"{WHO}: {path}: its targets have no task parameters to plot against (an MTRL table? "
                             "tools/plot_tokens.py draws those)")  # fmt: skip
        if tables and (table["suite"], table["train_task_ids"]) != (tables[0]["suite"], tables[0]["train_task_ids"]):
            raise SystemExit(
                f"{WHO}: {path}: from another generator ({table['suite']}, training tasks {table['train_task_ids']})"
            )
        if tables and noise_scale(table) != noise_scale(tables[0]):
            raise SystemExit(
                f"{WHO}: {path}: evaluated with noise std {noise_scale(table):g}, {args.tables[0]} with "
                f"{noise_scale(tables[0]):g}; one curve takes one noise scale"
            )
        tables.append(table)
    if not tables:
        raise SystemExit(f"{WHO}: give at least one zero-shot JSON")
    return tables


def main(args: Args) -> str:
    tables = validate(args)
    suite, train_ids = tables[0]["suite"], tables[0]["train_task_ids"]
    rows = [(row["params"][0], row) for table in tables for row in (table["per_task"][k] for k in table["targets"])]
    rows.sort(key=lambda pair: pair[0])  # by parameter; a swept value may equal a test task's
    x = np.array([p for p, _ in rows])
    samples = [np.array(row["generated per sample"]) for _, row in rows]  # each (noise samples,)

    fig, ax = plt.subplots(figsize=(9, 4.5))
    mean = np.array([s.mean() for s in samples])
    scale = "" if noise_scale(tables[0]) == 1 else f", noise std {noise_scale(tables[0]):g}"
    ax.plot(x, mean, "-o", ms=3, color="C0", label=f"generated (mean of {len(samples[0])} samples{scale})")
    ax.fill_between(
        x, [s.min() for s in samples], [s.max() for s in samples], color="C0", alpha=0.2, label="generated, min-max"
    )
    for color, name in zip(("C1", "C2", "C3"), BASELINES):
        at = [(p, row[name]) for p, row in rows if name in row]
        if at:
            style = "s" if name == "own expert" else "-"
            ax.plot(*zip(*at), style, ms=5, color=color, label=name)
    for i in train_ids:  # where the generator was trained, and the held-out test tasks
        ax.axvline(get_task(suite, i).params[0], color="gray", lw=0.6, alpha=0.5)
    for i in get_suite(suite).test_ids:
        ax.axvline(get_task(suite, i).params[0], color="red", lw=0.8, ls=":", alpha=0.7)
    ax.plot([], [], color="gray", lw=0.6, label=f"training tasks ({len(train_ids)})")
    ax.plot([], [], color="red", lw=0.8, ls=":", label="test tasks")
    name = get_suite(suite).param_names[0]
    ax.set(xlabel=name, ylabel="return (deterministic)", title=f"{suite}: zero-shot return across the {name} range")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    write_atomic(args.out, lambda tmp: fig.savefig(tmp, format="png", dpi=120), WHO)
    helps = int((mean > np.array([row["nearest expert"] for _, row in rows])).sum())
    summary = f"{WHO}: wrote {args.out}: {len(x)} parameter values, generated mean above the nearest expert at {helps}"
    print(summary)
    return summary


if __name__ == "__main__":
    main(tyro.cli(Args))
