# GenHyper recipe comparison: one row per zero-shot table (one HypLatent recipe each), the overall means with their
# bootstrap intervals, generated minus nearest expert, and whether the two are distinguishable. This is how
# presets/cheetah_vel15.sh picks a recipe on held-out training tasks; with --pick-against the table ends with a
# preset's rule and its pick (presets/ant_dir15.sh reads it). Reads: zero-shot JSON files that hyplatent_train.py
# writes. Writes: a markdown table (printed, and to --out when given).
#   python tools/compare_recipes.py validate/hyplatent_default_zeroshot.json validate/hyplatent_recon-latent_zeroshot.json
import os
import sys
from dataclasses import dataclass

import tyro

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # common.py, at the top level
from common import check_output, load_json, write_text_atomic  # noqa: E402

WHO = "compare_recipes"
COLUMNS = ("generated", "nearest expert", "interpolated experts", "own expert")


@dataclass
class Args:
    tables: tyro.conf.Positional[tuple[str, ...]]
    """zero-shot JSON files from hyplatent_train.py, all scored on the same targets"""
    out: str = ""
    """also write the markdown table here (empty: print only)"""
    pick_against: str = ""
    """a recipe of the tables (the defaults): add the line "pick: NAME", the recipe with the highest generated mean if
    its interval lies wholly above this one's, otherwise this one (empty: no pick)"""


def validate(args: Args) -> list:
    """One-line errors for unreadable tables, tables scored on different targets and an unusable --out."""
    if args.out:
        check_output(WHO, "--out", args.out, args.tables)
    tables = []
    for path in args.tables:
        table = load_json(path, WHO, "zero-shot JSON")
        if not isinstance(table, dict) or not {"targets", "overall", "overall_ci", "distinguishable"} <= set(table):
            raise SystemExit(
                f"{WHO}: {path}: not a zero-shot table of hyplatent_train.py (targets, overall, overall_ci, distinguishable)"
            )
        if tables and table["targets"] != tables[0]["targets"]:
            raise SystemExit(
                f"{WHO}: {path}: scored on targets {table['targets']}, {args.tables[0]} on {tables[0]['targets']}; "
                "recipes compare only on the same targets"
            )
        tables.append(table)
    if not tables:
        raise SystemExit(f"{WHO}: tables: expected at least one zero-shot JSON file")
    names = [recipe_name(path) for path in args.tables]
    if args.pick_against and (names.count(args.pick_against) != 1 or len(set(names)) != len(names)):
        raise SystemExit(f"{WHO}: --pick-against {args.pick_against}: expected one of the tables' recipes, each once: {names}")
    return tables


def recipe_name(path: str) -> str:
    """validate/hyplatent_recon-latent_zeroshot.json (or _zeroshot_params, _near, _between, _fit.json) -> recon-latent"""
    stem = os.path.basename(path).removesuffix(".json")
    for suffix in ("_zeroshot_params", "_zeroshot", "_near", "_between", "_fit"):  # the scripts' tables of one recipe
        stem = stem.removesuffix(suffix)
    return stem.removeprefix("hyplatent_")


def number(x) -> str:
    """A table's number; null (a non-finite mean, as the writers store it) reads n/a."""
    return "n/a" if x is None else f"{x:.1f}"


def interval(ci) -> str:
    """[low, high], or [no interval] where the writer stored none (null: too few samples or a non-finite mean)."""
    return "[no interval]" if not ci or None in ci else f"[{ci[0]:.1f}, {ci[1]:.1f}]"


def pick(args: Args, tables: list) -> str:
    """The rule, fixed before a preset's validation runs: the recipe with the highest generated mean, if its interval
    lies wholly above the defaults' (--pick-against); otherwise the defaults. A recipe with no mean or no interval
    is never picked over them."""
    names = [recipe_name(path) for path in args.tables]
    means = {name: t["overall"]["generated"] for name, t in zip(names, tables)}
    best = max((name for name in names if means[name] is not None), key=means.get, default=args.pick_against)
    ci, base = (tables[names.index(name)]["overall_ci"]["generated"] for name in (best, args.pick_against))
    above = best != args.pick_against and ci and None not in ci and base and None not in base and ci[0] > base[1]
    chosen = best if above else args.pick_against
    return (
        f"pick: {chosen} (rule: the highest generated mean, {best}, if its interval lies wholly above "
        f"{args.pick_against}'s; otherwise {args.pick_against})"
    )


def main(args: Args) -> str:
    tables = validate(args)
    columns = [c for c in COLUMNS if all(c in t["overall"] for t in tables)]
    lines = [
        f"targets {', '.join(tables[0]['targets'])}; mean return [interval]",
        "| recipe | " + " | ".join(columns) + " | generated - nearest | distinguishable |",
        "|" + "---|" * (len(columns) + 3),
    ]
    for path, t in zip(args.tables, tables):
        cells = [f"{number(t['overall'][c])} {interval(t['overall_ci'][c])}" for c in columns]
        generated, nearest = t["overall"]["generated"], t["overall"]["nearest expert"]
        gap = "n/a" if None in (generated, nearest) else f"{generated - nearest:+.1f}"
        apart = "yes" if t["distinguishable"] else "no"  # hyplatent_train's verdict: the two intervals do not overlap
        lines.append(f"| {recipe_name(path)} | " + " | ".join(cells) + f" | {gap} | {apart} |")
    if args.pick_against:
        lines += ["", pick(args, tables)]
    markdown = "\n".join(lines)
    print(markdown)
    if args.out:
        write_text_atomic(args.out, markdown + "\n", WHO)
    return markdown


if __name__ == "__main__":
    main(tyro.cli(Args))
