# float32 against bfloat16 updates (docs/experiments/throughput.md, "Updates in bfloat16"): the collections that
# experiments/bf16_check.sh writes, <runs>/{fp32,bf16}_seed<s>/, paired task by task and seed by seed. Per pair, each
# task's mean return over its kept checkpoints; the mean difference bf16 - fp32 with a 95% bootstrap interval over
# the pairs (zeroshot_eval.py's, rliable); and each run's training speed from its report.
#   python experiments/bf16_compare.py ../genhyper-runs/bf16-check --out ../genhyper-runs/bf16-check/compare.md
import glob
import os
import re
import sys
from dataclasses import dataclass

import numpy as np
import tyro

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # common.py, at the top level
from common import check_args, check_output, load_json, write_text_atomic  # noqa: E402
from zeroshot_eval import interval  # noqa: E402

WHO = "bf16_compare"


@dataclass
class Args:
    runs: tyro.conf.Positional[str]
    """folder holding fp32_seed<s>/ and bf16_seed<s>/ collections (experiments/bf16_check.sh)"""
    ci: float = 0.95
    """coverage of the bootstrap interval"""
    ci_reps: int = 10_000
    """bootstrap resamples of the pairs"""
    seed: int = 0
    """seed of the bootstrap"""
    out: str = ""
    """also write the markdown table here (empty: print only)"""


def report_paths(folder: str) -> list:
    """The collection reports (collect_<ids>.json) of one run folder; a run of several calls has several."""
    paths = sorted(glob.glob(os.path.join(folder, "*", "collect_*.json")))
    if not paths:
        raise SystemExit(f"{WHO}: {folder}: no collection report (collect_*.json); has the run finished?")
    return paths


def validate(args: Args) -> dict:
    """One-line errors for bad numbers, a --runs folder without paired runs and an unusable --out, before any reading;
    returns {(seed, precision): report paths}."""
    check_args(WHO, args, at_least={"ci_reps": 1}, coverage=("ci",))
    if not os.path.isdir(args.runs):
        raise SystemExit(f"{WHO}: {args.runs}: no such folder (the RUNS of experiments/bf16_check.sh)")
    seeds = sorted(int(m.group(1)) for d in os.listdir(args.runs) if (m := re.fullmatch(r"fp32_seed(\d+)", d)))
    seeds = [s for s in seeds if os.path.isdir(os.path.join(args.runs, f"bf16_seed{s}"))]
    if not seeds:
        raise SystemExit(f"{WHO}: {args.runs}: no seed with both fp32_seed<s> and bf16_seed<s>")
    paths = {(s, p): report_paths(os.path.join(args.runs, f"{p}_seed{s}")) for s in seeds for p in ("fp32", "bf16")}
    if args.out:
        check_output(WHO, "--out", args.out, tuple(path for found in paths.values() for path in found))
    return paths


def main(args: Args) -> dict:
    paths = validate(args)
    rows, pairs, speed = [], [], {"fp32": [], "bf16": []}
    for s in sorted({seed for seed, _ in paths}):
        mean = {}
        for precision in ("fp32", "bf16"):
            runs = [load_json(path, WHO, "collection report") for path in paths[s, precision]]
            mean[precision] = {t["index"]: t["return_mean"] for r in runs for t in r["tasks"].values()}
            speed[precision] += [r["update_sps"] * len(r["tasks"]) for r in runs]
        for task in sorted(set(mean["fp32"]) & set(mean["bf16"])):
            a, b = mean["fp32"][task], mean["bf16"][task]
            rows.append(f"| {task} | {s} | {a:.1f} | {b:.1f} | {b - a:+.1f} |")
            pairs.append((a, b))
    fp32, bf16 = np.array(pairs).T
    diffs = bf16 - fp32
    low, high = interval(diffs.reshape(-1, 1), args)  # every table's bootstrap (rliable), over the pairs
    verdict = "learns the same experts (interval holds 0 or lies above)" if high >= 0 else "learns worse (interval below 0)"
    table = "\n".join(
        [
            "| task | seed | float32: mean return of the kept checkpoints | --bf16 | bf16 - fp32 |",
            "|---|---|---|---|---|",
            *rows,
            f"| all {len(diffs)} pairs | | {fp32.mean():.1f} | {bf16.mean():.1f} | "
            f"{diffs.mean():+.1f} [{low:+.1f}, {high:+.1f}] |",
            "",
            f"--bf16 {verdict}. Task-steps/s while training: float32 {np.mean(speed['fp32']):.0f}, "
            f"--bf16 {np.mean(speed['bf16']):.0f} (x{np.mean(speed['bf16']) / np.mean(speed['fp32']):.2f}; "
            "runs on a shared machine, compare within one table).",
        ]
    )
    print(table)
    if args.out:
        write_text_atomic(args.out, table + "\n", WHO)
    return {"diff": float(diffs.mean()), "interval": (float(low), float(high)), "pairs": len(diffs)}


if __name__ == "__main__":
    main(tyro.cli(Args))
