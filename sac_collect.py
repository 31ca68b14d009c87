# GenHyper stage 1: a library of expert SAC policies, one file per task (paper VI-B, "Dataset
# collection"). CleanRL's sac_continuous_action.py, trained on K tasks of one suite at once with
# task-batched networks: every task has its own actor, twin critics, target critics, optimizer
# state, entropy temperature and replay buffer, exactly as if it ran alone, but all K advance in one
# bmm per layer. From --save-after on, a checkpoint every --save-every steps is evaluated and kept
# (MetaWorld: a task keeps them once its evaluated success reaches --success-threshold on its goals).
# Reads: nothing.  Writes: <out>/<suite>/task_XX.pt per task, a policy file (common.policy_file: flat
# actor parameters (N, P), layout, returns, task, origin, args) with each checkpoint's step (MetaWorld:
# also its success per goal and the behaviour pieces of its evaluation episodes); a report
# <out>/<suite>/collect_<ids>.json (steps to success, checkpoints kept, speed); a resume state
# <out>/<suite>/.resume_<ids>.pt while running. With --init-from, every task's actor starts from one policy
# file's policy (a converged expert, say) instead of a random draw: experts in one basin by construction.
#   python sac_collect.py --suite cheetah-vel --task-ids 0 4 8 --out data
#   python sac_collect.py --suite metaworld --task-ids button-press drawer-close --scripted-steps 5000
import copy
import math
import multiprocessing
import os
import time
from dataclasses import dataclass
from typing import Literal

import metaworld.policies
import numpy as np
import torch
import torch.nn as nn
import tyro
from torch.utils.tensorboard import SummaryWriter

from common import (
    Actor,
    ReplayableEnvs,
    actor_layout,
    check_args,
    check_output,
    claim_output,
    close_envs,
    evaluate,
    fingerprint,
    flatten_params,
    get_suite,
    get_task,
    linear,
    load_flat_params,
    load_policies,
    load_start_policy,
    make_env,
    pick_device,
    policy_file,
    resume_training_state,
    save_atomic,
    save_training_state,
    stop_if_diverged,
    task_index,
    write_json_atomic,
)

WHO = "sac_collect"
WARM_UPDATES = 10  # update steps left out of the reported update speed


@dataclass
class Args:
    suite: str = "cheetah-vel"
    """task suite: cheetah-vel, ant-dir or metaworld"""
    task_ids: tuple[int | str, ...] = (0, 4, 8, 12, 17, 21, 25, 29, 33, 37)
    """tasks to train, all at once in this process, by id or MetaWorld env name (default: the cheetah-vel-10 config)"""
    goal_seeds: tuple[int, ...] = (720, 920)
    """metaworld: the fixed goals, one goal-observable env per seed; training cycles them, each is evaluated once"""
    success_threshold: float = 1.0
    """metaworld: a task keeps checkpoints once its evaluated success rate over the goals reaches this (paper: 1)"""
    keep: Literal["after-success", "successful"] = "after-success"
    """metaworld: keep every checkpoint from the first success on (paper), or only those that reach the threshold"""
    scripted_steps: int = 0
    """metaworld: the first this many steps act with MetaWorld's scripted policy of the task (seeds the replay buffer)"""
    scripted_noise: float = 0.1
    """metaworld: std of the Gaussian noise added to scripted actions (clipped to the action box)"""
    out: str = "data"
    """root folder; task i of the suite is written to <out>/<suite>/task_{i:02d}.pt"""
    seed: int = 1
    """seed of environments, exploration noise and replay sampling"""
    init_seed: int = 0
    """seed of the network initialization"""
    shared_init: bool = True
    """start every task's networks from one initialization (experts share a basin); off: one per task"""
    init_from: str = ""
    """policy file every task's actor starts from, e.g. one converged expert (critics stay fresh); empty: --init-seed"""
    init_index: int = -1
    """with --init-from: which policy of the file (-1: its best stored return)"""
    lr_start: float = 3e-6
    """actor learning rate at the first update when --lr-ramp-steps > 0 (as finetune_tdreg.py)"""
    lr_ramp_steps: int = 0
    """steps after --learning-starts over which the actor lr rises geometrically to --policy-lr (0: no ramp)"""
    critic_warmup: int = 0
    """updates after --learning-starts that train only the critics, the actor and temperature held as they start; the
    actor's ramp begins after them (0: none, the paper)"""
    anchor_weight: float = 0.0
    """weight of a pull toward the starting actor's deterministic actions on replay states, fading over the ramp to
    --anchor-floor times itself (0: off, the paper)"""
    anchor_floor: float = 0.0
    """the anchor's weight never fades below this fraction of --anchor-weight (0: it ends with the ramp)"""
    temperature_ramp: bool = False
    """the entropy temperature learns at the actor's ramped rate (q_lr scaled alike), not at q_lr from the first update:
    a near-deterministic start sits far below the target entropy, and at the full rate the temperature grows e-fold
    every ~1k updates while the ramped actor cannot yet answer"""
    lambda_td: float = 0.0
    """weight of fine-tuning's TD regularizer on the actor loss, eq. (6), as finetune_tdreg.py (0: off, plain SAC)"""
    hidden: int = 128
    """width of the two hidden layers of the actor and of each critic"""
    total_timesteps: int = 150_000
    """environment steps per task (paper: 750k: 500k before the first checkpoint, then 500 x 500)"""
    buffer_size: int = 1_000_000
    """replay buffer capacity per task"""
    gamma: float = 0.99
    """discount factor"""
    tau: float = 0.005
    """target network smoothing coefficient"""
    batch_size: int = 128
    """replay batch per task and update (Make-An-Agent's SAC)"""
    learning_starts: int = 5_000
    """steps before the first update: uniform-random actions, or the --init-from actor's samples"""
    policy_lr: float = 3e-4
    """actor learning rate"""
    q_lr: float = 3e-4
    """critic learning rate (Make-An-Agent's SAC; CleanRL uses 1e-3)"""
    policy_frequency: int = 2
    """the actor is updated this many times every this many steps (TD3-style delay)"""
    target_network_frequency: int = 2
    """target critics are updated every this many steps (Make-An-Agent's SAC)"""
    alpha: float = 0.2
    """entropy temperature, the starting value when --autotune"""
    autotune: bool = True
    """learn the entropy temperature towards target entropy -act_dim"""
    save_after: int = 100_500
    """step of the first kept checkpoint"""
    save_every: int = 500
    """steps between kept checkpoints (paper: 500)"""
    num_checkpoints: int = 100
    """checkpoints kept per task (paper: 500); metaworld: up to this many, a run ends once every task has them"""
    eval_episodes: int = 3
    """deterministic episodes that score each checkpoint (metaworld: one per goal, this is not used)"""
    eval_seed: int = 10_000
    """reset seed of evaluation episode e is eval_seed + e, the same for every checkpoint"""
    env_workers: int = -1
    """processes that step the training environments, each a share of the tasks (the same transitions as stepping them
    all here); 0: step them in this process; -1: one per 4 cores it may use (none on 2, where they measured no gain)"""
    eval_workers: int = -1
    """processes that score a checkpoint, each a share of the tasks, while training waits (the same scores: an evaluation
    draws no training randomness); 0: score in this process; -1: one per core it may use, at most one per task"""
    state_every: int = 5_000
    """steps between saves of the resume state"""
    log_every: int = 1_000
    """steps between progress lines on the terminal"""
    runs_dir: str = "runs"
    """tensorboard log root"""
    cuda: bool = True
    """use CUDA when it is available (CleanRL's flag); artifacts are always written with CPU tensors"""
    torch_deterministic: bool = True
    """torch.backends.cudnn.deterministic (CleanRL's flag)"""
    compile: bool = False
    """torch.compile the batched SAC update (LeanRL's pattern); off by default: compiling takes 30-60 s on a CPU"""
    cudagraphs: bool = False
    """with --compile on CUDA: compile in "reduce-overhead" mode, which replays the update as a CUDA graph"""
    bf16: bool = False
    """the update's hidden layers multiply in bfloat16 (torch.autocast; weights, optimizers, heads, Q-values and losses
    stay float32): about 2x faster updates on a CPU with AVX-512 BF16 or AMX, slower on one without; not bit-identical"""
    check_only: bool = False
    """check the arguments and the output folder, then exit without training (tools/launch_collect.py uses it)"""


# ----------------------------------------------------------------------------------------------
# SAC (CleanRL's sac_continuous_action.py) batched over K tasks: critics, replay buffers, the update (eq. 5); then
# fine-tuning's actor learning-rate ramp and TD term (eq. 6), which --init-from can switch on. finetune_tdreg.py keeps
# the same code (CleanRL's one file per algorithm); tests/test_finetune.py holds the two copies equal
# ----------------------------------------------------------------------------------------------
class SoftQNetwork(nn.Module):
    """Q(s, a): 2 hidden layers; with num_tasks=K, K independent critics on (K, batch, .)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int, num_tasks: int | None = None):
        super().__init__()
        self.fc1 = linear(obs_dim + act_dim, hidden, num_tasks)
        self.fc2 = linear(hidden, hidden, num_tasks)
        self.fc3 = linear(hidden, 1, num_tasks)

    def forward(self, x, a):
        x = torch.cat([x, a], -1)
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        with torch.autocast(x.device.type, enabled=False):  # Q in float32 under sac_collect.py --bf16 (TD errors are small)
            return self.fc3(x.float()).squeeze(-1)


class ReplayBuffer:
    """One ring buffer per task, stored together as (tasks, capacity, ...) tensors.

    All tasks step together, so they share the write position; each task samples its own indices.
    """

    FIELDS = ("obs", "next_obs", "actions", "rewards", "dones")

    def __init__(self, num_tasks: int, capacity: int, obs_dim: int, act_dim: int, device: torch.device = torch.device("cpu")):
        self.capacity, self.pos, self.size, self.device = capacity, 0, 0, device
        self.obs = torch.zeros(num_tasks, capacity, obs_dim, device=device)
        self.next_obs = torch.zeros(num_tasks, capacity, obs_dim, device=device)
        self.actions = torch.zeros(num_tasks, capacity, act_dim, device=device)
        self.rewards = torch.zeros(num_tasks, capacity, device=device)
        self.dones = torch.zeros(num_tasks, capacity, device=device)

    def add(self, obs, next_obs, actions, rewards, dones):
        for name, value in zip(self.FIELDS, (obs, next_obs, actions, rewards, dones)):
            getattr(self, name)[:, self.pos] = torch.as_tensor(value, dtype=torch.float32, device=self.device)
        self.pos = (self.pos + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int):
        num_tasks = self.obs.shape[0]
        idx = torch.randint(0, self.size, (num_tasks, batch_size)).to(self.device)  # (tasks, batch); CPU draw on any device
        rows = torch.arange(num_tasks, device=self.device).unsqueeze(1)
        # row k * capacity + i of the (tasks * capacity, ...) view is task k's entry i: the same values as indexing with
        # (rows, idx), ~3x faster at a 200k-entry buffer (one index_select per field instead of two-tensor indexing)
        flat = (rows * self.capacity + idx).flatten()
        fields = [getattr(self, name) for name in self.FIELDS]
        return [x.flatten(0, 1).index_select(0, flat).view(num_tasks, batch_size, *x.shape[2:]) for x in fields]

    def state_dict(self) -> dict:
        return {"pos": self.pos, "size": self.size, **{n: getattr(self, n)[:, : self.size].clone().cpu() for n in self.FIELDS}}

    def load_state_dict(self, state: dict):
        self.pos, self.size = state["pos"], state["size"]
        for name in self.FIELDS:
            getattr(self, name)[:, : self.size] = state[name]


def build_sac(
    actor: Actor, obs_dim: int, act_dim: int, args, num_tasks: int | None = None, device: torch.device = torch.device("cpu")
) -> tuple[dict, torch.Tensor]:
    """The SAC around `actor` (K = num_tasks task-batched, or one task): twin critics drawn from the
    current RNG, their target copies, Adam optimizers at args.policy_lr and args.q_lr, and the log
    temperatures (K,) (one for a single task) starting at log(args.alpha), learned when args.autotune."""
    qf1, qf2 = SoftQNetwork(obs_dim, act_dim, args.hidden, num_tasks), SoftQNetwork(obs_dim, act_dim, args.hidden, num_tasks)
    qf1_target, qf2_target = (
        SoftQNetwork(obs_dim, act_dim, args.hidden, num_tasks),
        SoftQNetwork(obs_dim, act_dim, args.hidden, num_tasks),
    )
    qf1_target.load_state_dict(qf1.state_dict())
    qf2_target.load_state_dict(qf2.state_dict())
    qf1_target.requires_grad_(False)  # moved by Polyak averaging only; the TD term differentiates through them to the actor
    qf2_target.requires_grad_(False)
    for net in (actor, qf1, qf2, qf1_target, qf2_target):  # drawn on the CPU, so a seed gives one init on every device
        net.to(device)
    log_alpha = torch.full((num_tasks or 1,), math.log(args.alpha), requires_grad=args.autotune, device=device)
    sac = {
        "actor": actor,
        "qf1": qf1,
        "qf2": qf2,
        "qf1_target": qf1_target,
        "qf2_target": qf2_target,
        # fused: one kernel per optimizer step instead of one per elementwise op and tensor (~1.1x updates/s, K = 16)
        "q_optimizer": torch.optim.Adam([*qf1.parameters(), *qf2.parameters()], lr=args.q_lr, fused=True),
        "actor_optimizer": torch.optim.Adam(actor.parameters(), lr=args.policy_lr, fused=True),
        "a_optimizer": torch.optim.Adam([log_alpha], lr=args.q_lr, fused=True),
    }
    return sac, log_alpha


def sac_update(
    step: int, batch: list, sac: dict, log_alpha: torch.Tensor, args, actor_penalty=None, update_actor: bool = True
) -> dict:
    """One SAC update of K tasks at once (CleanRL's sac_continuous_action.py); every loss is a sum of per-task means.

    `batch` holds (K, B, .) tensors (obs, next_obs, actions, rewards, dones), `sac` the networks and
    optimizers by name, `log_alpha` (K,) the temperatures; `args` gives gamma, tau, policy_frequency,
    target_network_frequency and autotune. `actor_penalty(batch, min_qf_pi, step)` -> ((K,) loss, logs) is
    added to the actor loss (fine-tuning's TD regularizer, eq. 6); with `update_actor` False only the critics
    and their targets move (a critic warm-up). Adam is elementwise, so one
    optimizer over the stacked parameters is K independent optimizers: task k's update is its
    single-task update (tested). Returns per-task losses, detached, for logging.
    """
    actor, qf1, qf2, qf1_target, qf2_target = (sac[k] for k in ("actor", "qf1", "qf2", "qf1_target", "qf2_target"))
    b_obs, b_next_obs, b_actions, b_rewards, b_dones = batch
    alpha = log_alpha.detach().exp()[:, None]  # (K, 1)
    # --- critic, eq. (5): soft Bellman target from the target critics and a fresh next action ---
    with torch.no_grad():
        next_actions, next_log_pi, _ = actor.get_action(b_next_obs)
        min_qf_next = torch.min(qf1_target(b_next_obs, next_actions), qf2_target(b_next_obs, next_actions))
        next_q_value = b_rewards + (1 - b_dones) * args.gamma * (min_qf_next - alpha * next_log_pi.squeeze(-1))  # (K, B)
    qf1_loss = ((qf1(b_obs, b_actions) - next_q_value) ** 2).mean(1)  # (K,)
    qf2_loss = ((qf2(b_obs, b_actions) - next_q_value) ** 2).mean(1)
    sac["q_optimizer"].zero_grad()
    (qf1_loss + qf2_loss).sum().backward()
    sac["q_optimizer"].step()
    logs = {"qf1_loss": qf1_loss.detach(), "qf2_loss": qf2_loss.detach()}

    # --- actor and temperature: TD3-style delayed update, compensated by policy_frequency steps ---
    if update_actor and step % args.policy_frequency == 0:
        for _ in range(args.policy_frequency):
            pi, log_pi, _ = actor.get_action(b_obs)
            min_qf_pi = torch.min(qf1(b_obs, pi), qf2(b_obs, pi))
            actor_loss = (alpha * log_pi.squeeze(-1) - min_qf_pi).mean(1)  # (K,)
            if actor_penalty is not None:
                penalty, penalty_logs = actor_penalty(batch, min_qf_pi, step)
                actor_loss = actor_loss + penalty
                logs.update(penalty_logs)
            sac["actor_optimizer"].zero_grad()
            # inputs=: gradients for the actor only; the critics' weight gradients, which CleanRL computes here and
            # the next critic step discards, are skipped (same update, ~10% fewer FLOPs)
            actor_loss.sum().backward(inputs=list(actor.parameters()))
            sac["actor_optimizer"].step()
            logs["actor_loss"] = actor_loss.detach()
            if args.autotune:  # towards the target entropy -act_dim
                with torch.no_grad():
                    _, log_pi, _ = actor.get_action(b_obs)
                target_entropy = -b_actions.shape[-1]  # -act_dim
                alpha_loss = (-log_alpha.exp()[:, None] * (log_pi.squeeze(-1) + target_entropy)).mean(1)
                sac["a_optimizer"].zero_grad()
                alpha_loss.sum().backward()
                sac["a_optimizer"].step()
                alpha = log_alpha.detach().exp()[:, None]

    # --- target critics: Polyak averaging ---
    if step % args.target_network_frequency == 0:
        with torch.no_grad():
            for net, target in ((qf1, qf1_target), (qf2, qf2_target)):
                for p, tp in zip(net.parameters(), target.parameters()):
                    tp.lerp_(p, args.tau)  # tp <- tau * p + (1 - tau) * tp
    return logs


def actor_lr(args, step: int) -> float:
    """The actor's learning rate at environment step `step` (fine-tuning's lambda_pi, eq. 6).

    Geometric (log-linear) from args.lr_start to args.policy_lr over the args.lr_ramp_steps steps after
    args.learning_starts and the args.critic_warmup critic-only updates, then constant; no ramp when lr_ramp_steps is
    0. Geometric, not linear: the paper ramps over two decades, and a linear ramp would pass 10x the start within its
    first 1% of steps, leaving a fresh critic no time at a small rate; a geometric one spends equal time in each decade.
    """
    if args.lr_ramp_steps == 0:
        return args.policy_lr
    return args.lr_start * (args.policy_lr / args.lr_start) ** ramp_fraction(args, step)


def ramp_fraction(args, step: int) -> float:
    """How far the ramp is at environment step `step`: 0 until args.learning_starts + args.critic_warmup, 1 after
    args.lr_ramp_steps more steps (args.lr_ramp_steps > 0)."""
    return min(max(step - args.learning_starts - args.critic_warmup, 0) / args.lr_ramp_steps, 1.0)


def set_actor_lr(sac: dict, args, step: int) -> None:
    """Sets the actor optimizer's rate to actor_lr(args, step); with args.temperature_ramp the temperature's rate
    follows the same ramp (args.q_lr times the actor rate's fraction of args.policy_lr)."""
    lr = actor_lr(args, step)
    for group in sac["actor_optimizer"].param_groups:
        group["lr"] = lr
    if args.temperature_ramp:
        for group in sac["a_optimizer"].param_groups:
            group["lr"] = args.q_lr * lr / args.policy_lr


def td_error(actor, qf1_target, qf2_target, batch: list, min_qf_pi: torch.Tensor, gamma: float) -> torch.Tensor:
    """Eq. (6)'s delta = r + gamma (1 - d) min_i Q'_i(s', a') - min_i Q_i(s, a), shape (K, B).

    (s, r, s', d) come from the replay batch; min_qf_pi = min_i Q_i(s, a) with a ~ pi(.|s) the SAC
    actor term's own reparameterized sample; a' ~ pi(.|s') is reparameterized too; Q_i are the twin
    critics, Q'_i the target critics. The gradient reaches the actor through a and a' only: the
    critics are not stepped by the actor's optimizer, and r, d carry none. The paper's delta has
    neither gamma nor the done mask; we use the critic's own bootstrap (eq. 5) without its entropy term.
    """
    _, b_next_obs, _, b_rewards, b_dones = batch
    next_pi, _, _ = actor.get_action(b_next_obs)
    min_qf_next = torch.min(qf1_target(b_next_obs, next_pi), qf2_target(b_next_obs, next_pi))
    return b_rewards + gamma * (1 - b_dones) * min_qf_next - min_qf_pi


def actor_penalty(sac: dict, args, anchor: Actor | None = None):
    """The terms fine-tuning adds to the actor loss, as sac_update's actor_penalty, per task with their logs: eq. (6)'s
    args.lambda_td * 0.5 * E[delta^2] (logged: delta's mean, > 0 when the target sits above Q(s, pi(s))), and with
    args.anchor_weight a pull toward the frozen `anchor` actor's deterministic actions on the replay states,
    args.anchor_weight * max(1 - ramp_fraction, args.anchor_floor) * E||mu(s) - mu_anchor(s)||^2 (not in the paper: the
    start is held while the actor's rate is small and released as the ramp ends, down to the floor). None when both are
    off."""
    if args.lambda_td == 0 and args.anchor_weight == 0:
        return None

    def penalty(batch: list, min_qf_pi: torch.Tensor, step: int):
        total, logs = torch.zeros_like(min_qf_pi[:, 0]), {}
        if args.lambda_td:
            delta = td_error(sac["actor"], sac["qf1_target"], sac["qf2_target"], batch, min_qf_pi, args.gamma)
            total, logs["td_error_mean"] = total + args.lambda_td * 0.5 * (delta**2).mean(1), delta.detach().mean(1)
        if args.anchor_weight:
            with torch.no_grad():
                target = anchor.act(batch[0])
            gap = ((sac["actor"].act(batch[0]) - target) ** 2).sum(-1).mean(1)  # (K,)
            weight = args.anchor_weight * max(1 - ramp_fraction(args, step), args.anchor_floor)
            total, logs["anchor_gap"] = total + weight * gap, gap.detach()
        return total, logs

    return penalty


def check_sac_args(who: str, args) -> None:
    """One-line errors for the SAC hyperparameters every SAC stage shares (check_args' messages)."""
    counts = ("hidden", "total_timesteps", "buffer_size", "batch_size", "policy_frequency", "target_network_frequency")
    check_args(
        who,
        args,
        at_least={**dict.fromkeys(counts, 1), "learning_starts": 0, "critic_warmup": 0},
        positive=("policy_lr", "q_lr", "alpha", "tau"),
        unit=("gamma", "tau"),
    )
    if args.learning_starts + args.critic_warmup >= args.total_timesteps:
        warmup = f" + --critic-warmup {args.critic_warmup}" if args.critic_warmup else ""
        raise SystemExit(
            f"{who}: --learning-starts {args.learning_starts}{warmup}: expected fewer than --total-timesteps "
            f"{args.total_timesteps}, or " + ("the actor is never updated" if warmup else "no update ever runs")
        )


def check_lr_ramp(who: str, args) -> None:
    """One-line errors for the actor learning-rate ramp's arguments (actor_lr)."""
    check_args(who, args, at_least={"lr_ramp_steps": 0}, positive=("lr_start",))
    if args.lr_start > args.policy_lr:
        raise SystemExit(f"{who}: --lr-start {args.lr_start}: expected 0 < lr-start <= --policy-lr {args.policy_lr}")
    if args.temperature_ramp and not args.lr_ramp_steps:
        raise SystemExit(f"{who}: --temperature-ramp: follows the actor's ramp, expected --lr-ramp-steps > 0")
    if args.anchor_weight and not args.lr_ramp_steps:
        raise SystemExit(f"{who}: --anchor-weight {args.anchor_weight}: fades over the ramp, expected --lr-ramp-steps > 0")
    if not 0 <= args.anchor_floor <= 1:
        raise SystemExit(f"{who}: --anchor-floor {args.anchor_floor}: expected a fraction of --anchor-weight in [0, 1]")


# ----------------------------------------------------------------------------------------------
# Plumbing: inputs, outputs
# ----------------------------------------------------------------------------------------------
def finished_tasks(folder: str, args: Args) -> set:
    """Indices already collected in `folder`; refuses a folder holding another suite or actor size."""
    done = set()
    if not os.path.isdir(folder):
        return done
    for name in sorted(os.listdir(folder)):
        if not (name.startswith("task_") and name.endswith(".pt")):
            continue
        path = os.path.join(folder, name)
        data = load_policies(path, WHO)
        if data["task"]["suite"] != args.suite:
            raise SystemExit(f"{WHO}: --out {args.out}: {path} is from suite {data['task']['suite']!r}, not {args.suite!r}")
        if data["actor_args"]["hidden"] != args.hidden:
            raise SystemExit(
                f"{WHO}: --out {args.out}: {path} has actor hidden={data['actor_args']['hidden']}, not --hidden {args.hidden}"
            )
        done.add(data["task"]["index"])
    return done


def start_workers(target, tasks: list, workers: int) -> tuple[list, list]:
    """`workers` spawned processes (at most one per task), each running target(conn, its contiguous share of `tasks`);
    returns the shares (task positions) and this side's pipes, in the same order."""
    shares, conns = [s.tolist() for s in np.array_split(np.arange(len(tasks)), min(workers, len(tasks)))], []
    for share in shares:
        here, there = multiprocessing.get_context("spawn").Pipe()
        args = (there, [tasks[k] for k in share])
        multiprocessing.get_context("spawn").Process(target=target, args=args, daemon=True).start()
        conns.append(here)
    return shares, conns


def gather(conns: list, hint: str) -> list:
    """Every worker's reply, in the workers' order; a worker that died stops the run in one line ending in `hint`."""
    try:
        return [conn.recv() for conn in conns]
    except (EOFError, ConnectionError) as e:
        raise SystemExit(f"{WHO}: a worker process stopped ({e!r}); {hint}")


def environment_worker(conn, tasks: list) -> None:
    """A process stepping a share of the training environments (common.ReplayableEnvs)."""
    envs = ReplayableEnvs(tasks)
    conn.send((envs.single_observation_space, envs.single_action_space))
    try:
        while (command := conn.recv()) is not None:
            if command[0] == "reset":
                conn.send(envs.reset(seed=command[1])[0])
            elif command[0] == "episodes":
                conn.send(envs.episodes())
            elif command[0] == "replay":
                conn.send(envs.replay(command[1]))
            else:  # a step: what the trainer reads of it, the final observations of the episodes that ended included
                obs, rewards, terminations, truncations, infos = envs.step(command[1])
                conn.send((obs, rewards, terminations, truncations, infos.get("final_obs")))
    except (EOFError, KeyboardInterrupt):  # the trainer is gone, or Ctrl-C reached the whole process group
        pass
    envs.close()


class EnvironmentWorkers:
    """The K training environments stepped by `workers` processes (spawned), each a contiguous share of the tasks, all
    at once: ReplayableEnvs' reset, step, episodes and replay over all K, the same transitions (environment k is seeded
    seed + k)."""

    HINT = "--env-workers 0 steps the environments in this process"

    def __init__(self, workers: int, tasks: list):
        self.shares, self.conns = start_workers(environment_worker, tasks, workers)
        self.single_observation_space, self.single_action_space = gather(self.conns, self.HINT)[0]

    def reset(self, seed: int):
        for conn, share in zip(self.conns, self.shares):
            conn.send(("reset", [seed + k for k in share]))
        return np.concatenate(gather(self.conns, self.HINT)), {}

    def episodes(self) -> list:
        for conn in self.conns:
            conn.send(("episodes",))
        return [e for part in gather(self.conns, self.HINT) for e in part]

    def replay(self, episodes: list) -> np.ndarray:
        for conn, share in zip(self.conns, self.shares):
            conn.send(("replay", [episodes[k] for k in share]))
        return np.concatenate(gather(self.conns, self.HINT))

    def step(self, actions: np.ndarray):
        for conn, share in zip(self.conns, self.shares):
            conn.send(("step", actions[share]))
        parts = gather(self.conns, self.HINT)
        final_obs = np.full(len(actions), None, dtype=object)
        for share, part in zip(self.shares, parts):
            if part[4] is not None:
                final_obs[share] = part[4]
        obs, rewards, terminations, truncations = (np.concatenate([p[i] for p in parts]) for i in range(4))
        return obs, rewards, terminations, truncations, {"final_obs": final_obs}

    def close(self) -> None:
        for conn in self.conns:
            conn.send(None)


def score(actor_args: dict, params: torch.Tensor, tasks: list, episodes: int, seed: int, behavior: bool, pool: dict):
    """common.evaluate of the K flat actors `params` (K, P) on their tasks, in whichever process runs it."""
    with torch.random.fork_rng(devices=[]):  # its initialization is overwritten: leave the training stream alone
        actor = Actor(**actor_args, num_tasks=len(tasks))
    return evaluate(load_flat_params(actor, params), tasks, episodes, seed, behavior=behavior, pool=pool)


def evaluation_worker(conn, tasks: list) -> None:
    """An evaluation process: scores its tasks' actors with one torch thread, their environments built once, up front."""
    torch.set_num_threads(1)
    pool = {task: [make_env(task)] for task in tasks}
    conn.send("ready")
    try:
        while (job := conn.recv()) is not None:
            conn.send(score(*job, pool=pool))
    except (EOFError, KeyboardInterrupt):  # the trainer is gone, or Ctrl-C reached the whole process group
        pass
    close_envs(pool)


class Evaluations:
    """Checkpoint scoring spread over `workers` processes (spawned, each scoring a contiguous share of the tasks, its
    environments built once and kept); the trainer waits for them, so each phase of a step (environments, update,
    evaluation) has the machine to itself. With 0 workers, this process scores. Either way the scores are
    common.evaluate's, task by task, and an evaluation draws no training randomness."""

    HINT = "--eval-workers 0 scores checkpoints in this process"

    def __init__(self, workers: int, tasks: list, actor_args: dict, episodes: int, seed: int, behavior: bool):
        self.job, self.tasks, self.pool = (actor_args, episodes, seed, behavior), tasks, {}
        self.shares, self.conns = start_workers(evaluation_worker, tasks, workers) if workers else ([], [])
        gather(self.conns, self.HINT)  # each worker is ready: its imports and environments do not slow training's start

    def __call__(self, params: torch.Tensor):
        """The scores of the K flat actors `params` (K, P): (K, episodes) returns, or a dict of (K, ...) arrays."""
        actor_args, episodes, seed, behavior = self.job
        if not self.conns:
            return score(actor_args, params, self.tasks, episodes, seed, behavior, self.pool)
        for conn, share in zip(self.conns, self.shares):
            conn.send((actor_args, params[share], [self.tasks[k] for k in share], episodes, seed, behavior))
        parts = gather(self.conns, self.HINT)
        if isinstance(parts[0], dict):
            return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
        return np.concatenate(parts)

    def close(self) -> None:
        for conn in self.conns:
            conn.send(None)
        close_envs(self.pool)


def scripted_policy(task):
    """MetaWorld's scripted expert of the task (metaworld.policies), e.g. SawyerDoorOpenV3Policy."""
    return getattr(metaworld.policies, "Sawyer" + "".join(w.capitalize() for w in task.name.split("-")) + "V3Policy")()


def validate(args: Args) -> tuple[list, dict | None, int]:
    """One-line errors for bad arguments, --init-from and an unusable --out, before anything is built;
    returns the tasks, the checked --init-from policy file (None without one) and which of its policies."""
    suite = get_suite(args.suite)
    if not args.task_ids:
        raise SystemExit(f"{WHO}: --task-ids: give at least one task")
    ids = [task_index(args.suite, i) for i in args.task_ids]
    if len(set(ids)) != len(ids):
        raise SystemExit(f"{WHO}: --task-ids {list(args.task_ids)}: repeated task")
    if suite.has_success and not args.goal_seeds:
        raise SystemExit(f"{WHO}: --goal-seeds: give at least one goal seed (Make-An-Agent: 720 920)")
    if suite.has_success and len(set(args.goal_seeds)) != len(args.goal_seeds):
        raise SystemExit(f"{WHO}: --goal-seeds {list(args.goal_seeds)}: repeated goal seed")
    if not suite.has_success and args.scripted_steps:
        raise SystemExit(f"{WHO}: --scripted-steps: only metaworld has scripted policies, not {args.suite}")
    if args.compile and args.lr_ramp_steps:
        raise SystemExit(f"{WHO}: --lr-ramp-steps {args.lr_ramp_steps}: not with --compile (each new rate would recompile)")
    if args.compile and args.lambda_td:
        raise SystemExit(f"{WHO}: --lambda-td {args.lambda_td}: not with --compile (the TD term is not compiled)")
    if args.anchor_weight and (args.compile or not args.init_from):
        raise SystemExit(
            f"{WHO}: --anchor-weight {args.anchor_weight}: needs --init-from (a start to pull toward), not --compile"
        )
    if args.cudagraphs and not args.compile:
        raise SystemExit(f"{WHO}: --cudagraphs: needs --compile (the graph is captured by torch.compile)")
    if args.cudagraphs and not (args.cuda and torch.cuda.is_available()):
        raise SystemExit(f"{WHO}: --cudagraphs: needs a CUDA device (--cuda, and torch sees none here)")
    check_sac_args(WHO, args)
    check_lr_ramp(WHO, args)
    check_args(
        WHO,
        args,
        at_least={
            **dict.fromkeys(("save_every", "num_checkpoints", "eval_episodes", "state_every", "log_every"), 1),
            "eval_workers": -1,
            "env_workers": -1,
        },
        non_negative=("scripted_steps", "scripted_noise", "lambda_td", "anchor_weight"),
        unit=("success_threshold",),
    )
    check_output(WHO, "--out", os.path.join(args.out, args.suite, f"task_{ids[0]:02d}.pt"))
    # a success-gated suite keeps checkpoints "up to" the count: only its first chance must fall inside the run
    last = args.save_after + (0 if suite.has_success else (args.num_checkpoints - 1) * args.save_every)
    if args.save_after < 1 or last > args.total_timesteps:
        raise SystemExit(
            f"{WHO}: --save-after {args.save_after}: the last of --num-checkpoints {args.num_checkpoints} "
            f"(every --save-every {args.save_every}) falls at step {last}, "
            f"expected 1 <= step <= --total-timesteps {args.total_timesteps}"
        )
    source, init_index = None, args.init_index  # the policy every task's actor starts from
    if args.init_from:
        source, init_index = load_start_policy(args.init_from, args.init_index, args.suite, WHO, "--init-from", "--init-index")
    tasks = [get_task(args.suite, i, goals=args.goal_seeds if suite.has_success else ()) for i in ids]
    return tasks, source, init_index


def keep_checkpoints(checkpoint: dict, result, kept: list, steps_to_success: list, writers: list, tasks: list, args) -> None:
    """Logs one checkpoint step's scores (common.evaluate's `result`) and appends to kept[k] the checkpoint of every task
    k that wanted one: every checkpoint, or on MetaWorld those from the task's first success on (paper VI-B)."""
    step, has_success = checkpoint["step"], isinstance(result, dict)
    returns = result["returns"] if has_success else result  # (K, episodes)
    for k in checkpoint["wanting"]:
        writers[k].add_scalar("eval/checkpoint_return", returns[k].mean(), step)
        if has_success:
            success = result["success"][k].mean()
            writers[k].add_scalar("eval/success", success, step)
            if steps_to_success[k] < 0 and success < args.success_threshold:
                continue  # MetaWorld: checkpoints are kept once the task first succeeds (paper VI-B)
            if steps_to_success[k] < 0:
                steps_to_success[k] = step
                print(f"{WHO}: {tasks[k].name} reached success {success:.2f} at step {step}", flush=True)
            if args.keep == "successful" and success < args.success_threshold:
                continue  # a later checkpoint that fails its goals is not an expert
        ckpt = {"step": step, "params": checkpoint["params"][k].clone(), "episode_returns": torch.tensor(returns[k]).float()}
        ckpt["alpha"] = checkpoint["alpha"][k].clone()  # its temperature, where a fine-tuning may start it
        if has_success:
            for name in ("success", "first_success", "trajectory", "success_states"):
                ckpt[name] = torch.as_tensor(result[name][k])
        kept[k].append(ckpt)


def main(args: Args) -> dict:
    # --- load and validate inputs (one-line errors, nothing trained yet) ---
    all_tasks, source, init_index = validate(args)
    suite = get_suite(args.suite)
    folder = os.path.join(args.out, args.suite)
    done = finished_tasks(folder, args)
    if args.check_only:
        print(f"{WHO}: arguments and {folder} checked; nothing trained (--check-only)")
        return {"files": [], "sps": 0.0, "update_sps": 0.0}
    tasks = [t for t in all_tasks if t.index not in done]
    if len(tasks) < len(all_tasks):
        print(f"{WHO}: skipping finished tasks {sorted(done & {t.index for t in all_tasks})} in {folder}")
    if not tasks:
        return {"files": [], "sps": 0.0, "update_sps": 0.0}
    num_tasks = len(tasks)
    ids = "-".join(str(t.index) for t in tasks)
    state_path = os.path.join(folder, f".resume_{ids}.pt")
    report_path = os.path.join(folder, f"collect_{ids}.json")
    check_output(WHO, "--out (report)", report_path)
    episodes = len(args.goal_seeds) if suite.has_success else args.eval_episodes  # MetaWorld: one episode per goal

    # --- environments: one per task, stepped together; same-step autoreset keeps the final obs ---
    cores = len(os.sched_getaffinity(0))  # the cores this process may run on (a Slurm job's share, not the node's)
    workers = cores // 4 if args.env_workers < 0 else args.env_workers
    envs = EnvironmentWorkers(workers, tasks) if workers else ReplayableEnvs(tasks)
    obs_dim = envs.single_observation_space.shape[0]
    act_dim = envs.single_action_space.shape[0]
    action_low = envs.single_action_space.low.tolist()
    action_high = envs.single_action_space.high.tolist()
    actor_args = {
        "obs_dim": obs_dim,
        "act_dim": act_dim,
        "hidden": args.hidden,
        "action_low": action_low,
        "action_high": action_high,
    }

    if source is not None and source["actor_args"] != actor_args:
        raise SystemExit(
            f"{WHO}: --init-from {args.init_from}: its actor {source['actor_args']} does not fit these tasks' actor "
            f"{actor_args} (--hidden, the suite's spaces)"
        )
    claim_output(WHO, "--out", state_path)  # the tasks' files, their report and resume state: one run at a time

    # --- networks: one shared initialization for every task (one basin), or one per task ---
    torch.manual_seed(args.init_seed)
    actor = Actor(**actor_args, num_tasks=num_tasks)
    device = pick_device(args.cuda, args.torch_deterministic)
    sac, log_alpha = build_sac(actor, obs_dim, act_dim, args, num_tasks, device)  # critics, targets, optimizers, temperatures
    if args.shared_init:  # copy task 0's draw to every task; qf1 and qf2 still differ from each other
        with torch.no_grad():
            for name in ("actor", "qf1", "qf2", "qf1_target", "qf2_target"):
                for p in sac[name].parameters():
                    p.copy_(p[:1].expand_as(p))
    if source is not None:  # one basin by construction: every task fine-tunes the same policy
        load_flat_params(actor, source["params"][init_index].to(device).expand(num_tasks, -1))
    set_actor_lr(sac, args, 0)
    anchor = copy.deepcopy(actor).requires_grad_(False) if args.anchor_weight else None  # the start, frozen
    penalty = actor_penalty(sac, args, anchor)  # eq. (6) and the anchor on the actor loss; None when both are off
    rb = ReplayBuffer(num_tasks, min(args.buffer_size, args.total_timesteps), obs_dim, act_dim, device)
    low, high = torch.tensor(action_low), torch.tensor(action_high)
    scripted = [scripted_policy(t) for t in tasks] if args.scripted_steps else []
    workers = min(cores, num_tasks) if args.eval_workers < 0 else args.eval_workers
    evaluations = Evaluations(workers, tasks, actor_args, episodes, args.eval_seed, suite.has_success)

    # the same function, traced and fused; --cudagraphs: also captured once and replayed as a CUDA graph
    update = torch.compile(sac_update, mode="reduce-overhead" if args.cudagraphs else None) if args.compile else sac_update

    # --- resume: a killed run continues from its last saved state ---
    torch.manual_seed(args.seed)
    stateful = {**sac, "buffer": rb}
    inputs = fingerprint([args.init_from] if source is not None else [])
    state = resume_training_state(state_path, args, stateful, inputs, WHO, ("episodes", "episode_return"))
    # kept[k]: task k's checkpoints so far, each {"step", "params", "episode_returns"} (+ MetaWorld's success and
    # behaviour pieces); steps_to_success[k]: step of the evaluation that first met --success-threshold (-1: not yet)
    start_step, kept, steps_to_success = 0, [[] for _ in tasks], [-1] * num_tasks
    run_name = f"{args.suite}__sac_collect__{args.seed}__{time.time_ns()}"
    if state is not None:
        with torch.no_grad():
            log_alpha.copy_(state["log_alpha"])
        start_step, run_name = state["step"], state["run_name"]
        kept, steps_to_success = state["kept"], state["steps_to_success"]

    writers = [
        SummaryWriter(os.path.join(args.runs_dir, run_name, f"task_{t.index:02d}"), purge_step=start_step or None)
        for t in tasks
    ]
    writers[0].add_text("hyperparameters", "|param|value|\n|-|-|\n" + "\n".join(f"|{k}|{v}|" for k, v in vars(args).items()))

    obs, _ = envs.reset(seed=args.seed)
    episode_return = np.zeros(num_tasks)
    if state is not None:  # back into the episodes it stopped in: a resumed run steps on as if never stopped
        obs, episode_return = envs.replay(state["episodes"]), state["episode_return"].numpy()
    start_time = window_time = time.time()
    # the training speed: whole steps (acting, environments, update, evaluation, logging) once updates run, and where
    # this process spends them; the first WARM_UPDATES updates compile (--compile) and warm caches, so they are left out
    update_time, update_steps, window_step = 0.0, 0, start_step
    seconds = dict.fromkeys(("environment", "update", "evaluation"), 0.0)
    for global_step in range(start_step, args.total_timesteps):
        step_start = time.time()
        # --- ALGO: act (MetaWorld's scripted policy, then before learning starts uniform random or the --init-from
        # actor's samples: its critic learns from the policy it will improve), step, store ---
        if global_step < args.scripted_steps:  # seeding: the experts stay SAC policies, trained on this data too
            actions = torch.tensor(np.stack([p.get_action(o) for p, o in zip(scripted, obs)]), dtype=torch.float32)
            actions = (actions + args.scripted_noise * torch.randn_like(actions)).clamp(low, high)
        elif global_step < args.learning_starts and source is None:
            actions = low + (high - low) * torch.rand(num_tasks, act_dim)
        else:
            with torch.no_grad():
                actions, _, _ = actor.get_action(torch.as_tensor(obs, dtype=torch.float32, device=device).unsqueeze(1))
            actions = actions.squeeze(1)
        actions = actions.cpu().numpy()
        next_obs, rewards, terminations, truncations, infos = envs.step(actions)
        ended = terminations | truncations
        real_next_obs = next_obs.copy()  # the obs the episode ended in, not the reset obs
        if ended.any():
            real_next_obs[ended] = np.stack(infos["final_obs"][ended])
        # only a true termination cuts the bootstrap; a time-limit truncation does not
        rb.add(obs, real_next_obs, actions, rewards, terminations)
        obs = next_obs
        episode_return += rewards
        for k in np.flatnonzero(ended):
            writers[k].add_scalar("charts/episodic_return", episode_return[k], global_step)
            episode_return[k] = 0.0
        timed = global_step >= args.learning_starts + WARM_UPDATES
        seconds["environment"] += (time.time() - step_start) * timed

        # --- ALGO: SAC update of all K tasks at once (sac_update above: critic eq. 5, actor, temperature, targets) ---
        if global_step >= args.learning_starts:
            if args.lr_ramp_steps and global_step % args.policy_frequency == 0:  # this step's actor rate
                set_actor_lr(sac, args, global_step)
            actor_moves = global_step >= args.learning_starts + args.critic_warmup  # after the critic warm-up
            update_start = time.time()
            # no cast cache: the optimizer steps inside one update change weights whose first cast it would keep
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16, cache_enabled=False):
                losses = update(global_step, rb.sample(args.batch_size), sac, log_alpha, args, penalty, actor_moves)
            seconds["update"] += (time.time() - update_start) * timed
            if global_step % 100 == 0:
                stop_if_diverged(WHO, global_step, losses, state_path)
                alpha = log_alpha.detach().exp()
                for k, w in enumerate(writers):
                    for name in ("qf1_loss", "qf2_loss", "actor_loss", "td_error_mean", "anchor_gap"):
                        if name in losses:  # the actor is updated every --policy-frequency steps
                            w.add_scalar(f"losses/{name}", losses[name][k].item(), global_step)
                    w.add_scalar("losses/alpha", alpha[k].item(), global_step)

        # --- evaluate, then keep and log a checkpoint of every task that still wants one ---
        step = global_step + 1
        wanting = [k for k in range(num_tasks) if len(kept[k]) < args.num_checkpoints]
        complete = False
        if step >= args.save_after and (step - args.save_after) % args.save_every == 0 and wanting:
            eval_start = time.time()
            params = flatten_params(actor).cpu()
            checkpoint = {"step": step, "params": params, "alpha": log_alpha.detach().exp().cpu(), "wanting": wanting}
            keep_checkpoints(checkpoint, evaluations(params), kept, steps_to_success, writers, tasks, args)
            seconds["evaluation"] += (time.time() - eval_start) * timed
            complete = suite.has_success and all(len(c) == args.num_checkpoints for c in kept)  # MetaWorld: stop early

        # --- plumbing: resume state, progress ---
        if step % args.state_every == 0 and step < args.total_timesteps and not complete:
            save_training_state(
                state_path,
                args,
                step,
                stateful,
                inputs,
                WHO,
                log_alpha=log_alpha.detach().clone(),
                run_name=run_name,
                kept=kept,
                steps_to_success=steps_to_success,
                episodes=envs.episodes(),
                episode_return=torch.from_numpy(episode_return),
            )
        if step % args.log_every == 0 or step == args.total_timesteps:
            now = time.time()
            sps = (step - window_step) / max(now - window_time, 1e-9)
            # warm-up steps are far cheaper than update steps: no ETA until updates run
            eta = (
                f"ETA {(args.total_timesteps - step) / max(sps, 1e-9) / 60:.1f} min"
                if step > args.learning_starts
                else "warm-up (no updates yet)"
            )
            last = [c[-1]["episode_returns"].mean().item() for c in kept if c]
            last = f" | checkpoints {sum(map(len, kept))}, mean last return {np.mean(last):.1f}" if last else ""
            if suite.has_success:
                last += f" | {sum(s >= 0 for s in steps_to_success)}/{num_tasks} tasks succeeded"
            print(f"step {step}/{args.total_timesteps} | {sps:.0f} steps/s x {num_tasks} tasks | {eta}{last}", flush=True)
            for w in writers:
                w.add_scalar("charts/SPS", sps, step)
            window_time, window_step = now, step
        update_time, update_steps = update_time + (time.time() - step_start) * timed, update_steps + timed
        if complete:
            print(f"{WHO}: every task has its {args.num_checkpoints} checkpoints at step {step}; stopping early")
            break

    # --- save: one self-describing file per task that kept checkpoints, atomically; a report; drop the resume state ---
    layout = actor_layout(actor)
    origin = {"stage": WHO, "seed": args.seed, "init_seed": args.init_seed, "shared_init": args.shared_init}
    if source is not None:
        origin.update(init_from=os.path.abspath(args.init_from), init_index=init_index, init_task=source["task"]["index"])
    files, report = [], {"suite": args.suite, "steps": step, "wall_s": None, "tasks": {}}
    for k, task in enumerate(tasks):
        ckpts = kept[k]
        report["tasks"][task.name] = {"index": task.index, "steps_to_success": steps_to_success[k], "checkpoints": len(ckpts)}
        if not ckpts:  # reported, not hidden: a MetaWorld task that never reached --success-threshold in the budget
            print(f"{WHO}: {task.name}: no checkpoint kept in {step} steps (never reached success {args.success_threshold})")
            continue
        # has the expert converged? the kept checkpoints' returns, and their drift from the first half to the second
        returns = np.array([c["episode_returns"].mean().item() for c in ckpts])
        half = (len(returns) + 1) // 2
        first, second = float(returns[:half].mean()), float(returns[half:].mean()) if len(returns) > 1 else None
        report["tasks"][task.name].update(
            return_best=float(returns.max()),
            return_last=float(returns[-1]),
            return_mean=float(returns.mean()),
            return_std=float(returns.std()),
            return_first_half=first,
            return_second_half=second,
        )
        extra = {"steps": torch.tensor([c["step"] for c in ckpts])}
        if all("alpha" in c for c in ckpts):  # (a run resumed from a state of an older build has none)
            extra["alpha"] = torch.stack([c["alpha"] for c in ckpts])
        if suite.has_success:
            extra.update({name: torch.stack([c[name] for c in ckpts]) for name in ("success", "first_success")})
            extra.update({name: torch.stack([c[name] for c in ckpts]) for name in ("trajectory", "success_states")})
            extra["steps_to_success"] = steps_to_success[k]
            report["tasks"][task.name]["success_last"] = ckpts[-1]["success"].tolist()
        path = os.path.join(folder, f"task_{task.index:02d}.pt")
        episode_returns = torch.stack([c["episode_returns"] for c in ckpts])
        params = torch.stack([c["params"] for c in ckpts])
        save_atomic(
            policy_file(task, actor_args, layout, params, episode_returns, args.eval_seed, origin, args, **extra), path, WHO
        )
        files.append(path)
        print(
            f"{WHO}: {path}: {len(ckpts)} checkpoints, return best {returns.max():.1f}, last {returns[-1]:.1f}, "
            f"mean {returns.mean():.1f}" + (f" (first half {first:.1f}, second {second:.1f})" if second is not None else "")
        )
    elapsed = time.time() - start_time
    report.update(wall_s=elapsed, sps=(step - start_step) / elapsed, update_sps=update_steps / max(update_time, 1e-9))
    report["timed_steps"] = update_steps
    report["seconds"] = {**seconds, "other": update_time - sum(seconds.values())}  # of update_time; workers' time not in it
    shares = ", ".join(f"{name} {t / max(update_time, 1e-9):.0%}" for name, t in report["seconds"].items())
    print(f"{WHO}: {report['update_sps'] * num_tasks:.0f} task-steps/s while training ({shares} of this process's time)")
    write_json_atomic(report_path, report, WHO)
    if os.path.exists(state_path):
        os.remove(state_path)
    envs.close()
    evaluations.close()
    for w in writers:
        w.close()
    return {"files": files, "sps": report["sps"], "update_sps": report["update_sps"], "report": report}


if __name__ == "__main__":
    main(tyro.cli(Args))
