# The door-open experts of the long SAC run (docs/experiments/door-open.md, "SAC from scratch"): per kept checkpoint
# its step, return per goal, success and temperature, then how far apart the checkpoints lie in parameter space
# (consecutive and pairwise L2 distances against the actors' norm). One markdown table.
#   python experiments/door_open_experts.py runs/door-open/long_1m/metaworld/task_01.pt --out long_experts.md
import os
import sys
from dataclasses import dataclass

import torch
import tyro

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # common.py, at the top level
from common import load_policies, write_text_atomic  # noqa: E402

WHO = "door_open_experts"


@dataclass
class Args:
    experts: tyro.conf.Positional[str]
    """the run's collection file (<run>/metaworld/task_01.pt), at least two checkpoints"""
    out: str = ""
    """also write the markdown here (empty: print only)"""


def main(args: Args) -> str:
    data = load_policies(args.experts, WHO)
    params = data["params"]
    if len(params) < 2:
        raise SystemExit(f"{WHO}: {args.experts}: {len(params)} checkpoint; expected at least two to measure a spread")
    rows = []
    for n, step in enumerate(data["steps"].tolist()):
        returns = " / ".join(f"{r:.0f}" for r in data["episode_returns"][n].tolist())
        success = " / ".join(f"{x:.0f}" for x in data["success"][n].tolist()) if "success" in data else "–"
        alpha = f"{data['alpha'][n].item():.3f}" if "alpha" in data else "–"
        rows.append(f"| {step // 1000}k | {returns} | {success} | {alpha} |")
    consecutive = (params[1:] - params[:-1]).norm(dim=1)
    pairwise = torch.pdist(params)
    text = "\n".join(
        ["| step | return per goal | success per goal | temperature |", "|---|---|---|---|", *rows, ""]
        + [
            f"consecutive distance {consecutive.min():.1f}-{consecutive.max():.1f}; pairwise {pairwise.min():.1f}-"
            f"{pairwise.max():.1f} (median {pairwise.median():.1f}); mean parameter norm {params.norm(dim=1).mean():.1f}"
        ]
    )
    print(text)
    if args.out:
        write_text_atomic(args.out, text + "\n", WHO)
    return text


if __name__ == "__main__":
    main(tyro.cli(Args))
