# Anchored generation probe (docs/experiments/quickstart.md, "Anchored at the library"): the generator's policies
# for a target, moved so that at the nearest training task they are that task's best expert exactly, not the
# generator's average checkpoint. For a generated policy D(G(eps, c)) at condition c, with the same noise eps:
#   nearest:  theta = theta*_a + D(G(eps, c)) - D(G(eps, c_a))          a = the nearest training task
#   blend:    theta = sum_j w_j theta*_j + D(G(eps, c)) - sum_j w_j D(G(eps, c_j))   the two nearest, inverse-distance
# theta*_j is task j's best stored checkpoint (what the nearest-expert baseline runs). The generator contributes only
# how the policy changes between conditions; the library, where it stands. Zero-shot stays environment-free: the
# anchors are picked by their stored returns, as the baselines are. Reads generated policy files (a HypLatent stage
# wrote them: their origin names the generator, the noise seed and scale); writes policy files of the same targets
# into --out-dir, which zeroshot_eval.py scores beside the same baselines on the same episodes.
#   python experiments/anchored_probe.py run/hyplatent_near_generated/*.pt --mode blend --out-dir run/anchored_blend
#   python zeroshot_eval.py run/anchored_blend/*.pt --out run/anchored_blend.json
import os
import sys
from dataclasses import dataclass
from typing import Literal

import torch
import tyro

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the stages, at the top level
from common import (  # noqa: E402
    Task,
    check_output,
    collection_files,
    generated_policy_file,
    load_artifact,
    load_collection,
    load_policies,
    save_atomic,
)
from hyplatent_train import generate  # noqa: E402
from zeroshot_eval import two_nearest  # noqa: E402

WHO = "anchored_probe"


@dataclass
class Args:
    policies: tyro.conf.Positional[tuple[str, ...]]
    """generated policy files of one HypLatent checkpoint (hyplatent_train.py's <out>_generated/*.pt)"""
    mode: Literal["nearest", "blend"] = "nearest"
    """anchor at the nearest training task's best expert, or at the inverse-distance blend of the two nearest"""
    out_dir: str = "anchored"
    """folder of the anchored policy files, one per input file, same names"""


def validate(args: Args) -> tuple[list, dict]:
    """One-line errors before any generation or rollout: files that are not HypLatent policy files of an MDP parameter,
    and an --out-dir file that is one of the inputs; returns [(input path, policy file, output path)] and
    {HypLatent path: (checkpoint, collection)}, each generator and its collection loaded once."""
    if not args.policies:
        raise SystemExit(f"{WHO}: give generated policy files (hyplatent_train.py's <out>_generated/*.pt)")
    jobs, generators = [], {}
    for path in args.policies:
        data = load_policies(path, WHO)
        origin = data["origin"] if isinstance(data["origin"], dict) else {}
        if not {"hyplatent", "noise_seed", "noise_scale"} <= set(origin) or "conditioning_checkpoints" in origin:
            raise SystemExit(f"{WHO}: {path}: not a HypLatent policy file of an MDP parameter (its origin: {origin})")
        if origin["hyplatent"] not in generators:
            ckpt = load_artifact(origin["hyplatent"], "hyplatent", ("suite", "train_task_ids", "data"), who=WHO)
            collection = load_collection(ckpt["data"], WHO, f"--data (from {origin['hyplatent']})")
            generators[origin["hyplatent"]] = ckpt, collection
        jobs.append((path, data, os.path.join(args.out_dir, os.path.basename(path))))
    if len({out for _, _, out in jobs}) < len(jobs):
        raise SystemExit(f"{WHO}: {list(args.policies)}: two files of one name would write one file in --out-dir")
    inputs = (*args.policies, *generators, *(f for ckpt, _ in generators.values() for f in collection_files(ckpt["data"])))
    for _, _, out in jobs:
        check_output(WHO, "--out-dir", out, inputs)
    return jobs, generators


def main(args: Args) -> list:
    jobs, generators = validate(args)
    # --- the anchored parameters of every file first (generation only: a file its generator does not reproduce is
    # refused before any rollout) ---
    anchored = []
    for path, data, _ in jobs:
        origin = data["origin"]
        ckpt, collection = generators[origin["hyplatent"]]
        task, n = Task.from_dict(data["task"]), len(data["params"])

        def at(params: list) -> torch.Tensor:  # D(G(eps, c)) of the file's noise draws, at condition `params`
            return generate(ckpt, torch.tensor([params] * n), origin["noise_seed"], origin["noise_scale"],
                            origin.get("quality", 1.0))  # fmt: skip

        plain = at(list(task.params))
        if not torch.allclose(plain, data["params"], atol=1e-5):
            raise SystemExit(f"{WHO}: {path}: regenerating its policies from {origin['hyplatent']} gives other parameters")
        # the anchors: the nearest training task, or the two nearest with zeroshot_eval.py's inverse-distance weights
        near, w0 = two_nearest(ckpt["suite"], collection, ckpt["train_task_ids"], task.params[0])
        near, weights = (near[:1], [1.0]) if args.mode == "nearest" else (near, [w0, 1.0 - w0])
        params = plain.clone()
        for i, w in zip(near, weights):
            best = collection[i]["params"][collection[i]["returns"].argmax()]
            params += w * (best - at(list(collection[i]["task"]["params"])))
        anchored.append((task, ckpt, params, {**origin, "anchor": args.mode, "anchor_tasks": near, "anchor_weights": weights}))

    # --- their returns on the target (the file's episodes), and the policy files ---
    for (_, data, out), (task, ckpt, params, where) in zip(jobs, anchored):
        save_atomic(generated_policy_file(task, ckpt, params, data["episode_returns"].shape[1], where, args), out, WHO)
        print(f"{WHO}: {out}: anchored at {where['anchor_tasks']} (weights {[round(w, 3) for w in where['anchor_weights']]})",
              flush=True)  # fmt: skip
    return [out for _, _, out in jobs]


if __name__ == "__main__":
    main(tyro.cli(Args))
