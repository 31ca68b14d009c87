# GenHyper stage 2b (MetaWorld): the behaviour embedding tau_e that HypLatent is conditioned on (paper V-A,
# eq. 7; Make-An-Agent's embedding). phi embeds a checkpoint's trajectory (the first 60 steps: every 3rd
# state, every action), psi its post-success states (3 states from the first success step); a learned W
# scores every (trajectory, success states) pair of a batch, and a contrastive loss asks each trajectory to
# pick its own success states. tau_e = (h, v) = concat(phi, psi).
# Reads: a MetaWorld collection of sac_collect.py (the behaviour pieces stored with every checkpoint).
# Trains on the seen tasks' training checkpoints only; every --holdout-every-th checkpoint of a task is
# held out (from this stage, from HypLatent, and conditions the MTRL evaluation); unseen tasks are only
# ever queried. Writes: one .pt with phi, psi, W, the normalizer, the split, tau_e of every checkpoint of
# every task, and the held-out retrieval and task-identification figures (also as <out>_metrics.json).
#   python behavior_embed.py --data data/metaworld --out artifacts/embed.pt
import os
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import tyro
from torch.utils.tensorboard import SummaryWriter

from common import (
    check_args,
    check_memory,
    check_output,
    claim_output,
    collection_files,
    fingerprint,
    get_suite,
    load_collection,
    params_digest,
    pick_device,
    resume_training_state,
    save_atomic,
    save_training_state,
    task_index,
    write_json_atomic,
)

KIND = "behavior_embedding"
WHO = "behavior_embed"
PIECES = ("trajectory", "success_states")


@dataclass
class Args:
    data: str = "data/metaworld"
    """MetaWorld collection folder of sac_collect.py (seen and unseen tasks)"""
    out: str = "artifacts/embed.pt"
    """where the embedding (models, split, tau_e of every checkpoint) is written"""
    seen_task_ids: tuple[int | str, ...] = ()
    """seen tasks to train on, by id or name (empty: every collected seen task); the other collected ones are embedded
    as unseen tasks are (a fold that holds seen tasks out of the embedding and the generator alike)"""
    holdout_every: int = 5
    """every this-many-th checkpoint of each task is held out (from this stage and HypLatent; MTRL conditions on it)"""
    hidden: int = 1024
    """width of phi's two hidden layers (Make-An-Agent: 1024)"""
    psi_hidden: int = 256
    """width of psi's hidden layer (Make-An-Agent: 256)"""
    embed_dim: int = 128
    """output width of phi and of psi; tau_e has twice this"""
    epochs: int = 400
    """passes over the training pairs (Make-An-Agent: 400)"""
    batch_size: int = 16
    """pairs per contrastive batch: each trajectory picks its success states among this many (Make-An-Agent: 16)"""
    lr: float = 1e-4
    """AdamW learning rate"""
    weight_decay: float = 1e-4
    """AdamW weight decay"""
    restart_epochs: int = 10
    """epochs of the first cosine warm restart cycle (T_0)"""
    restart_mult: int = 2
    """each restart cycle is this many times longer than the last (T_mult)"""
    seed: int = 0
    """seed of initialization and batch order"""
    log_every: int = 50
    """epochs between progress lines"""
    state_every: int = 50
    """epochs between saves of the resume state (<out>.state.pt)"""
    runs_dir: str = "runs"
    """tensorboard log root"""
    cuda: bool = True
    """use CUDA when it is available (CleanRL's flag); artifacts are always written with CPU tensors"""
    torch_deterministic: bool = True
    """torch.backends.cudnn.deterministic (CleanRL's flag)"""


# ----------------------------------------------------------------------------------------------
# Models: phi (trajectory), psi (post-success states), the similarity W (eq. 7)
# ----------------------------------------------------------------------------------------------
class BehaviorEmbedding(nn.Module):
    """phi = MLP traj_dim-1024-1024-128 (ReLU); psi = states_dim-256 (LayerNorm, Tanh)-128; W 128x128, uniform [0, 1)."""

    def __init__(self, traj_dim: int, states_dim: int, hidden: int = 1024, psi_hidden: int = 256, embed_dim: int = 128):
        super().__init__()
        self.phi = nn.Sequential(
            nn.Linear(traj_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, embed_dim)
        )
        self.psi = nn.Sequential(nn.Linear(states_dim, psi_hidden), nn.LayerNorm(psi_hidden), nn.Tanh(),
                                 nn.Linear(psi_hidden, embed_dim))  # fmt: skip
        self.W = nn.Parameter(torch.rand(embed_dim, embed_dim))

    def logits(self, h: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """(B, B) scores h_i^T W v_j, each row shifted by its max (Make-An-Agent; softmax is unchanged by it)."""
        scores = h @ self.W @ v.T
        return scores - scores.max(dim=1, keepdim=True).values

    def tau_e(self, trajectory: torch.Tensor, success_states: torch.Tensor) -> torch.Tensor:
        """tau_e = (h, v) = concat(phi(trajectory), psi(success states)), (B, 2 * embed_dim)."""
        return torch.cat([self.phi(trajectory), self.psi(success_states)], dim=-1)


def contrastive_loss(logits: torch.Tensor) -> torch.Tensor:
    """Eq. (7): -1/N sum_i log of pair i's share of row i. The paper prints the ratio of raw scores h^T W v;
    like Make-An-Agent's code we take it over exp(scores) (InfoNCE), which is cross-entropy with the diagonal
    as labels, since raw bilinear scores can be negative."""
    return F.cross_entropy(logits, torch.arange(len(logits), device=logits.device))


class MinMax:
    """Min-max normalization of each feature to [-1, 1] (Make-An-Agent), fitted on training pairs; a feature
    constant there maps to 0."""

    def __init__(self, low: torch.Tensor, high: torch.Tensor):
        self.low, self.high = low, high

    @staticmethod
    def fit(x: torch.Tensor) -> "MinMax":
        return MinMax(x.min(0).values, x.max(0).values)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        span = self.high - self.low
        return torch.where(span > 1e-8, 2 * (x - self.low) / span.clamp_min(1e-8) - 1, torch.zeros_like(x))


# ----------------------------------------------------------------------------------------------
# Inputs: every argument, the collection and the outputs checked before any training
# ----------------------------------------------------------------------------------------------
def split(num: int, holdout_every: int) -> tuple[list, list]:
    """(training, held-out) checkpoint indices of a task: every holdout_every-th one (1-based) is held out."""
    held = [j for j in range(num) if (j + 1) % holdout_every == 0]
    return [j for j in range(num) if j not in held], held


def outputs_of(args: Args) -> dict:
    return {"embedding": args.out, "state": f"{args.out}.state.pt", "metrics": f"{os.path.splitext(args.out)[0]}_metrics.json"}


def validate(args: Args) -> tuple[dict, list]:
    """One-line errors for bad arguments, a collection the embedding cannot use, and unusable outputs; returns the
    collection and the seen tasks the embedding trains on."""
    check_args(
        WHO,
        args,
        at_least={**dict.fromkeys(("hidden", "psi_hidden", "embed_dim", "epochs", "restart_epochs", "restart_mult"), 1),
                  **dict.fromkeys(("log_every", "state_every"), 1), "holdout_every": 2, "batch_size": 2},
        positive=("lr",),
        non_negative=("weight_decay",),
    )  # fmt: skip
    collection = load_collection(args.data, WHO)
    suites = {c["task"]["suite"] for c in collection.values()}
    if suites != {"metaworld"}:
        raise SystemExit(f"{WHO}: --data {args.data}: holds {sorted(suites)} tasks, expected metaworld only")
    suite = get_suite("metaworld")
    for i, c in collection.items():
        if any(name not in c for name in PIECES):
            raise SystemExit(f"{WHO}: --data {args.data}: task_{i:02d}.pt has no behaviour pieces (collect it with this code)")
        if i in suite.train_ids and len(c["params"]) < args.holdout_every:
            raise SystemExit(
                f"{WHO}: --holdout-every {args.holdout_every}: seen task {i} has only {len(c['params'])} checkpoints, "
                "so none would be held out"
            )
    seen = [i for i in sorted(collection) if i in suite.train_ids]
    if not seen:
        raise SystemExit(f"{WHO}: --data {args.data}: no seen task (ids {list(suite.train_ids)}) to train on")
    asked = sorted(task_index("metaworld", i, "--seen-task-ids") for i in args.seen_task_ids)
    for i in asked:
        if i not in seen:
            raise SystemExit(f"{WHO}: --seen-task-ids {i}: not a collected seen task of {args.data} ({seen})")
    seen = asked or seen
    inputs = collection_files(args.data)
    for name, path in outputs_of(args).items():
        check_output(WHO, f"--out ({name})", path, inputs)
    some = next(iter(collection.values()))  # the networks' weights, with their gradients and Adam's two moments
    traj, states = some["trajectory"].shape[-1], some["success_states"].shape[-1]
    h, p, e = args.hidden, args.psi_hidden, args.embed_dim
    check_memory(WHO, "--hidden", h, 16 * (traj * h + h * h + h * e + states * p + p * e + e * e))
    claim_output(WHO, "--out", args.out)
    return collection, seen


# ----------------------------------------------------------------------------------------------
# Training: eq. (7) on the seen tasks' training checkpoints, every goal's episode a pair
# ----------------------------------------------------------------------------------------------
def pairs(collection: dict, rows: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(trajectories, success states, task of each pair) of the given checkpoints {task: [index, ...]}, all goals."""
    traj = [collection[i]["trajectory"][rows[i]].flatten(0, 1) for i in rows]  # (checkpoints * goals, traj_dim)
    states = [collection[i]["success_states"][rows[i]].flatten(0, 1) for i in rows]
    task = [torch.full((len(t),), i) for i, t in zip(rows, traj)]
    return torch.cat(traj).float(), torch.cat(states).float(), torch.cat(task)


def train(args: Args, collection: dict, splits: dict, seen: list) -> tuple[BehaviorEmbedding, MinMax, MinMax, dict]:
    traj, states, _ = pairs(collection, {i: splits[i][0] for i in seen})
    norm_traj, norm_states = MinMax.fit(traj), MinMax.fit(states)
    torch.manual_seed(args.seed)
    model_args = {"traj_dim": traj.shape[1], "states_dim": states.shape[1], "hidden": args.hidden,
                  "psi_hidden": args.psi_hidden, "embed_dim": args.embed_dim}  # fmt: skip
    model = BehaviorEmbedding(**model_args)
    device = pick_device(args.cuda, args.torch_deterministic)
    model.to(device)
    x, y = norm_traj(traj).to(device), norm_states(states).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay, fused=True)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
        optimizer, T_0=args.restart_epochs, T_mult=args.restart_mult
    )
    stateful = {"model": model, "optimizer": optimizer, "scheduler": scheduler}
    state_path = outputs_of(args)["state"]
    inputs = fingerprint(collection_files(args.data))
    state = resume_training_state(state_path, args, stateful, inputs, WHO)
    start, run_name = (
        (state["step"], state["run_name"]) if state else (0, f"metaworld__behavior_embed__{args.seed}__{time.time_ns()}")
    )
    writer = SummaryWriter(os.path.join(args.runs_dir, run_name), purge_step=start or None)
    print(f"{WHO}: {len(seen)} seen tasks, {len(x)} training pairs, batch {args.batch_size}")
    gen = torch.Generator().manual_seed(args.seed)
    for _ in range(start):  # the batch order of a resumed run continues where it stopped
        torch.randperm(len(x), generator=gen)
    t0 = time.time()
    for epoch in range(start + 1, args.epochs + 1):
        order = torch.randperm(len(x), generator=gen).to(device)
        losses, batches = [], [order[b : b + args.batch_size] for b in range(0, len(x), args.batch_size)]
        for b, idx in enumerate(b for b in batches if len(b) >= 2):  # a lone pair has nothing to be told apart from
            # --- ALGO: eq. (7), each trajectory's own success states among the batch's ---
            loss = contrastive_loss(model.logits(model.phi(x[idx]), model.psi(y[idx])))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step(epoch - 1 + b / len(batches))  # warm restarts on a fractional epoch (PyTorch's recipe)
            losses.append(loss.item())
        writer.add_scalar("losses/contrastive", np.mean(losses), epoch)
        if epoch % args.state_every == 0 and epoch < args.epochs:
            save_training_state(state_path, args, epoch, stateful, inputs, WHO, run_name=run_name)
        if epoch % args.log_every == 0 or epoch == args.epochs:
            eps = (epoch - start) / (time.time() - t0)
            print(f"epoch {epoch}/{args.epochs} | loss {np.mean(losses):.4f} | {eps:.1f} epochs/s | "
                  f"ETA {(args.epochs - epoch) / eps / 60:.1f} min", flush=True)  # fmt: skip
    writer.close()
    if os.path.exists(state_path):
        os.remove(state_path)
    return model.cpu().eval(), norm_traj, norm_states, model_args


# ----------------------------------------------------------------------------------------------
# Evaluation on held-out checkpoints: retrieval (trajectory -> its own success states) and task identification
# ----------------------------------------------------------------------------------------------
@torch.no_grad()
def embed(model: BehaviorEmbedding, norm_traj: MinMax, norm_states: MinMax, data: dict) -> torch.Tensor:
    """tau_e (N, 2 * embed_dim) of a task's checkpoints: the mean over its goals' episodes."""
    traj, states = data["trajectory"].float(), data["success_states"].float()  # (N, goals, dim)
    return model.tau_e(norm_traj(traj), norm_states(states)).mean(1)


@torch.no_grad()
def judge(model, norm_traj, norm_states, collection: dict, splits: dict, tau: dict, seen: list, unseen: list) -> dict:
    """Per task and overall, each with its chance level:
    retrieval: a held-out trajectory's highest-scoring success states (among all held-out seen pairs) are its own;
    task id (seen): the training checkpoint nearest in tau_e (Euclidean) is of the same task;
    task id (unseen, leave one out): the nearest other unseen checkpoint is of the same task."""
    traj, states, task = pairs(collection, {i: splits[i][1] for i in seen})
    hits = model.logits(model.phi(norm_traj(traj)), model.psi(norm_states(states))).argmax(1) == torch.arange(len(traj))
    train_tau = torch.cat([tau[i][splits[i][0]] for i in seen])
    train_task = torch.cat([torch.full((len(splits[i][0]),), i) for i in seen])
    metrics = {"retrieval_chance": 1 / len(traj), "task_id_chance": 1 / len(seen), "per_task": {}}
    for i in seen:
        nearest = torch.cdist(tau[i][splits[i][1]], train_tau).argmin(1)
        metrics["per_task"][i] = {"retrieval": hits[task == i].float().mean().item(),
                                  "task_id": (train_task[nearest] == i).float().mean().item()}  # fmt: skip
    metrics["retrieval"] = hits.float().mean().item()
    metrics["task_id"] = float(np.mean([metrics["per_task"][i]["task_id"] for i in seen]))
    if len(unseen) >= 2:
        all_tau = torch.cat([tau[i] for i in unseen])
        all_task = torch.cat([torch.full((len(tau[i]),), i) for i in unseen])
        d = torch.cdist(all_tau, all_tau).fill_diagonal_(float("inf"))
        correct = all_task[d.argmin(1)] == all_task
        for i in unseen:
            metrics["per_task"][i] = {"task_id": correct[all_task == i].float().mean().item()}
        metrics["unseen_task_id"] = float(np.mean([metrics["per_task"][i]["task_id"] for i in unseen]))
        metrics["unseen_task_id_chance"] = 1 / len(unseen)
    return metrics


def report(metrics: dict, collection: dict, seen: list, unseen: list) -> str:
    lines = ["| task | name | held-out retrieval | task id (nearest neighbour) |", "|---|---|---|---|"]
    for i in seen + unseen:
        m = metrics["per_task"].get(i, {})  # a single unseen task has no other unseen task to be told apart from
        retrieval = f"{m['retrieval']:.2f}" if "retrieval" in m else "– (unseen)"
        task_id = f"{m['task_id']:.2f}" if "task_id" in m else "– (one unseen task)"
        lines.append(f"| {i} | {collection[i]['task']['name']} | {retrieval} | {task_id} |")
    lines.append(f"| **seen** | | **{metrics['retrieval']:.2f}** (chance {metrics['retrieval_chance']:.3f}) | "
                 f"**{metrics['task_id']:.2f}** (chance {metrics['task_id_chance']:.3f}) |")  # fmt: skip
    if "unseen_task_id" in metrics:
        lines.append(f"| **unseen** | | | **{metrics['unseen_task_id']:.2f}** (chance {metrics['unseen_task_id_chance']:.3f},"
                     " leave one out among unseen) |")  # fmt: skip
    return "\n".join(lines)


def main(args: Args) -> dict:
    # --- load and validate inputs and outputs (one-line errors, nothing trained yet) ---
    collection, seen = validate(args)
    unseen = [i for i in sorted(collection) if i not in seen]
    splits = {i: split(len(collection[i]["params"]), args.holdout_every) for i in collection}

    # --- ALGO: train phi, psi, W with eq. (7) on the seen tasks' training checkpoints ---
    model, norm_traj, norm_states, model_args = train(args, collection, splits, seen)

    # --- tau_e of every checkpoint of every task; held-out retrieval and task identification ---
    tau = {i: embed(model, norm_traj, norm_states, collection[i]) for i in collection}
    metrics = judge(model, norm_traj, norm_states, collection, splits, tau, seen, unseen)
    metrics["markdown"] = report(metrics, collection, seen, unseen)
    print(f"\nbehaviour embedding on held-out checkpoints (--holdout-every {args.holdout_every}):\n{metrics['markdown']}")

    # --- save: one self-describing file, atomically ---
    files = outputs_of(args)
    ckpt = {
        "kind": KIND,
        "version": 1,
        "model_args": model_args,
        "state_dict": model.state_dict(),
        "normalizer": {"trajectory": [norm_traj.low, norm_traj.high], "success_states": [norm_states.low, norm_states.high]},
        "data": os.path.abspath(args.data),
        "params_digest": params_digest([collection[i]["params"] for i in sorted(collection)]),
        "task_ids": sorted(collection),
        "seen_ids": seen,
        "tau_e": {i: tau[i] for i in collection},  # (N, 2 * embed_dim) per task, checkpoint order of its file
        "train": {i: splits[i][0] for i in collection},
        "holdout": {i: splits[i][1] for i in collection},
        "metrics": {k: v for k, v in metrics.items() if k != "markdown"},
        "step": args.epochs,
        "args": vars(args),
    }
    save_atomic(ckpt, files["embedding"], WHO)
    write_json_atomic(files["metrics"], metrics, WHO)
    print(f"{WHO}: wrote {files['embedding']} and {files['metrics']}")
    return ckpt


if __name__ == "__main__":
    main(tyro.cli(Args))
