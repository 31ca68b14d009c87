# GenHyper stage 3: HypLatent, a conditional GAN in the autoencoder's latent space (paper IV-A,
# eqs. 2-4, Algorithm 1), and its zero-shot evaluation on held-out tasks (paper VII-A, Table I).
# The generator maps (noise, MDP parameters) to a latent policy; the decoder of stage 2, trained on
# with the generator through the parameter-space reconstruction of eq. (2), turns it into an actor.
# Reads: the autoencoder of ae_train.py, the collection folder (paired experts, baselines).
# MetaWorld (paper V, VII-C): conditioned on the behaviour embedding tau_e of behavior_embed.py instead
# (--condition behavior), trained on the seen tasks' training checkpoints, judged by the MTRL table.
# Writes: one .pt from which a policy for any task parameter (or tau_e) can be generated; the zero-shot
# table as <out>_zeroshot.json (MetaWorld: the MTRL table, <out>_mtrl.json); the generated policies of
# each evaluated task as policy files <out>_generated/task_XX.pt (the format finetune_tdreg.py starts from).
#   python hyplatent_train.py --ae artifacts/ae.pt --out artifacts/hyplatent.pt
#   python hyplatent_train.py --out artifacts/hyplatent.pt --eval-only      # table of a saved checkpoint
#   python hyplatent_train.py --ae artifacts/ae_mw.pt --condition behavior --embedding artifacts/embed.pt
import math
import os
import time
from dataclasses import dataclass
from typing import Literal

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import tyro
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.tensorboard import SummaryWriter

from common import (
    Actor,
    Generator,
    ParamAutoencoder,
    Task,
    check_args,
    check_finite,
    check_memory,
    check_output,
    claim_output,
    close_envs,
    collection_files,
    embedding_rows,
    evaluate,
    fingerprint,
    generated_policy_file,
    get_suite,
    get_task,
    load_artifact,
    load_collection,
    load_flat_params,
    make_env,
    mtrl_conditions,
    params_digest,
    pick_device,
    resume_training_state,
    save_atomic,
    save_training_state,
    score_policies,
    target_name,
    task_at,
    task_index,
    write_json_atomic,
)

KIND = "hyplatent"
WHO = "hyplatent_train"


@dataclass
class Args:
    ae: str = "artifacts/ae.pt"
    """autoencoder from ae_train.py (its latents are the real samples)"""
    out: str = "artifacts/hyplatent.pt"
    """where the HypLatent checkpoint is written (and, with --eval-only, read)"""
    data: str = ""
    """collection folder of the paired experts and baselines (empty: the one the autoencoder was trained on)"""
    train_task_ids: tuple[int | str, ...] = ()
    """subset of the autoencoder's training tasks to train on (empty: all); the paper's ablations"""
    best_checkpoints: int = 0
    """train on each task's N checkpoints of highest recorded return (0: all of them, the paper)"""
    condition: Literal["raw", "cossin", "behavior"] = "raw"
    """condition: raw MDP parameters (paper), (cos, sin) of an Ant-Dir direction, or MetaWorld's tau_e (--embedding)"""
    embedding: str = ""
    """behaviour embedding of behavior_embed.py (--condition behavior): tau_e of every checkpoint and the split"""
    noise_dim: int | None = None
    """noise dimension (default: the paper's, 4 for MuJoCo, 128 with --condition behavior)"""
    generator_widths: tuple[int, ...] = (2048, 1024, 512, 256)
    """widths of the generator's U-Net, outermost first (AMT-Hyp's recipe); it mirrors them back up"""
    iterations: int = 2000
    """training iterations, each one discriminator step and --g-steps generator steps"""
    g_steps: int = 2
    """generator steps per discriminator step"""
    batch_size: int = 128
    """latents per step"""
    lr: float = 2e-4
    """Adam learning rate of all networks"""
    real_label: float = 0.9
    """one-sided label smoothing: the discriminator's target for real latents"""
    lambda_recon: float = 1e3
    """weight of the reconstruction term of eq. (2)"""
    recon: Literal["param", "latent"] = "param"
    """reconstruct the paired expert's parameters through the decoder (paper, eq. 2) or its latent (AMT-Hyp)"""
    train_decoder: bool = True
    """train the decoder with the generator through eq. (2) (paper; --recon param only); off: keep the autoencoder's"""
    train_encoder: bool = False
    """move the encoder with the discriminator (paper IV-A), held to eq. (1); off: the autoencoder's latents stay fixed"""
    lambda_reg: float = 1.0
    """weight of the auxiliary condition reconstruction of eq. (4)"""
    projection_discriminator: bool = False
    """the real/fake logit also sees the condition (projection discriminator, not in the paper; measured in
    docs/experiments/cheetah-vel-15.md): it judges (latent, condition) pairs, so a latent of another task's cluster is
    fake; off: latents alone (the paper)"""
    condition_noise: float = 0.0
    """std of Gaussian noise on the generator's training condition, per dimension in units of the training conditions'
    std (0: none, the paper); the targets stay the clean pair's (docs/experiments/metaworld-generators.md)"""
    quality_condition: bool = False
    """condition also on each checkpoint's quality, the rank of its return among its task's checkpoints scaled to
    [0, 1] (1: the task's best; a rank, so comparable across tasks), and generate at --ask-quality (not in the paper:
    every checkpoint of a task shares one MDP parameter, so eq. (2) alone pulls toward their average)"""
    ask_quality: float = 1.0
    """the quality a --quality-condition generator is asked for when it generates (1: its task's best checkpoint)"""
    lambda_behavior: float = 0.0
    """weight of a behaviour term added to eq. (2): the squared gap between the decoded policy's deterministic actions
    and its paired expert's, on states of its task's best checkpoint's rollouts (not in the paper; 0: off)"""
    behavior_episodes: int = 2
    """with --lambda-behavior: deterministic episodes of each training task's best checkpoint whose states it uses"""
    behavior_states: int = 64
    """with --lambda-behavior: states per latent and generator step, drawn from its task's rollouts"""
    ema_decay: float = 0.0
    """decay of an exponential moving average of the generator's (and trained decoder's) weights, saved in place of
    the last iterate (not in the paper; docs/experiments/cheetah-vel-15.md); 0: the last iterate, as the paper"""
    bf16: bool = False
    """forward passes of training in bfloat16 where torch.autocast allows (losses, weights and Adam stay float32; not in
    the paper): about 2x faster iterations on a CPU with AVX-512 BF16 or AMX, slower on one without; generation and
    evaluation stay float32"""
    seed: int | None = None
    """seed of initialization, batches and noise (default 0; with --eval-only, the checkpoint's own, so that its table is
    reproduced)"""
    eval_only: bool = False
    """skip training: evaluate the checkpoint at --out"""
    test_task_ids: tuple[int | str, ...] = ()
    """held-out tasks to evaluate (empty: the suite's test tasks, unless --params)"""
    params: tuple[str, ...] = ()
    """evaluate at these MDP parameter values instead of tasks, e.g. 1.3 2.7 (velocities) or directions in radians"""
    table: str = ""
    """where the evaluation's JSON table goes, its policies beside it in <table>_generated/ (empty: <out>_zeroshot.json,
    <out>_zeroshot_params.json with --params; policies in <out>_generated/)"""
    noise_scale: float = 1.0
    """std of the noise the evaluated policies are drawn with (1: the training noise, the paper; < 1: truncated, the
    truncation trick, measured in docs/experiments/cheetah-vel-15.md)"""
    eval_samples: int = 5
    """generated policies (noise samples) per test task; MTRL (metaworld): per task, each on a held-out tau_e (paper: 100)"""
    eval_episodes: int = 5
    """deterministic episodes per policy, reset seeds eval_seed + e (paper: 5 seeds)"""
    ci: float = 0.95
    """coverage of the bootstrap confidence intervals on every zero-shot mean"""
    ci_reps: int = 5000
    """bootstrap resamples per interval"""
    log_every: int = 250
    """iterations between progress lines"""
    state_every: int = 250
    """iterations between saves of the resume state (<out>.state.pt)"""
    runs_dir: str = "runs"
    """tensorboard log root"""
    cuda: bool = True
    """use CUDA when it is available (CleanRL's flag); artifacts are always written with CPU tensors"""
    torch_deterministic: bool = True
    """torch.backends.cudnn.deterministic (CleanRL's flag)"""


# ----------------------------------------------------------------------------------------------
# Models: generator G(noise, M), discriminator F with its auxiliary head Q (eqs. 2-4)
# ----------------------------------------------------------------------------------------------
class Discriminator(nn.Module):
    """3-layer MLP (in -> 1024 -> 1024 -> 512) with a real/fake logit head and the auxiliary
    head Q (2 layers) that reconstructs the condition from the discriminator's features (eq. 4).
    With `projection` (departs from the paper, whose F sees the latent alone): the logit gains <embed(M), features(Z)>
    (Miyato & Koyama's projection discriminator, with an MLP embedding for a continuous condition), so F judges the
    pair (Z, M) and eq. (2)'s adversarial term asks for each condition's latents, not any task's."""

    def __init__(self, in_dim: int, cond_dim: int, projection: bool = False):
        super().__init__()
        self.features = nn.Sequential(
            nn.Linear(in_dim, 1024),
            nn.LeakyReLU(0.2),
            nn.Linear(1024, 1024),
            nn.LeakyReLU(0.2),
            nn.Linear(1024, 512),
            nn.LeakyReLU(0.2),
        )
        self.head = nn.Linear(512, 1)  # logit; sigmoid lives in the BCE loss
        self.aux_head = nn.Sequential(nn.Linear(512, 256), nn.LeakyReLU(0.2), nn.Linear(256, cond_dim))
        self.embed = nn.Sequential(nn.Linear(cond_dim, 256), nn.LeakyReLU(0.2), nn.Linear(256, 512)) if projection else None

    def forward(self, z, cond):
        """Real/fake logit of latents z at conditions cond (read only with `projection`), and Q's condition (eq. 4)."""
        h = self.features(z)
        logit = self.head(h).squeeze(-1)
        if self.embed is not None:
            logit = logit + (self.embed(cond) * h).sum(-1)
        return logit, self.aux_head(h)


def encode_condition(task_params: torch.Tensor, mode: str) -> torch.Tensor:
    """(B, 1) MDP parameters -> the generator's condition: raw, or (cos, sin) of a direction; tau_e passes as it is."""
    if mode == "cossin":
        return torch.cat([torch.cos(task_params), torch.sin(task_params)], dim=-1)
    return task_params


def noise_dim(args: Args) -> int:
    return args.noise_dim if args.noise_dim is not None else (128 if args.condition == "behavior" else 4)


# ----------------------------------------------------------------------------------------------
# Inputs: every argument, input file and output path checked before any training
# ----------------------------------------------------------------------------------------------
def policy_folder(args: Args) -> str:
    """Where the generated policy files go: beside a named --table, else beside --out."""
    return f"{os.path.splitext(args.table or args.out)[0]}_generated"


def outputs_of(args: Args, targets: list, condition: str) -> dict:
    """Every file this run writes, by what it is."""
    stem = os.path.splitext(args.out)[0]
    table = f"{stem}_zeroshot_params.json" if args.params else f"{stem}_zeroshot.json"  # a sweep keeps Table I's file
    table = args.table or (f"{stem}_mtrl.json" if condition == "behavior" else table)
    files = {"checkpoint": args.out, "state": f"{args.out}.state.pt", "table": table}
    for task in targets:
        name = f"task_{task.index:02d}" if task.index is not None else target_name(task).replace("=", "_")
        files[f"policies {target_name(task)}"] = os.path.join(policy_folder(args), f"{name}.pt")
    return files


def data_folder(args: Args, source: dict) -> str:
    """The collection read: --data, or the one the autoencoder (or checkpoint) was made from."""
    return args.data or source["data"]


def load_embedding(path: str, collection: dict, data: str) -> dict:
    """The behaviour embedding, checked against the collection it must describe checkpoint by checkpoint."""
    embedding = load_artifact(path, "behavior_embedding", ("tau_e", "train", "holdout", "seen_ids", "params_digest"), who=WHO)
    check_finite(WHO, path, embedding["tau_e"], "tau_e")
    if len({t.shape[-1] for t in embedding["tau_e"].values()}) != 1:
        raise SystemExit(f"{WHO}: --embedding {path}: its tau_e differ in width between tasks")
    if params_digest([collection[i]["params"] for i in sorted(collection)]) != embedding["params_digest"]:
        raise SystemExit(f"{WHO}: --embedding {path}: its checkpoints do not match the collection --data {data}")
    return embedding


def validate(args: Args) -> tuple[dict, dict, list, list, dict | None]:
    """One-line errors for bad arguments, inputs and outputs, before any training.

    Returns the source (the autoencoder, or with --eval-only the checkpoint at --out), the checked
    collection, the training task ids, the evaluation targets (held-out tasks, or tasks at --params; MetaWorld:
    the seen tasks, then the unseen ones) and the behaviour embedding (None unless --condition behavior).
    """
    counts = ("iterations", "g_steps", "eval_samples", "eval_episodes", "log_every", "state_every", "behavior_episodes",
              "behavior_states")  # fmt: skip
    at_least = {**dict.fromkeys(counts, 1), "batch_size": 2, "ci_reps": 100, "best_checkpoints": 0}  # BatchNorm: 2
    if args.noise_dim is not None and args.noise_dim < 1:
        raise SystemExit(f"{WHO}: --noise-dim {args.noise_dim}: expected an integer >= 1")
    check_args(
        WHO,
        args,
        at_least,
        positive=("lr", "real_label"),
        non_negative=("lambda_recon", "lambda_reg", "condition_noise", "noise_scale", "lambda_behavior"),
        unit=("ask_quality",),
        coverage=("ci",),
    )
    if args.real_label > 1:
        raise SystemExit(f"{WHO}: --real-label {args.real_label}: expected a number in (0, 1]")
    if not 0 <= args.ema_decay < 1:
        raise SystemExit(f"{WHO}: --ema-decay {args.ema_decay}: expected a number in [0, 1) (0: no average)")
    if not args.generator_widths or min(args.generator_widths) < 1:
        raise SystemExit(f"{WHO}: --generator-widths {list(args.generator_widths)}: expected positive widths")
    if args.table and not args.table.endswith(".json"):
        raise SystemExit(f"{WHO}: --table {args.table}: expected a path ending in .json")
    if args.eval_only:
        source = load_artifact(
            args.out,
            KIND,
            ("generator", "decoder", "suite", "train_task_ids", "data", "params_digest", "decoder_train_task_ids", "args"),
            who=WHO,
        )
        check_finite(WHO, args.out, {"generator": source["generator"], "decoder": source["decoder"]})
    else:
        source = load_artifact(
            args.ae,
            "autoencoder",
            ("latents", "task_index", "task_params", "state_dict", "model_args", "train_task_ids", "data", "params_digest"),
            who=WHO,
        )
        check_finite(
            WHO,
            args.ae,
            {"latents": source["latents"], "task_params": source["task_params"], "state_dict": source["state_dict"]},
        )
        if args.condition == "cossin" and source["suite"] != "ant-dir":
            raise SystemExit(f"{WHO}: --condition cossin: only for directions (ant-dir), not {source['suite']}")
        if args.condition == "behavior" and source["suite"] != "metaworld":
            raise SystemExit(f"{WHO}: --condition behavior: only for metaworld (tau_e of a trajectory), not {source['suite']}")
        if args.condition != "behavior" and source["suite"] == "metaworld":
            raise SystemExit(
                f"{WHO}: --condition {args.condition}: metaworld tasks have no MDP parameters; "
                "use --condition behavior --embedding FILE"
            )
        if args.condition == "behavior" and not args.embedding:
            raise SystemExit(f"{WHO}: --embedding: --condition behavior needs the embedding file of behavior_embed.py")
        if args.quality_condition and args.condition == "behavior":
            raise SystemExit(f"{WHO}: --quality-condition: not with --condition behavior (HypFormer reads tau_e alone)")
        if args.embedding and args.condition != "behavior":
            raise SystemExit(f"{WHO}: --embedding {args.embedding}: only read with --condition behavior")
        for i in (task_index(source["suite"], i, "--train-task-ids") for i in args.train_task_ids):
            if i not in source["train_task_ids"]:
                raise SystemExit(
                    f"{WHO}: --train-task-ids {i}: not among the autoencoder's training tasks {source['train_task_ids']}"
                )
    if args.seed is None:  # resolved before anything draws, so the saved vars(args) hold the seed used
        args.seed = source["args"]["seed"] if args.eval_only else 0
    requested = [task_index(source["suite"], i, "--train-task-ids") for i in args.train_task_ids]
    train_ids = source["train_task_ids"] if args.eval_only else requested or source["train_task_ids"]
    condition = source["condition"] if args.eval_only else args.condition
    if args.params and args.test_task_ids:
        raise SystemExit(f"{WHO}: --params and --test-task-ids: give one of them")
    if args.params and condition == "behavior":
        raise SystemExit(f"{WHO}: --params: a behaviour-conditioned generator takes tau_e, not MDP parameters")
    targets = []
    for value in args.params:
        try:
            targets.append(task_at(source["suite"], (float(value),)))
        except ValueError:
            raise SystemExit(f"{WHO}: --params {value!r}: expected a number")
    data = data_folder(args, source)
    collection = load_collection(
        data, WHO, "--data" if args.data else f"--data (from {args.out if args.eval_only else args.ae})"
    )
    test_ids = [task_index(source["suite"], i, "--test-task-ids") for i in args.test_task_ids]
    test_ids = test_ids or list(get_suite(source["suite"]).test_ids)
    if condition == "behavior":  # MTRL: the seen tasks, then the unseen ones that were collected (their experts' tau_e)
        test_ids = [i for i in test_ids if i in collection or args.test_task_ids]
        for i in train_ids + test_ids:
            if i not in collection:
                raise SystemExit(
                    f"{WHO}: --test-task-ids {i}: not collected in {data}, so it has no trajectory to condition on"
                )
    for i in train_ids if condition == "behavior" else []:
        targets.append(Task.from_dict(collection[i]["task"]))
    for i in [] if args.params else test_ids:
        targets.append(get_task(source["suite"], i, "--test-task-ids"))
        if i in train_ids:
            raise SystemExit(f"{WHO}: --test-task-ids {i}: is a training task; zero-shot needs held-out tasks")
        if i in collection:  # the goals it was collected on (MetaWorld)
            targets[-1] = Task.from_dict(collection[i]["task"])
    names = [target_name(t) for t in targets]  # a target's table row and policy file are named by it
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        arg = "--params" if args.params else "--test-task-ids" if args.test_task_ids else "--train-task-ids"
        raise SystemExit(f"{WHO}: {arg}: target {twice[0]} is asked twice (one table row and one file each); give it once")
    ae_ids = source["decoder_train_task_ids"] if args.eval_only else source["train_task_ids"]
    if (
        any(i not in collection for i in ae_ids)
        or params_digest([collection[i]["params"] for i in ae_ids]) != source["params_digest"]
    ):
        raise SystemExit(f"{WHO}: --data {data}: its checkpoints differ from those the autoencoder was trained on")
    embedding, embedding_path = None, args.embedding or source.get("embedding", "")
    if condition == "behavior":
        embedding = load_embedding(embedding_path, collection, data)
        width = next(iter(embedding["tau_e"].values())).shape[-1]
        if args.eval_only and width != source["generator_args"]["in_dim"] - source["noise_dim"]:
            raise SystemExit(
                f"{WHO}: --embedding {embedding_path}: tau_e of width {width}, not what {args.out} was trained on"
            )
        for i in train_ids:
            if i not in embedding["seen_ids"]:
                raise SystemExit(f"{WHO}: --train-task-ids {i}: the embedding {embedding_path} was not trained on it")
    inputs = [args.out if args.eval_only else args.ae, *collection_files(data), *([embedding_path] if embedding else [])]
    for name, path in outputs_of(args, targets, condition).items():
        if not (args.eval_only and name in ("checkpoint", "state")):
            check_output(WHO, "--table" if name == "table" and args.table else f"--out ({name})", path, inputs)
    # sizes that must fit in memory: the generator with its gradients, Adam states and average (~5 copies, plus a
    # batch of activations), and a target's generated policies (their latents, parameters and batched actor)
    w = list(source["generator_args"]["widths"] if args.eval_only else args.generator_widths)
    out = source["generator_args"]["out_dim"] if args.eval_only else source["latents"][0].numel()
    if not args.eval_only:  # the U-Net's weights: in -> w0 ... -> w_last, back up to w0, then the head
        size = noise_dim(args) * w[0] + 2 * sum(a * b for a, b in zip(w, w[1:])) + w[0] * out
        check_memory(WHO, "--generator-widths", w, 4 * (5 * size + 4 * args.batch_size * sum(w)))
    num_params = next(iter(collection.values()))["params"].shape[1]
    check_memory(WHO, "--eval-samples", args.eval_samples, 4 * args.eval_samples * (4 * num_params + sum(w) + out))
    check_memory(WHO, "--ci-reps", args.ci_reps, 16 * args.ci_reps * args.eval_samples * args.eval_episodes)  # its bootstrap
    # a training run writes its checkpoint, an evaluation its policies (zeroshot_eval.py claims the table it writes)
    claim_output(WHO, "--table" if args.eval_only else "--out", policy_folder(args) if args.eval_only else args.out)
    return source, collection, train_ids, targets, embedding


def best_rows(ae: dict, collection: dict, rows: torch.Tensor, n: int) -> torch.Tensor:
    """Positions in `rows` (autoencoder row indices) of each task's n highest-return checkpoints among them."""
    returns = torch.cat([collection[i]["returns"] for i in ae["train_task_ids"]])[rows]  # rows: tasks, then checkpoints
    tasks = ae["task_index"][rows]
    keep = []
    for t in tasks.unique():
        own = (tasks == t).nonzero().squeeze(1)  # positions of task t's checkpoints
        keep.append(own[returns[own].argsort(descending=True)[:n]])
    return torch.cat(keep).sort().values


@torch.no_grad()
def own_task_latents(generator, z_real: torch.Tensor, cond: torch.Tensor, task_of_rows: torch.Tensor, noise: int,
                     seed: int) -> dict:  # fmt: skip
    """A diagnostic on training data, not in the paper: per training task, the fraction of generated latents
    G(n, M_i), one per paired latent, whose nearest task centroid of the real latents is that task's own. A generator
    that folds several tasks onto one cluster (mode collapse) scores low there, however well its decoder copes."""
    generator.eval()  # as the generated policies are made (BatchNorm's running statistics)
    gen = torch.Generator(device=cond.device).manual_seed(seed)  # its own draws: training's random stream is untouched
    z_fake = generator(torch.cat([torch.randn(len(cond), noise, generator=gen, device=cond.device), cond], -1))
    generator.train()
    tasks = task_of_rows.unique()
    centroids = torch.stack([z_real[task_of_rows == t].mean(0) for t in tasks])
    nearest = tasks[torch.cdist(z_fake, centroids).argmin(1)]
    return {int(t): float((nearest[task_of_rows == t] == t).float().mean()) for t in tasks}


def perturb_condition(cond: torch.Tensor, cond_std: torch.Tensor, scale: float) -> torch.Tensor:
    """The generator's training condition with Gaussian noise of std scale * cond_std per dimension (condition
    augmentation, not in the paper): nearby conditions then map to the clean pair's latent, which smooths the generator
    where it is queried off its training conditions (MetaWorld's unseen tau_e). scale 0: the condition itself, no draw."""
    return cond + scale * cond_std * torch.randn_like(cond) if scale else cond


def checkpoint_quality(ae: dict, collection: dict, rows: torch.Tensor) -> torch.Tensor:
    """(M, 1) quality of the checkpoints at autoencoder rows `rows` (--quality-condition): the rank of its recorded
    return among all its task's checkpoints, scaled to [0, 1] (0: the task's worst, 1: its best)."""
    ranks = []
    for i in ae["train_task_ids"]:  # rows are tasks in order, then each task's checkpoints
        returns = collection[i]["returns"]
        ranks.append(returns.argsort().argsort().float() / max(len(returns) - 1, 1))
    return torch.cat(ranks)[rows].unsqueeze(1)


class VisitedStates(gym.Wrapper):
    """Keeps every observation the policy acts in: the reset one, then each next one until the episode ends."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.states = []

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self.states.append(obs)
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if not (terminated or truncated):
            self.states.append(obs)
        return obs, reward, terminated, truncated, info


def rollout_states(ae: dict, collection: dict, task_ids: list, episodes: int) -> list:
    """[(N_i, obs_dim) states] visited by each task's best checkpoint in common.evaluate's `episodes` deterministic
    episodes (reset seeds eval_seed + e; --lambda-behavior: where the behaviour term compares actions). Draws no torch
    random numbers."""
    tasks = [Task.from_dict(collection[i]["task"]) for i in task_ids]
    best = torch.stack([collection[i]["params"][collection[i]["returns"].argmax()] for i in task_ids])
    with torch.random.fork_rng(devices=[]):  # its initialization is overwritten: leave the training stream alone
        actor = load_flat_params(Actor(**ae["actor_args"], num_tasks=len(tasks)), best)
    pool = {task: [VisitedStates(make_env(task))] for task in tasks}  # task k's best checkpoint runs in its own env
    evaluate(actor, tasks, episodes, ae["eval_seed"], pool=pool)
    close_envs(pool)
    return [torch.as_tensor(np.stack(pool[task][0].states), dtype=torch.float32) for task in tasks]


def deterministic_actions(actor: Actor, layout: list, params: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
    """tanh(mean) (B, S, act_dim) of B flat policies `params` (B, P) on their states (B, S, obs_dim), differentiable in
    `params`; `actor` is a task-batched Actor of B policies that lends its structure (its own weights are not read)."""
    sizes = [math.prod(shape) for _, shape in layout]
    chunks = params.split(sizes, dim=-1)
    weights = {name: chunk.reshape(len(params), *shape) for (name, shape), chunk in zip(layout, chunks)}
    mean, _ = torch.func.functional_call(actor, weights, (states,), strict=False)
    return torch.tanh(mean)


# ----------------------------------------------------------------------------------------------
# Algorithm 1: the discriminator and its auxiliary head, then the generator (and decoder), per iteration
# ----------------------------------------------------------------------------------------------
def train(args: Args, ae: dict, collection: dict, train_ids: list, embedding: dict | None) -> dict:
    """Algorithm 1 on the autoencoder's latents of `train_ids`; writes the checkpoint to --out and returns it.
    With a behaviour embedding, each latent is paired with its checkpoint's tau_e (common.embedding_rows)."""
    suite = ae["suite"]
    if embedding is not None:
        rows, cond_all = embedding_rows(ae, collection, embedding, train_ids)
    else:
        rows = torch.isin(ae["task_index"], torch.tensor(train_ids)).nonzero().squeeze(1)
        cond_all = encode_condition(ae["task_params"][rows].float(), args.condition)  # (M, cond_dim)
    if args.best_checkpoints:  # departs from the paper (all checkpoints): the paired experts are each task's best
        keep = best_rows(ae, collection, rows, args.best_checkpoints)
        rows, cond_all = rows[keep], cond_all[keep]
    if args.quality_condition:  # departs from the paper: (M, quality) asks for the best at generation (--ask-quality)
        cond_all = torch.cat([cond_all, checkpoint_quality(ae, collection, rows)], -1)
    z_real_all, task_of_rows = ae["latents"][rows].flatten(1), ae["task_index"][rows]  # (M, 2 * latent_dim), (M,)
    # --lambda-behavior: the states of each training task's best checkpoint, padded into one (tasks, N, obs) tensor below
    pools = rollout_states(ae, collection, train_ids, args.behavior_episodes) if args.lambda_behavior else []
    torch.manual_seed(args.seed)

    autoencoder = ParamAutoencoder(**ae["model_args"])
    autoencoder.load_state_dict(ae["state_dict"])
    autoencoder.eval()  # no noise augmentation; its decoder still trains with the generator (eq. 2), its encoder may (eq. 1)
    # every autoencoder row's parameters (its tasks, each task's checkpoints); the paired experts are `rows` of them
    params_of_rows = torch.cat([collection[i]["params"] for i in ae["train_task_ids"]])
    x_all = autoencoder.normalize(params_of_rows[rows])
    noise = noise_dim(args)
    generator_args = {
        "in_dim": noise + cond_all.shape[1],
        "out_dim": z_real_all.shape[1],
        "widths": list(args.generator_widths),
    }
    generator = Generator(**generator_args)
    discriminator = Discriminator(z_real_all.shape[1], cond_all.shape[1], args.projection_discriminator)
    device = pick_device(args.cuda, args.torch_deterministic)  # networks drawn on the CPU: one init on every device
    for net in (generator, discriminator, autoencoder):
        net.to(device)
    z_real_all, cond_all, x_all, task_of_rows = (t.to(device) for t in (z_real_all, cond_all, x_all, task_of_rows))
    cond_std = cond_all.std(0) if len(cond_all) > 1 else torch.zeros_like(cond_all[0])  # --condition-noise's unit
    if pools:
        counts = torch.tensor([len(p) for p in pools], device=device)
        pool = nn.utils.rnn.pad_sequence(pools, batch_first=True).to(device)  # (tasks, longest, obs_dim), zero-padded
        pool_of_rows = torch.tensor([train_ids.index(t) for t in task_of_rows.tolist()], device=device)
        with torch.random.fork_rng(devices=[]):  # its own weights are never read: leave the training stream alone
            behavior_actor = Actor(**ae["actor_args"], num_tasks=args.batch_size).to(device)

    def behavior_gap(decoded: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """The behaviour term: the decoded policies' deterministic actions against their paired experts', on
        --behavior-states states of each one's task (not in the paper)."""
        task = pool_of_rows[idx]
        pick = (torch.rand(len(idx), args.behavior_states, device=device) * counts[task][:, None]).long()
        states = pool[task[:, None], pick]  # (B, S, obs_dim)
        with torch.no_grad():
            target = deterministic_actions(behavior_actor, ae["layout"], autoencoder.denormalize(x_all[idx]), states)
        return F.mse_loss(
            deterministic_actions(behavior_actor, ae["layout"], autoencoder.denormalize(decoded), states), target
        )

    def generator_input(cond: torch.Tensor) -> torch.Tensor:  # fresh noise, then the (perturbed) condition
        return torch.cat(
            [torch.randn(len(cond), noise, device=device), perturb_condition(cond, cond_std, args.condition_noise)], -1
        )

    train_decoder = args.train_decoder and args.recon == "param"  # only eq. (2)'s term reaches the decoder
    g_params = [*generator.parameters(), *(autoencoder.decoders.parameters() if train_decoder else [])]
    encoder = nn.ModuleList([autoencoder.encoders, autoencoder.norm])  # E_phi: moves with the discriminator, or not at all
    d_params = [*discriminator.parameters(), *(encoder.parameters() if args.train_encoder else [])]
    autoencoder.decoders.requires_grad_(train_decoder)  # what no optimizer moves gets no gradient
    encoder.requires_grad_(args.train_encoder)
    # fused: one pass over the weights per update (the trained decoder is most of them; same update to ~1e-7)
    g_optimizer = torch.optim.Adam(g_params, lr=args.lr, betas=(0.5, 0.999), fused=True)
    d_optimizer = torch.optim.Adam(d_params, lr=args.lr, betas=(0.5, 0.999), fused=True)
    stateful = {
        "generator": generator,
        "discriminator": discriminator,
        "decoder": autoencoder,
        "g_optimizer": g_optimizer,
        "d_optimizer": d_optimizer,
    }
    # departs from the paper (its last iterate): an EMA of what eq. (2) moves, BatchNorm statistics included, damps the
    # iterate-to-iterate jitter of an adversarial game whose discriminator is ahead (docs/experiments/cheetah-vel-15.md)
    g_nets = nn.ModuleList([generator, *([autoencoder.decoders] if train_decoder else [])])
    ema = None
    if args.ema_decay:
        ema = AveragedModel(g_nets, multi_avg_fn=get_ema_multi_avg_fn(args.ema_decay), use_buffers=True)
        stateful["ema"] = ema
    state_path = f"{args.out}.state.pt"
    data = data_folder(args, ae)
    inputs = fingerprint([args.ae, *(os.path.join(data, f"task_{i:02d}.pt") for i in ae["train_task_ids"])]
                         + ([args.embedding] if embedding else []))  # fmt: skip
    state = resume_training_state(state_path, args, stateful, inputs, WHO)
    start_it, run_name = (
        (state["step"], state["run_name"]) if state else (0, f"{suite}__hyplatent__{args.seed}__{time.time_ns()}")
    )
    writer = SummaryWriter(os.path.join(args.runs_dir, run_name), purge_step=start_it or None)
    print(
        f"{WHO}: {len(train_ids)} tasks, {len(z_real_all)} latents, condition {args.condition} "
        f"({cond_all.shape[1]}), recon {args.recon}, decoder {'trained' if train_decoder else 'frozen'}, "
        f"encoder {'trained' if args.train_encoder else 'frozen'}, "
        f"discriminator logit on {'(latent, condition)' if args.projection_discriminator else 'the latent (paper)'}"
        + (", conditioned on quality too" if args.quality_condition else "")
        + (f", behaviour term on {sum(map(len, pools))} states" if pools else "")
    )

    def own_now() -> dict:  # own_task_latents against the real latents as the discriminator now sees them
        with torch.no_grad():
            z_now = autoencoder.encode(x_all).flatten(1) if args.train_encoder else z_real_all
        return own_task_latents(generator, z_now, cond_all, task_of_rows, noise, args.seed)

    def forward_precision():  # --bf16: products in bfloat16, autocast's float32 ops (losses, norms) as they are
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16, cache_enabled=False)

    start = time.time()
    for it in range(start_it + 1, args.iterations + 1):
        idx = torch.randint(0, len(z_real_all), (args.batch_size,)).to(device)
        z_real, cond = z_real_all[idx], cond_all[idx]
        with forward_precision():
            if args.train_encoder:  # paper IV-A: E_phi moves with the discriminator, so real latents are encoded afresh
                z_real = autoencoder.encode(x_all[idx]).flatten(1)
            # --- ALGO: discriminator and aux head, eq. (3) + eq. (4) on real and generated latents ---
            with torch.no_grad():
                z_fake = generator(generator_input(cond))
            logit_real, cond_real = discriminator(z_real, cond)
            logit_fake, cond_fake = discriminator(z_fake, cond)
            d_adv = F.binary_cross_entropy_with_logits(
                logit_real, torch.full_like(logit_real, args.real_label)
            ) + F.binary_cross_entropy_with_logits(logit_fake, torch.zeros_like(logit_fake))
            d_reg = F.mse_loss(cond_real, cond) + F.mse_loss(cond_fake, cond)
            d_loss = d_adv + args.lambda_reg * d_reg
            if args.train_encoder:  # eq. (1), weighted as eq. (2)'s term, keeps the moving latents decodable to the experts
                e_rec = F.mse_loss(autoencoder.decode(z_real.view(args.batch_size, 2, -1)), x_all[idx])
                d_loss = d_loss + args.lambda_recon * e_rec
        d_optimizer.zero_grad()
        d_loss.backward()
        d_optimizer.step()

        # --- ALGO: generator (and decoder), eq. (2) + eq. (4), --g-steps times ---
        for _ in range(args.g_steps):  # the aux target (eq. 4) and the paired expert stay the clean condition's
            with forward_precision():
                z_fake = generator(generator_input(cond))
                logit_fake, cond_fake = discriminator(z_fake, cond)  # paired with the clean condition, as its target
                # non-saturating form of eq. (2)'s log(1 - F(Z_hat)): same fixed point, usable gradients early on
                g_adv = F.binary_cross_entropy_with_logits(logit_fake, torch.ones_like(logit_fake))
                g_reg = F.mse_loss(cond_fake, cond)
                decoded = None
                if args.recon == "param" or pools:  # float32 under --bf16: parameters compared with the expert's
                    decoded = autoencoder.decode(z_fake.view(args.batch_size, 2, -1)).float()
                if args.recon == "param":  # eq. (2): || D_theta(G(M, n)) - X ||^2 against the paired expert
                    g_rec = F.mse_loss(decoded, x_all[idx])
                else:  # AMT-Hyp: regress the paired expert's latent
                    g_rec = F.mse_loss(z_fake, z_real.detach())
                g_loss = g_adv + args.lambda_reg * g_reg + args.lambda_recon * g_rec
                if pools:  # departs from the paper: what the decoded policy does, not only its parameters
                    g_beh = behavior_gap(decoded, idx)
                    g_loss = g_loss + args.lambda_behavior * g_beh
            g_optimizer.zero_grad()
            g_loss.backward()
            g_optimizer.step()
        if ema is not None:
            ema.update_parameters(g_nets)

        if it % 10 == 0:
            logged = {"d_adv": d_adv, "d_reg": d_reg, "g_adv": g_adv, "g_reg": g_reg, "g_recon": g_rec}
            if args.train_encoder:
                logged["e_recon"] = e_rec
            if pools:
                logged["g_behavior"] = g_beh
            for name, value in logged.items():
                writer.add_scalar(f"losses/{name}", value.item(), it)
        if it % args.state_every == 0 and it < args.iterations:
            save_training_state(state_path, args, it, stateful, inputs, WHO, run_name=run_name)
        if it % args.log_every == 0 or it == args.iterations:
            own = own_now()
            own_mean = float(np.mean(list(own.values())))
            writer.add_scalar("fit/own_task_latents", own_mean, it)
            ips = (it - start_it) / (time.time() - start)
            print(
                f"iter {it}/{args.iterations} | d_adv {d_adv.item():.3f} g_adv {g_adv.item():.3f} "
                f"g_recon {g_rec.item():.2e} aux {g_reg.item():.2e} | own-task latents {own_mean:.2f} | "
                f"{ips:.1f} it/s | ETA {(args.iterations - it) / ips / 60:.1f} min",
                flush=True,
            )
    if ema is not None:  # the averaged weights are the ones saved, and the ones the final diagnostic describes
        g_nets.load_state_dict(ema.module.state_dict())
        own = own_now()
        print(f"{WHO}: weights averaged (EMA {args.ema_decay}): own-task latents {np.mean(list(own.values())):.2f}")
    writer.close()
    for net in (generator, discriminator, autoencoder):  # artifacts hold CPU tensors
        net.cpu()
    moved = {}
    if args.train_encoder:  # the moved encoder's latents of every autoencoder row: HypFormer's Z_gt
        with torch.no_grad():
            x_rows = autoencoder.normalize(params_of_rows)
            moved["latents"] = torch.cat([autoencoder.encode(b) for b in x_rows.split(512)])
    ckpt = {
        "kind": KIND,
        "version": 1,
        "suite": suite,
        "condition": args.condition,
        "quality_condition": args.quality_condition,
        "noise_dim": noise,
        "embedding": os.path.abspath(args.embedding) if embedding else "",
        "train_task_ids": train_ids,
        "generator_args": generator_args,
        "generator": generator.state_dict(),
        "discriminator": discriminator.state_dict(),
        "decoder_args": ae["model_args"],
        "decoder": autoencoder.state_dict(),  # the whole autoencoder: its decoder trained by eq. (2), encoder by eq. (1)
        "actor_args": ae["actor_args"],
        "layout": ae["layout"],
        "eval_seed": ae["eval_seed"],
        "data": os.path.abspath(data),
        "ae": os.path.abspath(args.ae),
        "decoder_train_task_ids": ae["train_task_ids"],
        "params_digest": ae["params_digest"],
        "train_encoder": args.train_encoder,
        **moved,
        "own_task_latents": own,  # per training task, of the saved weights (own_task_latents)
        "step": args.iterations,
        "args": vars(args),
    }
    save_atomic(ckpt, args.out, WHO)
    if os.path.exists(state_path):
        os.remove(state_path)
    print(f"{WHO}: own-task latents per training task { ({t: round(f, 2) for t, f in own.items()}) }")
    print(f"{WHO}: wrote {args.out}")
    return ckpt


# ----------------------------------------------------------------------------------------------
# Generation: a HypLatent checkpoint alone writes policies for any task parameter
# ----------------------------------------------------------------------------------------------
def build_models(ckpt: dict):
    """Generator and decoder of a HypLatent checkpoint, in eval mode."""
    generator = Generator(**ckpt["generator_args"])
    generator.load_state_dict(ckpt["generator"])
    decoder = ParamAutoencoder(**ckpt["decoder_args"])
    decoder.load_state_dict(ckpt["decoder"])
    return generator.eval(), decoder.eval()


@torch.no_grad()
def generate(
    ckpt: dict, condition: torch.Tensor, seed: int = 0, noise_scale: float = 1.0, quality: float = 1.0
) -> torch.Tensor:
    """(num, P) flat actor parameters generated from a HypLatent checkpoint, one per row of `condition`
    (num, d): a task's MDP parameters, or a tau_e (MetaWorld); the noise is N(0, noise_scale^2). A generator
    conditioned on quality too is asked for `quality` (1: its task's best checkpoint)."""
    generator, decoder = build_models(ckpt)
    gen = torch.Generator().manual_seed(seed)
    num = len(condition)
    condition = encode_condition(torch.as_tensor(condition, dtype=torch.float32), ckpt["condition"])
    if ckpt.get("quality_condition"):  # (a checkpoint from before the flag has no such field: not conditioned)
        condition = torch.cat([condition, torch.full((num, 1), float(quality))], -1)
    z = generator(torch.cat([noise_scale * torch.randn(num, ckpt["noise_dim"], generator=gen), condition], dim=-1))
    return decoder.denormalize(decoder.decode(z.view(num, 2, -1)))


# ----------------------------------------------------------------------------------------------
# Zero-shot policies for the evaluation targets, written as policy files and handed to zeroshot_eval.py, which runs
# every baseline on the same episodes (Table I; MetaWorld: the MTRL table) in one place for both generator stages
# ----------------------------------------------------------------------------------------------
def zero_shot_policies(ckpt: dict, collection: dict, embedding: dict | None, targets: list, args: Args) -> dict:
    """{target name: policy file} of --eval-samples generated policies per target, each with its deterministic returns
    on the target (MetaWorld: one episode per goal, and its success). A task's noise seed follows its id; a parameter
    value's follows the value, so a sweep is repeatable point by point. MetaWorld's policies are conditioned on tau_e
    of checkpoints (common.mtrl_conditions), recorded in each file's origin."""
    origin = {"stage": WHO, "hyplatent": os.path.abspath(args.out)}
    files = {}
    for task in targets:
        key, i = target_name(task), task.index
        if embedding is not None:
            cond_ckpt = mtrl_conditions(collection, embedding, ckpt["train_task_ids"], i, args.eval_samples)
            noise_seed, condition = args.seed + i, embedding["tau_e"][i][cond_ckpt]
            where = {**origin, "noise_scale": args.noise_scale, "noise_seed": noise_seed,
                     "conditioning_checkpoints": cond_ckpt, "row": "generated"}  # fmt: skip
        else:
            noise_seed = args.seed + (i if i is not None else 100_000 + round(task.params[0] * 10_000))
            condition = torch.tensor([list(task.params)] * args.eval_samples)
            where = {**origin, "noise_seed": noise_seed, "noise_scale": args.noise_scale}
        if ckpt.get("quality_condition"):
            where["quality"] = args.ask_quality
        params = generate(ckpt, condition, noise_seed, args.noise_scale, args.ask_quality)
        files[key] = generated_policy_file(task, ckpt, params, args.eval_episodes, where, args)
    return files


def main(args: Args) -> dict:
    # --- load and validate inputs and outputs (one-line errors, nothing trained yet) ---
    source, collection, train_ids, targets, embedding = validate(args)

    # --- ALGO: train (Algorithm 1), then save atomically ---
    ckpt = source if args.eval_only else train(args, source, collection, train_ids, embedding)

    # --- zero-shot: the generated policies of every target as policy files, then their table (zeroshot_eval.py) ---
    outputs = outputs_of(args, targets, ckpt["condition"])
    policies = zero_shot_policies(ckpt, collection, embedding, targets, args)
    for key, policy in policies.items():
        save_atomic(policy, outputs[f"policies {key}"], WHO)
    embedding_path = (args.embedding or ckpt.get("embedding", "")) if embedding is not None else ""
    paths = [outputs[f"policies {key}"] for key in policies]
    result = score_policies(WHO, paths, outputs["table"], data_folder(args, ckpt), args, embedding_path)
    if embedding is not None:  # the MTRL table records the noise the generated policies were drawn with
        result = {**result, "noise_scale": args.noise_scale}
        write_json_atomic(outputs["table"], result, WHO)
    print(f"{WHO}: wrote {outputs['table']} and the generated policies in {os.path.dirname(paths[-1])}")
    return result


if __name__ == "__main__":
    main(tyro.cli(Args))
