# Door-open behaviour clone (docs/experiments/door-open.md): MetaWorld's scripted door-open policy regressed into the
# SAC actor, starting from another task's expert (without --init: from a fresh seeded actor, so no collection is
# needed), and written as a policy file, so that sac_collect.py --init-from can start SAC from a policy that already
# opens the door. Rollouts: the scripted policy on every goal, its actions executed with Gaussian noise (so the states
# cover small mistakes), labelled with its clean actions.
#   python experiments/door_open_clone.py --init data/metaworld/task_02.pt --out door_open_clone.pt
import os
import sys
from dataclasses import dataclass

import metaworld.policies
import numpy as np
import torch
import tyro

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # common.py, at the top level
from common import (  # noqa: E402
    Actor,
    actor_layout,
    check_args,
    check_output,
    evaluate,
    flatten_params,
    get_task,
    load_flat_params,
    load_start_policy,
    make_env,
    policy_file,
    save_atomic,
)

WHO = "door_open_clone"


@dataclass
class Args:
    init: str = ""
    """policy file whose best policy the clone starts from (a MetaWorld expert: drawer-open's in the record's first
    probes); empty: a fresh actor of --hidden units seeded by --seed"""
    hidden: int = 128
    """hidden units of the fresh actor (without --init)"""
    out: str = "artifacts/door_open_clone.pt"
    """where the clone is written (a policy file of one policy for door-open)"""
    episodes: int = 10
    """scripted rollouts, cycling the task's goals"""
    action_noise: float = 0.1
    """std of the noise on the executed scripted actions (the labels stay clean)"""
    steps: int = 6000
    """regression steps"""
    batch_size: int = 256
    """(state, action) pairs per step"""
    lr: float = 1e-3
    """Adam learning rate"""
    seed: int = 0
    """seed of the noise, the batches and the rollouts"""


def main(args: Args) -> dict:
    check_args(WHO, args, at_least={"episodes": 1, "steps": 1, "batch_size": 1, "seed": 0, "hidden": 1}, positive=("lr",),
               non_negative=("action_noise",))  # fmt: skip
    task = get_task("metaworld", "door-open")
    if args.init:
        source, index = load_start_policy(args.init, -1, "metaworld", WHO, "--init", "--init")
    check_output(WHO, "--out", args.out, (args.init,) if args.init else ())
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    scripted, env = metaworld.policies.SawyerDoorOpenV3Policy(), make_env(task)
    if args.init:
        actor_args, eval_seed = source["actor_args"], source["eval_seed"]
        actor = load_flat_params(Actor(**actor_args), source["params"][index])
    else:  # the collector's actor for this task, and its evaluation seed
        space = env.action_space
        actor_args = {"obs_dim": env.observation_space.shape[0], "act_dim": space.shape[0],
                      "hidden": args.hidden, "action_low": space.low.tolist(), "action_high": space.high.tolist()}  # fmt: skip
        actor, eval_seed, index = Actor(**actor_args), 10_000, -1
    states, labels = [], []
    for ep in range(args.episodes):
        obs, _ = env.reset(options={"goal": ep % len(task.goals)})
        done = False
        while not done:
            action = scripted.get_action(obs)
            states.append(obs.copy())
            labels.append(action)
            noisy = np.clip(action + args.action_noise * rng.standard_normal(action.shape), -1, 1)
            obs, _, terminated, truncated, _ = env.step(noisy)
            done = terminated or truncated
    env.close()
    x, y = torch.tensor(np.array(states), dtype=torch.float32), torch.tensor(np.array(labels), dtype=torch.float32)
    optimizer = torch.optim.Adam(actor.parameters(), lr=args.lr)
    for step in range(1, args.steps + 1):  # the deterministic action tanh(mean) regressed onto the scripted one
        idx = torch.randint(0, len(x), (args.batch_size,))
        loss = ((actor.act(x[idx]) - y[idx]) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 1000 == 0:
            print(f"{WHO}: step {step}/{args.steps} | MSE {loss.item():.4f}", flush=True)
    result = evaluate(actor, [task], len(task.goals), eval_seed, behavior=True)
    print(f"{WHO}: success per goal {result['success'][0].tolist()}, returns {np.round(result['returns'][0], 1).tolist()}")
    origin = {"stage": WHO, "init": os.path.abspath(args.init) if args.init else "", "init_index": index, "pairs": len(x),
              "seed": args.seed}  # fmt: skip
    save_atomic(policy_file(task, actor_args, actor_layout(actor), flatten_params(actor)[None], result["returns"],
                            eval_seed, origin, args), args.out, WHO)  # fmt: skip
    return {"success": result["success"][0].tolist(), "returns": result["returns"][0].tolist()}


if __name__ == "__main__":
    main(tyro.cli(Args))
