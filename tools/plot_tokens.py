# GenHyper Fig. 8: MTRL success on the seen tasks against HypFormer's number of latent tokens L (--num-samples),
# one bar per HypFormer run, with its bootstrap interval, and HypLatent alone as a line. Reads: the MTRL JSON files
# of hypformer_train.py runs that differ in --num-samples (one HypLatent checkpoint).  Writes: a PNG.
#   for L in 8 16 32; do python hypformer_train.py --num-samples $L --out artifacts/hypformer_L$L.pt; done
#   python tools/plot_tokens.py artifacts/hypformer_L*_mtrl.json --out docs/tokens.png
import os
import sys
from dataclasses import dataclass

import matplotlib
import tyro

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # common.py, at the top level
from common import check_output, load_json, write_atomic  # noqa: E402

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

WHO = "plot_tokens"


@dataclass
class Args:
    tables: tyro.conf.Positional[tuple[str, ...]]
    """MTRL JSON files of hypformer_train.py, one per --num-samples (the same HypLatent checkpoint and tasks)"""
    out: str = "artifacts/tokens.png"
    """where the figure is written"""
    group: str = "seen"
    """which tasks: seen (paper Fig. 8) or unseen"""


def validate(args: Args) -> list:
    """One-line errors for unreadable or mismatched tables and an unusable --out; returns the tables sorted by L."""
    check_output(WHO, "--out", args.out, args.tables)
    if args.group not in ("seen", "unseen"):
        raise SystemExit(f"{WHO}: --group {args.group!r}: expected seen or unseen")
    tables = []
    for path in args.tables:
        table = load_json(path, WHO, "MTRL JSON")
        if not isinstance(table, dict) or "num_samples" not in table or args.group not in table.get("overall", {}):
            raise SystemExit(f"{WHO}: {path}: not an MTRL table of hypformer_train.py with {args.group} tasks")
        if table.get("trained_num_samples", table["num_samples"]) != table["num_samples"]:
            raise SystemExit(
                f"{WHO}: {path}: evaluated at L = {table['num_samples']}, trained at L = {table['trained_num_samples']}; "
                "Fig. 8 compares HypFormers trained at each L (hypformer_train.py --num-samples, not --eval-only)"
            )
        if tables and (table["train_task_ids"], table["targets"]) != (tables[0]["train_task_ids"], tables[0]["targets"]):
            raise SystemExit(f"{WHO}: {path}: other tasks than {args.tables[0]}")
        tables.append(table)
    if not tables:
        raise SystemExit(f"{WHO}: give at least one MTRL JSON")
    if len({t["num_samples"] for t in tables}) != len(tables):
        raise SystemExit(f"{WHO}: two tables share a --num-samples")
    return sorted(tables, key=lambda t: t["num_samples"])


def main(args: Args) -> str:
    tables = validate(args)
    rows = [t["overall"][args.group] for t in tables]
    with_former = [100 * r["w/ HypFormer"]["avg"] for r in rows]
    ci = [r["w/ HypFormer"].get("avg ci") or [None, None] for r in rows]  # null: no interval, drawn without a bar
    low = [0.0 if c[0] is None else w - 100 * c[0] for w, c in zip(with_former, ci)]
    high = [0.0 if c[1] is None else 100 * c[1] - w for w, c in zip(with_former, ci)]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    labels = [str(t["num_samples"]) for t in tables]
    ax.bar(labels, with_former, yerr=[low, high], color="tab:blue", capsize=3, label="w/ HypFormer")
    ax.axhline(100 * rows[0]["w/o HypFormer"]["avg"], color="tab:red", ls="--", label="w/o HypFormer (HypLatent)")
    ax.set_xlabel("latent tokens L (--num-samples)")
    ax.set_ylabel(f"{args.group}-task success (%)")
    ax.set_title(f"MTRL, {args.group} tasks: mean over {tables[0]['eval_samples']} policies per task")
    ax.legend(fontsize=8)
    fig.tight_layout()
    write_atomic(args.out, lambda tmp: fig.savefig(tmp, dpi=110, format="png"), WHO)
    plt.close(fig)
    print(f"{WHO}: wrote {args.out} (L = {', '.join(labels)}: {', '.join(f'{w:.1f}%' for w in with_former)})")
    return args.out


if __name__ == "__main__":
    main(tyro.cli(Args))
