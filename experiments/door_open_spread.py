# How far the successful checkpoints of door-open probes lie from the clone they started from
# (docs/experiments/door-open.md): per probe, the kept checkpoints' steps and returns, and the L2 distance of each
# checkpoint's parameters from the clone's; the clone's own norm sets the scale. One markdown row per probe.
#   python experiments/door_open_spread.py runs/door-open/clone_fresh.pt runs/door-open/*/metaworld/task_01.pt
import os
import sys
from dataclasses import dataclass

import tyro

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # common.py, at the top level
from common import load_policies, write_text_atomic  # noqa: E402

WHO = "door_open_spread"


@dataclass
class Args:
    clone: tyro.conf.Positional[str]
    """the clone the probes started from (experiments/door_open_clone.py)"""
    probes: tyro.conf.Positional[tuple[str, ...]] = ()
    """the probes' collection files (<probe>/metaworld/task_01.pt), each of the clone's layout"""
    out: str = ""
    """also write the markdown table here (empty: print only)"""


def main(args: Args) -> list:
    if not args.probes:
        raise SystemExit(f"{WHO}: give the probes' task files after the clone")
    clone = load_policies(args.clone, WHO)
    start = clone["params"][0]
    rows = []
    for path in args.probes:
        probe = load_policies(path, WHO)
        if probe["layout"] != clone["layout"]:
            raise SystemExit(f"{WHO}: {path}: another actor layout than the clone {args.clone}")
        distance = (probe["params"] - start).norm(dim=1)
        rows.append(f"| {path} | {probe['steps'].tolist()} | {probe['returns'].min():.1f}-{probe['returns'].max():.1f} "
                    f"| {distance.min():.2f}-{distance.max():.2f} |")  # fmt: skip
    table = "\n".join(["| probe | steps kept | returns | distance from the clone |", "|---|---|---|---|", *rows])
    print(f"the clone: returns {clone['returns'].tolist()}, parameter norm {start.norm():.1f}\n{table}")
    if args.out:
        write_text_atomic(args.out, table + "\n", WHO)
    return rows


if __name__ == "__main__":
    main(tyro.cli(Args))
