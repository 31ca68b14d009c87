# How unseen success grows with the seen tasks (docs/experiments/metaworld-generators.md): the MTRL tables of
# generators trained on more and more seen tasks, the same unseen tasks in each; per row of the tables (the generator,
# with and without HypFormer, retrieval, a random actor), the unseen tasks' mean success with its interval against the
# number of seen tasks. Reads the MTRL JSON files zeroshot_eval.py writes. Writes a PNG and the same numbers as a
# markdown table beside it (<out>.md).
#   python experiments/plot_seen_count.py seen4/hypformer_mtrl.json seen8/hypformer_mtrl.json --out seen_count.png
import os
import sys
from dataclasses import dataclass

import matplotlib
import tyro

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # common.py, at the top level
from common import check_output, load_json, write_atomic, write_text_atomic  # noqa: E402

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

WHO = "plot_seen_count"
LEFT_OUT = ("conditioning experts",)  # the unseen tasks' own experts: what conditions, not a method


@dataclass
class Args:
    tables: tyro.conf.Positional[tuple[str, ...]] = ()
    """MTRL tables (JSON) of generators on different numbers of seen tasks, the same unseen tasks in each"""
    out: str = "artifacts/seen_count.png"
    """where the figure is written; the markdown table goes beside it (<out>.md)"""


def main(args: Args) -> str:
    if len(args.tables) < 2:
        raise SystemExit(f"{WHO}: give at least two MTRL tables")
    check_output(WHO, "--out", args.out, args.tables)
    points, unseen = {}, None  # row -> [(seen tasks, avg, low, high)]
    for path in args.tables:
        table = load_json(path, WHO, "MTRL table")
        if not isinstance(table, dict) or "unseen" not in table.get("overall", {}):
            raise SystemExit(f"{WHO}: {path}: not an MTRL table with unseen tasks (zeroshot_eval.py's overall.unseen)")
        targets = sorted(t for t in table["targets"] if int(t) not in table["train_task_ids"])
        if unseen not in (None, targets):
            raise SystemExit(f"{WHO}: {path}: unseen tasks {targets}, the first table's are {unseen}: one set to compare")
        unseen = targets
        for name, row in table["overall"]["unseen"].items():
            if name not in LEFT_OUT:
                points.setdefault(name, []).append((len(table["train_task_ids"]), row["avg"], *row["avg ci"]))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    lines = ["| row | seen tasks | unseen success % [95% interval] |", "|---|---|---|"]
    for name, rows in points.items():
        rows.sort()
        x, y = [r[0] for r in rows], [100 * r[1] for r in rows]
        (line,) = ax.plot(x, y, marker="o", ls="--" if name == "random actor" else "-", label=name)
        ax.fill_between(x, [100 * r[2] for r in rows], [100 * r[3] for r in rows], color=line.get_color(), alpha=0.2)
        lines += [f"| {name} | {n} | {100 * avg:.1f} [{100 * low:.1f}, {100 * high:.1f}] |" for n, avg, low, high in rows]
    ax.set(xlabel="seen tasks the generator trained on", ylabel=f"unseen success % ({len(unseen)} tasks)",
           title="MetaWorld: unseen success against the number of seen tasks")  # fmt: skip
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    write_atomic(args.out, lambda tmp: fig.savefig(tmp, format="png", dpi=120), WHO)
    text = "\n".join(lines) + "\n"
    write_text_atomic(f"{args.out}.md", text, WHO)
    print(text, end="")
    return text


if __name__ == "__main__":
    main(tyro.cli(Args))
