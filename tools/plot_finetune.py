# GenHyper Fig. 6: fine-tuning curves (return against environment steps), mean and spread over
# seeds, one panel per task, from the .pt files finetune_tdreg.py writes; plus the table that
# measures them. Reads: the policy files finetune_tdreg.py writes (their `curve`).  Writes: a PNG, and
# the table (markdown) on stdout and next to the PNG as .md.
#   python tools/plot_finetune.py artifacts/finetune/*.pt --out artifacts/finetune.png
#
# Normalized score, per task: s(t) = (R(t) - R_random) / (R_scratch - R_random), where R_random is
# the mean step-0 return of the --baseline runs (their fresh actor, evaluated deterministically)
# and R_scratch the mean final return of the same runs at the same step budget. "Steps to 90%" is
# the first evaluation at which a run's s(t) >= --threshold, and whose mean with the next
# --hold - 1 evaluations is too: reached and held, so one lucky evaluation does not count (the
# first single evaluation over the line is reported too, as "first touch"). Returns are negative on
# Cheetah-Vel, so the score, not a percentage of the return, is what compares. The worst dip is also given as a
# fraction of each seed's gap between its step-0 return and R_random (0: never below its start; 1: down to a random
# actor), the worst seed's, and the mean return at the steps of --at.
import os
import sys
from collections import defaultdict
from dataclasses import dataclass

import matplotlib
import numpy as np
import tyro

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # common.py, at the top level
from common import check_args, check_output, load_artifact, write_atomic, write_text_atomic  # noqa: E402

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402


@dataclass
class Args:
    runs: tyro.conf.Positional[tuple[str, ...]]
    """runs written by finetune_tdreg.py (seeds of one config are grouped by their label)"""
    out: str = "artifacts/finetune.png"
    """where the figure is written; the table goes next to it as .md"""
    baseline: str = "scratch"
    """label of the runs that define R_random and R_scratch (plain SAC from scratch)"""
    threshold: float = 0.9
    """fraction of the random-to-scratch gap a run must close"""
    hold: int = 5
    """evaluations (from the crossing on) whose mean score must also reach --threshold (1: first touch)"""
    at: tuple[int, ...] = (20_000, 50_000, 100_000)
    """steps whose mean return the table reports (a run shorter than one shows –)"""


def first_crossing(steps: np.ndarray, score: np.ndarray, threshold: float, hold: int) -> int | None:
    """Step of the first evaluation whose score, and its mean with the next hold - 1, reach threshold."""
    held = np.array([score[i : i + hold].mean() for i in range(len(score))])
    hit = np.flatnonzero((score >= threshold) & (held >= threshold))
    return int(steps[hit[0]]) if len(hit) else None


WHO = "plot_finetune"


def validate(args: Args) -> None:
    """One-line errors for bad numbers and an --out that is not a writable new file, before anything is read."""
    check_args(WHO, args, at_least={"hold": 1}, positive=("threshold",))
    runs = [p for p in args.runs if not p.endswith(".state.pt")]
    table = os.path.splitext(args.out)[0] + ".md"
    if table == args.out:
        raise SystemExit(f"{WHO}: --out {args.out}: the table is written next to the figure as .md; name the figure .png")
    check_output(WHO, "--out", args.out, runs)
    check_output(WHO, "--out (table)", table, runs)


def main(args: Args) -> str:
    # --- load: group runs by task and label; every run of a group must share its evaluation steps ---
    validate(args)
    groups = defaultdict(lambda: defaultdict(list))  # (suite, task index) -> label -> [run]
    tasks = {}
    for path in args.runs:
        if path.endswith(".state.pt"):  # a shell glob also catches the resume state of a run still going
            print(f"plot_finetune: skipping {path}: resume state of an unfinished run")
            continue
        run = load_artifact(path, "policies", ("task", "label", "curve", "args"), who=WHO)
        key = (run["task"]["suite"], run["task"]["index"])
        groups[key][run["label"]].append(run)
        tasks[key] = run["task"]
    if not groups:
        raise SystemExit("plot_finetune: no finished finetune .pt files given")
    for t, by_label in groups.items():
        for label, runs in by_label.items():
            if any(not np.array_equal(r["curve"]["steps"].numpy(), runs[0]["curve"]["steps"].numpy()) for r in runs):
                raise SystemExit(
                    f"{WHO}: {t[0]} task {t[1]}, {label!r}: runs evaluated at different steps; "
                    "rerun with one --eval-every and budget"
                )

    # --- table: steps to close --threshold of the gap, worst dip below the step-0 return ---
    lines = [
        f"| task | runs | seeds | step-0 return | final return | steps to {args.threshold:.0%}, held, per seed | mean "
        f"| / {args.baseline} | first touch, mean | worst dip | worst dip / (start - random) | "
        + " | ".join(f"return at {s // 1000}k" if s % 1000 == 0 else f"return at {s}" for s in args.at)
        + " |",
        "|---" * (11 + len(args.at)) + "|",
    ]
    fig, axes = plt.subplots(1, len(groups), figsize=(5.5 * len(groups), 4), squeeze=False)
    for ax, t in zip(axes[0], sorted(groups)):
        by_label, ref, stats = groups[t], None, {}
        if args.baseline in by_label:
            base = np.stack([r["curve"]["returns"].numpy() for r in by_label[args.baseline]])  # (seeds, evaluations)
            ref = (base[:, 0].mean(), base[:, -1].mean())  # R_random, R_scratch
            ax.axhline(
                ref[0] + args.threshold * (ref[1] - ref[0]),
                color="gray",
                ls="--",
                lw=1,
                label=f"{args.threshold:.0%} of random -> {args.baseline}",
            )
        for label in sorted(by_label, key=lambda x: (x != args.baseline, x)):
            runs = by_label[label]
            steps = runs[0]["curve"]["steps"].numpy()
            returns = np.stack([r["curve"]["returns"].numpy() for r in runs])  # (seeds, evaluations)
            mean, std = returns.mean(0), returns.std(0)
            (line,) = ax.plot(steps, mean, label=f"{label} ({len(runs)} seed{'s' * (len(runs) > 1)})")
            ax.fill_between(steps, mean - std, mean + std, color=line.get_color(), alpha=0.2)
            scores = [(r - ref[0]) / (ref[1] - ref[0]) for r in returns] if ref else []
            hits = [first_crossing(steps, sc, args.threshold, args.hold) for sc in scores]
            touches = [first_crossing(steps, sc, args.threshold, 1) for sc in scores]
            stats[label] = {
                "seeds": " ".join(str(r["args"]["seed"]) for r in runs),
                "start": returns[:, 0].mean(),
                "final": f"{returns[:, -1].mean():.1f} ± {returns[:, -1].std():.1f}",
                "hits": ", ".join(str(h) if h is not None else f">{steps[-1]}" for h in hits) or "–",
                "mean_hit": np.mean(hits) if hits and None not in hits else None,
                "touch": f"{np.mean(touches):.0f}" if touches and None not in touches else "–",
                "dip": (returns - returns[:, :1]).min(),  # worst drop of any seed below its own step-0 return
                # the same per seed, as a fraction of its start's gap to R_random (a scratch run starts at random)
                "dip_fraction": max((r[0] - r.min()) / (r[0] - ref[0]) for r in returns)
                if ref and label != args.baseline
                else None,
                "at": [f"{returns[:, list(steps).index(s)].mean():.1f}" if s in steps else "–" for s in args.at],
            }
        base_hit = stats.get(args.baseline, {}).get("mean_hit")
        for label, st in stats.items():
            mean_hit = "–" if st["mean_hit"] is None else f"{st['mean_hit']:.0f}"
            ratio = f"{st['mean_hit'] / base_hit:.2f}" if st["mean_hit"] is not None and base_hit else "–"
            lines.append(
                f"| {t[1]} | {label} | {st['seeds']} | {st['start']:.1f} | {st['final']} | {st['hits']} | {mean_hit} | "
                f"{ratio} | {st['touch']} | {st['dip']:.1f} | "
                + ("–" if st["dip_fraction"] is None else f"{st['dip_fraction']:.2f}")
                + " | "
                + " | ".join(st["at"])
                + " |"
            )
        params = ", ".join(f"{n} {v:.3f}" for n, v in zip(tasks[t]["param_names"], tasks[t]["params"]))
        ax.set(
            title=f"{tasks[t]['suite']} task {t[1]} ({params})", xlabel="environment steps", ylabel="return (deterministic)"
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()

    # --- save atomically: the PNG and the table next to it ---
    table = "\n".join(lines)
    write_atomic(args.out, lambda tmp: fig.savefig(tmp, format="png", dpi=120), WHO)
    md = os.path.splitext(args.out)[0] + ".md"
    write_text_atomic(md, table + "\n", WHO)
    print(table)
    print(f"plot_finetune: wrote {args.out} and {md}")
    return table


if __name__ == "__main__":
    main(tyro.cli(Args))
