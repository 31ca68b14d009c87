# Transfer matrix (docs/experiments/metaworld-generators.md, the choice of a validation split): each seen task's
# training checkpoints (the embedding's training split) run on every seen task's goals; the success of task i's
# experts on task j. Training data only: it tells which seen tasks other seen tasks' experts partly solve, so a split
# held out from the generator can say something about transfer.
#   python experiments/transfer_matrix.py --data data/metaworld --embedding artifacts/embed.pt --out transfer.json
import os
import sys
from dataclasses import dataclass

import tyro

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # common.py, at the top level
from common import (  # noqa: E402
    Actor,
    Task,
    check_output,
    evaluate,
    load_artifact,
    load_collection,
    load_flat_params,
    write_json_atomic,
)

WHO = "transfer_matrix"


@dataclass
class Args:
    data: str = "data/metaworld"
    """MetaWorld collection folder of sac_collect.py"""
    embedding: str = "artifacts/embed.pt"
    """behaviour embedding of behavior_embed.py: its seen tasks and their training checkpoints"""
    out: str = "artifacts/transfer.json"
    """where the matrix is written (JSON, success in [0, 1])"""


def main(args: Args) -> dict:
    embedding = load_artifact(args.embedding, "behavior_embedding", ("seen_ids", "train"), WHO)
    collection = load_collection(args.data, WHO)
    check_output(WHO, "--out", args.out, (args.embedding,))
    seen = [i for i in embedding["seen_ids"] if i in collection]
    matrix = {}
    for i in seen:
        params = collection[i]["params"][embedding["train"][i]]
        actor = load_flat_params(Actor(**collection[i]["actor_args"], num_tasks=len(params)), params)
        row = {}
        for j in seen:
            task = Task.from_dict(collection[j]["task"])
            result = evaluate(actor, [task] * len(params), len(task.goals), collection[j]["eval_seed"], behavior=True)
            row[collection[j]["task"]["name"]] = float(result["success"].mean())
        matrix[collection[i]["task"]["name"]] = row
        print(f"{collection[i]['task']['name']}'s experts: " + ", ".join(f"{n} {s:.2f}" for n, s in row.items()), flush=True)
    write_json_atomic(args.out, {"rows: experts of, columns: run on": matrix}, WHO)
    return matrix


if __name__ == "__main__":
    main(tyro.cli(Args))
