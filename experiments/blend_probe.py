# Blend probe (docs/experiments/cheetah-vel-15.md, "Would experts that lie closer in weight space interpolate to
# better gaits?"): the best checkpoints of two policy files and their 50/50 blend in parameter space, each run on the
# same deterministic episodes at one MDP parameter, with bootstrap intervals; and the L2 distance between the two.
#   python experiments/blend_probe.py basin/cheetah-vel/task_14.pt basin/cheetah-vel/task_12.pt --param 1.05
import os
import sys
from dataclasses import dataclass

import torch
import tyro

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # common.py, at the top level
from common import Actor, check_args, evaluate, load_flat_params, load_policies, task_at  # noqa: E402
from zeroshot_eval import interval  # noqa: E402

WHO = "blend_probe"


@dataclass
class Args:
    first: tyro.conf.Positional[str]
    """policy file of the first expert (its best stored return is used)"""
    second: tyro.conf.Positional[str]
    """policy file of the second expert"""
    param: float = 1.0
    """the MDP parameter (velocity, direction) the three policies run at"""
    episodes: int = 10
    """deterministic episodes per policy, reset seeds eval_seed + e of the first file"""
    seed: int = 0
    """seed of the bootstrap"""
    ci: float = 0.95
    """coverage of the bootstrap intervals"""
    ci_reps: int = 5000
    """bootstrap resamples"""


def main(args: Args) -> dict:
    check_args(WHO, args, at_least={"episodes": 1, "ci_reps": 100, "seed": 0}, coverage=("ci",))
    a, b = load_policies(args.first, WHO), load_policies(args.second, WHO)
    if a["layout"] != b["layout"] or a["task"]["suite"] != b["task"]["suite"]:
        raise SystemExit(f"{WHO}: {args.first} and {args.second}: other suites or actor layouts, nothing to blend")
    task = task_at(a["task"]["suite"], (args.param,), "--param")
    best_a, best_b = a["params"][a["returns"].argmax()], b["params"][b["returns"].argmax()]
    flat = torch.stack([best_a, best_b, 0.5 * (best_a + best_b)])
    actor = load_flat_params(Actor(**a["actor_args"], num_tasks=3), flat)
    returns = evaluate(actor, [task] * 3, args.episodes, a["eval_seed"])  # (3, episodes), the same episodes
    result = {"distance": float((best_a - best_b).norm())}
    for name, row in zip(("first", "second", "blend"), returns):
        result[name] = {"mean": float(row.mean()), "ci": interval(row.reshape(-1, 1), args)}
    print(f"{WHO}: at {args.param:g}: " + ", ".join(f"{n} {r['mean']:.1f} [{r['ci'][0]:.1f}, {r['ci'][1]:.1f}]"
                                                   for n, r in result.items() if n != "distance")
          + f"; L2 distance {result['distance']:.1f}")  # fmt: skip
    return result


if __name__ == "__main__":
    main(tyro.cli(Args))
