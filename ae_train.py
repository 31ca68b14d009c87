# GenHyper stage 2: parameter autoencoder (paper IV-A, eq. 1; Make-An-Agent's encoder).
# Compresses each flat actor vector into two latent tokens (first layer | rest) that HypLatent learns
# to generate. Judged where it matters: decoded policies are evaluated against the originals.
# Reads: the per-task files of sac_collect.py (training tasks only).  Writes: one .pt with the
# autoencoder, its min-max normalizer, the actor layout and the latents of every training checkpoint.
#   python ae_train.py --data data/cheetah-vel --out artifacts/ae.pt
import os
import time
from dataclasses import dataclass

import numpy as np
import torch
import tyro
from torch.utils.tensorboard import SummaryWriter

from common import (
    Actor,
    ParamAutoencoder,
    Task,
    check_args,
    check_memory,
    check_output,
    claim_output,
    collection_files,
    evaluate,
    fingerprint,
    get_suite,
    get_task,
    load_collection,
    load_flat_params,
    params_digest,
    pick_device,
    resume_training_state,
    save_atomic,
    save_training_state,
    task_index,
)

KIND = "autoencoder"
WHO = "ae_train"


@dataclass
class Args:
    data: str = "data/cheetah-vel"
    """folder of per-task .pt files from sac_collect.py"""
    out: str = "artifacts/ae.pt"
    """where the trained autoencoder is written"""
    train_task_ids: tuple[int | str, ...] = ()
    """training tasks to encode (empty: every training task in --data); test tasks are refused"""
    latent_dim: int = 1024
    """width of each of the two latent tokens"""
    input_noise: float = 0.001
    """noise augmentation on the normalized parameters: x <- randn*f + x*(1-f)"""
    latent_noise: float = 0.01
    """noise augmentation on the latent, same form"""
    steps: int = 3000
    """gradient steps"""
    batch_size: int = 128
    """checkpoints per step"""
    lr: float = 1e-3
    """AdamW learning rate"""
    weight_decay: float = 5e-3
    """AdamW weight decay"""
    seed: int = 0
    """seed of initialization, batches and noise"""
    eval_episodes: int = 3
    """deterministic episodes per task scoring the best checkpoint and its reconstruction"""
    log_every: int = 250
    """steps between progress lines"""
    state_every: int = 500
    """steps between saves of the resume state (<out>.state.pt)"""
    runs_dir: str = "runs"
    """tensorboard log root"""
    cuda: bool = True
    """use CUDA when it is available (CleanRL's flag); artifacts are always written with CPU tensors"""
    torch_deterministic: bool = True
    """torch.backends.cudnn.deterministic (CleanRL's flag)"""


def chunk_sizes_of(layout: list) -> list:
    """(first layer | rest): Make-An-Agent's two chunks, from the actor layout."""
    sizes = [int(np.prod(shape)) for _, shape in layout]
    return [sizes[0] + sizes[1], sum(sizes[2:])]  # fc1.weight + fc1.bias | everything after


def select_train_tasks(collection: dict, requested: tuple, suite_name: str) -> list:
    """Training task ids to use: refuses test tasks and tasks missing from the collection."""
    suite = get_suite(suite_name)
    ids = [task_index(suite_name, i, "--train-task-ids") for i in requested]
    ids = ids or [i for i in sorted(collection) if i not in suite.test_ids]
    for i in ids:
        if i in suite.test_ids:
            raise SystemExit(f"{WHO}: --train-task-ids {i}: is a test task of {suite_name}, it may not enter training")
        if i not in collection:
            raise SystemExit(f"{WHO}: --train-task-ids {i}: not collected in --data (have {sorted(collection)})")
    if not ids:
        raise SystemExit(f"{WHO}: --data: holds no training task of {suite_name}")
    return ids


def validate(args: Args) -> dict:
    """One-line errors for bad arguments, an unusable --out and bad inputs, before any training; returns the
    checked collection (finite parameters and returns, one suite and layout, files named for their task)."""
    check_args(
        WHO,
        args,
        at_least=dict.fromkeys(("latent_dim", "steps", "batch_size", "eval_episodes", "log_every", "state_every"), 1),
        positive=("lr",),
        non_negative=("weight_decay",),
        unit=("input_noise", "latent_noise"),
    )
    inputs = collection_files(args.data)
    check_output(WHO, "--out", args.out, inputs)
    check_output(WHO, "--out", f"{args.out}.state.pt", inputs)
    collection = load_collection(args.data, WHO)
    num_params = next(iter(collection.values()))["params"].shape[1]  # the model: a linear map each way per token
    check_memory(WHO, "--latent-dim", args.latent_dim, 16 * 2 * args.latent_dim * num_params)  # + grads, Adam's 2
    check_memory(WHO, "--batch-size", args.batch_size, 16 * args.batch_size * (num_params + 2 * args.latent_dim))
    claim_output(WHO, "--out", args.out)
    return collection


def main(args: Args) -> dict:
    # --- load and validate inputs (clear errors, nothing trained yet) ---
    collection = validate(args)
    first = next(iter(collection.values()))
    suite_name = first["task"]["suite"]
    task_ids = select_train_tasks(collection, args.train_task_ids, suite_name)
    inputs = fingerprint(os.path.join(args.data, f"task_{i:02d}.pt") for i in task_ids)
    params = torch.cat([collection[i]["params"] for i in task_ids])  # (M, P) every kept checkpoint
    task_of_row = torch.cat([torch.full((len(collection[i]["params"]),), i) for i in task_ids])
    torch.manual_seed(args.seed)

    model = ParamAutoencoder(chunk_sizes_of(first["layout"]), args.latent_dim, args.input_noise, args.latent_noise)
    model.x_min.copy_(params.min(0).values)
    model.x_max.copy_(params.max(0).values)
    device = pick_device(args.cuda, args.torch_deterministic)
    model.to(device)
    x = model.normalize(params.to(device))
    # fused: one pass over the weights per update instead of one per elementwise op (same update to ~1e-7; the
    # autoencoder's 2 x P x 1024 weights (42-46M) made the unfused update ~half a CPU step, benchmarks/stage_throughput.py)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay, fused=True)
    print(f"{WHO}: {len(task_ids)} tasks, {len(x)} checkpoints of {x.shape[1]} parameters, chunks {model.chunk_sizes}")
    state_path = f"{args.out}.state.pt"
    state = resume_training_state(state_path, args, {"model": model, "optimizer": optimizer}, inputs, WHO)
    start_step, run_name = (
        (state["step"], state["run_name"]) if state else (0, f"{suite_name}__ae_train__{args.seed}__{time.time_ns()}")
    )
    writer = SummaryWriter(os.path.join(args.runs_dir, run_name), purge_step=start_step or None)

    # --- ALGO: eq. (1), reconstruction MSE in normalized parameter space, with noise augmentation ---
    start = time.time()
    for step in range(start_step + 1, args.steps + 1):
        batch = x[torch.randint(0, len(x), (args.batch_size,)).to(device)]
        loss = ((model(batch) - batch) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 10 == 0:
            writer.add_scalar("losses/recon_mse", loss.item(), step)
        if step % args.state_every == 0 and step < args.steps:
            save_training_state(
                state_path, args, step, {"model": model, "optimizer": optimizer}, inputs, WHO, run_name=run_name
            )
        if step % args.log_every == 0 or step == args.steps:
            sps = (step - start_step) / (time.time() - start)
            print(
                f"step {step}/{args.steps} | mse {loss.item():.2e} | {sps:.1f} steps/s | "
                f"ETA {(args.steps - step) / sps / 60:.1f} min",
                flush=True,
            )

    # --- evaluate where it matters: each task's best checkpoint, original vs decoded, same episodes ---
    model.eval()
    with torch.no_grad():
        latents = torch.cat([model.encode(b) for b in x.split(512)])  # (M, 2, latent_dim), no noise
        recon_mse = torch.cat([((model.decode(z) - b) ** 2).mean(1) for z, b in zip(latents.split(512), x.split(512))])
        best = torch.stack([collection[i]["params"][collection[i]["returns"].argmax()] for i in task_ids])  # (T, P)
        decoded = model.denormalize(model(model.normalize(best.to(device)))).cpu()
    model.cpu()  # artifacts hold CPU tensors
    latents, recon_mse = latents.cpu(), recon_mse.cpu()
    tasks = [Task.from_dict(collection[i]["task"]) for i in task_ids]  # MetaWorld: with the goals it was collected on
    actor_args = first["actor_args"]
    eval_seed = first["eval_seed"]
    episodes = len(tasks[0].goals) or args.eval_episodes  # MetaWorld: one episode per goal
    original = evaluate(load_flat_params(Actor(**actor_args, num_tasks=len(tasks)), best), tasks, episodes, eval_seed)
    recon = evaluate(load_flat_params(Actor(**actor_args, num_tasks=len(tasks)), decoded), tasks, episodes, eval_seed)
    print(f"\nreconstruction MSE (normalized, all {len(x)} checkpoints): {recon_mse.mean():.2e}")
    print("| task | condition | best checkpoint return | decoded return |\n|---|---|---|---|")
    for k, t in enumerate(tasks):
        condition = f"{t.params[0]:.3f}" if t.params else t.name
        print(f"| {t.index} | {condition} | {original[k].mean():.1f} | {recon[k].mean():.1f} |")
    print(f"| mean | | {original.mean():.1f} | {recon.mean():.1f} |")
    writer.add_scalar("eval/original_return", original.mean(), args.steps)
    writer.add_scalar("eval/decoded_return", recon.mean(), args.steps)
    writer.close()

    # --- save: weights + constructor args (normalizer inside) + latents + vars(args), atomically ---
    artifact = {
        "kind": KIND,
        "version": 1,
        "suite": suite_name,
        "train_task_ids": task_ids,
        "model_args": {
            "chunk_sizes": model.chunk_sizes,
            "latent_dim": args.latent_dim,
            "input_noise": args.input_noise,
            "latent_noise": args.latent_noise,
        },
        "state_dict": model.state_dict(),
        "actor_args": actor_args,
        "layout": first["layout"],
        "latents": latents,
        "task_index": task_of_row,
        "task_params": torch.tensor([get_task(suite_name, int(i)).params for i in task_of_row]),
        "returns": torch.cat([collection[i]["returns"] for i in task_ids]),
        "eval": {
            "recon_mse": recon_mse.mean().item(),
            "original_return": original.mean(1).tolist(),
            "decoded_return": recon.mean(1).tolist(),
        },
        "eval_seed": eval_seed,
        "data": os.path.abspath(args.data),
        "params_digest": params_digest([collection[i]["params"] for i in task_ids]),
        "args": vars(args),
    }
    save_atomic(artifact, args.out, WHO)
    if os.path.exists(state_path):
        os.remove(state_path)
    print(f"{WHO}: wrote {args.out}")
    return artifact


if __name__ == "__main__":
    main(tyro.cli(Args))
