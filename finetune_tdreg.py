# GenHyper stage 4: TD-regularized fine-tuning of a generated policy on one task (paper IV-B,
# eqs. 5-6, Fig. 4; results VII-B, Fig. 6). The collector's SAC (the same code, below) on one task whose
# actor starts from a policy file: one HypLatent generated for the task (or an expert checkpoint, or
# an earlier fine-tuned actor), or from scratch; with a freshly initialized critic, an actor learning
# rate ramped up while the critic catches up, and a TD penalty in the actor loss. The deterministic
# policy is evaluated from step 0 on, so the zero-shot return is the first point of the curve.
# Reads: a policy file (common.policy_file): <hyplatent>_generated/task_XX.pt, a collection's task_XX.pt,
# or another run of this script.  Writes: a policy file with the final actor, plus the evaluation
# curve; a resume state <out>.state.pt while running. tools/plot_finetune.py turns several into Fig. 6.
#   python finetune_tdreg.py --task-id 23 --policy artifacts/cv10_hyplatent_generated/task_23.pt --policy-index 0
import copy
import math
import os
import time
from dataclasses import dataclass
from typing import Literal

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
    evaluate,
    fingerprint,
    flatten_params,
    get_suite,
    get_task,
    linear,
    load_flat_params,
    load_start_policy,
    pick_device,
    policy_file,
    resume_training_state,
    save_atomic,
    save_training_state,
    stop_if_diverged,
    task_index,
)

WHO = "finetune_tdreg"
# what a policy file's origin stage makes of a run, in its label and default file name
INIT_NAMES = {"sac_collect": "expert", "hyplatent_train": "generated", "hypformer_train": "generated", WHO: "finetuned"}


@dataclass
class Args:
    suite: str = "cheetah-vel"
    """task suite: cheetah-vel or ant-dir"""
    task_id: int | str = 23
    """the task to fine-tune on (default: a held-out Cheetah-Vel test task)"""
    init: Literal["policy", "scratch"] = "policy"
    """where the actor starts: a policy of the file --policy, or a fresh init"""
    policy: str = "artifacts/hyplatent_generated/task_23.pt"
    """policy file: generated (<hyplatent>_generated/task_XX.pt), an expert collection's task_XX.pt, or a fine-tuned run"""
    policy_index: int = -1
    """which policy of the file (-1: the best stored return; a generated file's returns come from the task itself)"""
    out: str = ""
    """where the run is written (empty: artifacts/finetune/<suite>_task<id>_<init>[_notd][_noramp]_seed<seed>.pt)"""
    seed: int = 1
    """seed of the critics' (and a scratch actor's) initialization, then of the environment, exploration and replay"""
    hidden: int = 128
    """width of the critics' hidden layers, and of the actor's with --init scratch (else the policy file's)"""
    total_timesteps: int = 50_000
    """environment steps of fine-tuning"""
    buffer_size: int = 1_000_000
    """replay buffer capacity"""
    gamma: float = 0.99
    """discount factor, in the critic target (eq. 5) and in the TD error delta (eq. 6)"""
    tau: float = 0.005
    """target network smoothing coefficient"""
    batch_size: int = 128
    """replay batch per update (as sac_collect.py)"""
    learning_starts: int = 5_000
    """steps collected before the first update (CleanRL's and sac_collect.py's default)"""
    warmup_actions: Literal["auto", "uniform", "policy"] = "auto"
    """actions before --learning-starts: uniform random (CleanRL), the initial actor's samples, or auto: uniform for scratch"""
    policy_lr: float = 3e-4
    """actor learning rate at the end of the ramp (paper: 3e-4)"""
    lr_start: float = 3e-6
    """actor learning rate at the first update (paper: 3e-6)"""
    lr_ramp_steps: int = 40_000
    """steps after --learning-starts over which the actor lr rises geometrically to --policy-lr (0: no ramp)"""
    critic_warmup: int = 0
    """updates after --learning-starts that train only the critics, the actor and temperature held as they start; the
    actor's ramp begins after them (0: none, the paper)"""
    anchor_weight: float | None = None
    """weight of a pull toward the starting actor's deterministic actions on replay states, fading over the ramp to
    --anchor-floor times itself (default: 100 from a generated policy with a ramp, 0 from a SAC checkpoint, both chosen
    on training tasks, docs/experiments/finetuning.md; 0: off, the paper, and from scratch)"""
    anchor_floor: float = 0.1
    """the anchor's weight never fades below this fraction of --anchor-weight (0: it ends with the ramp; 0.1 chosen on
    a training task: a generated start held by the anchor collapsed when it faded out)"""
    temperature_ramp: bool = False
    """the entropy temperature learns at the actor's ramped rate (q_lr scaled alike), not at q_lr from the first update:
    a near-deterministic start sits far below the target entropy, and at the full rate the temperature grows e-fold
    every ~1k updates while the ramped actor cannot yet answer"""
    q_lr: float = 3e-4
    """critic learning rate (as sac_collect.py)"""
    lambda_td: float = 10.0
    """weight of the TD regularizer 0.5 * delta^2 in the actor loss, eq. (6) (0: off)"""
    policy_frequency: int = 2
    """the actor is updated this many times every this many steps (TD3-style delay)"""
    target_network_frequency: int = 2
    """target critics are updated every this many steps"""
    alpha: float | None = None
    """entropy temperature, the starting value when --autotune (default: 0.01 from a policy, chosen on a training task,
    docs/experiments/finetuning.md; 0.2 from scratch, as the collector and the paper's SAC)"""
    policy_alpha: bool = False
    """start the temperature at the policy's own, as its file records it (the collector's checkpoints do), not --alpha"""
    autotune: bool = True
    """learn the entropy temperature towards target entropy -act_dim"""
    eval_every: int = 1_000
    """steps between deterministic evaluations; the first is at step 0, before any update"""
    eval_episodes: int = 5
    """deterministic episodes per evaluation"""
    eval_seed: int = 10_000
    """reset seed of evaluation episode e is eval_seed + e, the same at every evaluation (and in hyplatent_train.py)"""
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


# ----------------------------------------------------------------------------------------------
# SAC (CleanRL's sac_continuous_action.py, as sac_collect.py runs it; one task here): critics, the replay buffer, the
# update (eq. 5); then fine-tuning's actor learning-rate ramp (lambda_pi) and TD regularizer (eq. 6). The same code as
# sac_collect.py's (CleanRL's one file per algorithm); tests/test_finetune.py holds the two copies equal
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
def init_name(source: dict | None) -> str:
    """What the actor starts from, in words: scratch, expert, generated or finetuned."""
    return "scratch" if source is None else INIT_NAMES.get(source["origin"].get("stage"), "policy")


def label_of(args: Args, init: str) -> str:
    """What a run is in a legend: the init and the fine-tuning ingredients that are on."""
    parts = [init] + (["TD reg"] if args.lambda_td > 0 else []) + (["lr ramp"] if args.lr_ramp_steps > 0 else [])
    parts += [f"critic warm-up {args.critic_warmup}"] if args.critic_warmup else []
    alpha = f"alpha {args.alpha:.3g}" + (" (the policy's)" if args.policy_alpha else "")
    parts += ([alpha] if args.alpha != 0.2 else []) + ([] if args.autotune else ["alpha fixed"])
    anchor = f"anchor {args.anchor_weight:g}" + (f" (floor {args.anchor_floor:g})" if args.anchor_floor else "")
    parts += ([anchor] if args.anchor_weight else []) + (["temperature ramp"] if args.temperature_ramp else [])
    return " + ".join(parts)


def default_out(args: Args, init: str) -> str:
    ablation = ("_notd" if args.lambda_td == 0 else "") + ("_noramp" if args.lr_ramp_steps == 0 else "")
    ablation += (f"_warmup{args.critic_warmup}" if args.critic_warmup else "") + (
        "_policyalpha" if args.policy_alpha else f"_alpha{args.alpha:g}" if args.alpha != 0.2 else ""
    )
    ablation += ("" if args.autotune else "_fixed") + (
        f"_anchor{args.anchor_weight:g}" + (f"f{args.anchor_floor:g}" if args.anchor_floor else "")
        if args.anchor_weight
        else ""
    )
    ablation += "_tramp" if args.temperature_ramp else ""
    return os.path.join(
        "artifacts",
        "finetune",
        f"{args.suite}_task{task_index(args.suite, args.task_id):02d}_{init}{ablation}_seed{args.seed}.pt",
    )


def validate(args: Args) -> tuple[dict | None, int, str]:
    """One-line errors for bad arguments, the policy file and the output path, before any environment step.

    Returns the checked policy file (None for --init scratch), which of its policies, and the output path.
    """
    get_suite(args.suite)
    get_task(args.suite, args.task_id, "--task-id")
    if args.policy_alpha and (args.init == "scratch" or args.alpha is not None):
        raise SystemExit(f"{WHO}: --policy-alpha: takes the temperature of --policy, expected --init policy and no --alpha")
    source, index = None, args.policy_index
    if args.init == "policy":
        source, index = load_start_policy(args.policy, args.policy_index, args.suite, WHO, "--policy", "--policy-index")
    if args.policy_alpha:  # resolved before anything is saved, so vars(args) hold the temperature used
        own = source["alpha"][index].item() if "alpha" in source else None
        if own is None or not math.isfinite(own) or own <= 0:
            raise SystemExit(
                f"{WHO}: --policy-alpha: {args.policy} records no usable temperature for policy {index} "
                f"({'none recorded' if own is None else own}); expected a collection file with an 'alpha' per checkpoint"
            )
        args.alpha = own
    elif args.alpha is None:  # as above, resolved before anything is saved
        # departs from the paper's SAC (0.2): a trained policy's own temperature ends near 0.005-0.03, and a fresh
        # critic learning values full of a 0.2 entropy bonus pulls the actor toward noise (the record's table)
        args.alpha = 0.2 if args.init == "scratch" else 0.01
    if args.anchor_weight is None:  # as above; departs from the paper (no anchor) for a generated start only: on its
        # own training task it dipped 25-29% of its gap to a random actor without the anchor, 0% with it, while an
        # expert (a SAC checkpoint) kept its start without it and collapsed with it (the record's "Keeping a generated
        # start"); the anchor fades over the ramp, so there is none without one
        args.anchor_weight = 100.0 if init_name(source) == "generated" and args.lr_ramp_steps > 0 else 0.0
    check_sac_args(WHO, args)
    counts = dict.fromkeys(("eval_every", "eval_episodes", "state_every", "log_every"), 1)
    check_args(WHO, args, at_least=counts, non_negative=("lambda_td", "anchor_weight"))
    if args.anchor_weight and args.init == "scratch":
        raise SystemExit(
            f"{WHO}: --anchor-weight {args.anchor_weight}: pulls toward a starting policy; --init scratch has none"
        )
    check_lr_ramp(WHO, args)
    out = args.out or default_out(args, init_name(source))
    inputs = [args.policy] if source is not None else []
    check_output(WHO, "--out", out, inputs)
    check_output(WHO, "--out", f"{out}.state.pt", inputs)
    claim_output(WHO, "--out", out)
    return source, index, out


def initial_actor(args: Args, source: dict | None, index: int, actor_args: dict) -> tuple[Actor, dict, dict]:
    """The actor fine-tuning starts from, its constructor arguments, and where it came from.

    A scratch actor is drawn from the current RNG; policy `index` of `source` must fit the task's environment.
    """
    if source is None:
        return Actor(**actor_args), actor_args, {"init": "scratch"}
    expected = {**actor_args, "hidden": source["actor_args"]["hidden"]}
    layout = [[name, list(shape)] for name, shape in source["layout"]]
    if source["actor_args"] != expected or layout != [[n, list(sh)] for n, sh in actor_layout(Actor(**expected))]:
        raise SystemExit(
            f"{WHO}: --policy {args.policy}: actor layout {source['actor_args']} does not fit task "
            f"{args.task_id}'s environment (obs {actor_args['obs_dim']}, act {actor_args['act_dim']})"
        )
    actor = load_flat_params(Actor(**source["actor_args"]), source["params"][index].clone())
    origin = {
        "init": init_name(source),
        "policy": os.path.abspath(args.policy),
        "policy_index": index,
        "policy_task": source["task"]["index"],
        "policy_origin": source["origin"],
    }
    return actor, source["actor_args"], origin


def main(args: Args) -> dict:
    # --- load and validate inputs and outputs (one-line errors, before any environment step) ---
    source, index, out = validate(args)
    task = get_task(args.suite, args.task_id, "--task-id")
    init, state_path = init_name(source), f"{out}.state.pt"
    # one env, same-step autoreset keeps the final obs; built for its spaces here, first stepped in the loop
    envs = ReplayableEnvs([task])
    obs_dim, act_dim = envs.single_observation_space.shape[0], envs.single_action_space.shape[0]
    actor_args = {
        "obs_dim": obs_dim,
        "act_dim": act_dim,
        "hidden": args.hidden,
        "action_low": envs.single_action_space.low.tolist(),
        "action_high": envs.single_action_space.high.tolist(),
    }

    # --- networks: the actor from its policy file (or drawn), twin critics always fresh (paper IV-B) ---
    # seeded as sac_collect.py: networks from the seed, then the seed again for exploration and replay
    torch.manual_seed(args.seed)
    actor, actor_args, origin = initial_actor(args, source, index, actor_args)
    device = pick_device(args.cuda, args.torch_deterministic)
    # the collector's SAC with one task: its tensors carry a leading task axis of 1
    sac, log_alpha = build_sac(actor, obs_dim, act_dim, args, None, device)
    set_actor_lr(sac, args, 0)
    rb = ReplayBuffer(1, min(args.buffer_size, args.total_timesteps), obs_dim, act_dim, device)
    low, high = torch.tensor(actor_args["action_low"]), torch.tensor(actor_args["action_high"])
    uniform_warmup = args.warmup_actions == "uniform" or (args.warmup_actions == "auto" and args.init == "scratch")
    torch.manual_seed(args.seed)

    anchor = copy.deepcopy(actor).requires_grad_(False) if args.anchor_weight else None  # the start, frozen
    penalty = actor_penalty(sac, args, anchor)  # eq. (6) and the anchor on the actor loss; None when both are off
    # --- resume: a killed run continues from its last saved state ---
    stateful = {**sac, "buffer": rb}
    inputs = fingerprint([args.policy] if source is not None else [])
    state = resume_training_state(state_path, args, stateful, inputs, WHO, ("episodes", "episode_return"))
    start_step, curve = 0, {"steps": [], "returns": [], "actor_lr": []}
    run_name = f"{args.suite}__finetune_tdreg__task{task.index:02d}__{init}__{args.seed}__{time.time_ns()}"
    if state is not None:
        with torch.no_grad():
            log_alpha.copy_(state["log_alpha"])
        start_step, run_name, curve = state["step"], state["run_name"], state["curve"]
    writer = SummaryWriter(os.path.join(args.runs_dir, run_name), purge_step=start_step or None)
    writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" + "\n".join(f"|{k}|{v}|" for k, v in vars(args).items()))

    def evaluate_now(step: int):
        returns = evaluate(actor, [task], args.eval_episodes, args.eval_seed)[0]  # (episodes,)
        curve["steps"].append(step)
        curve["returns"].append(returns.tolist())
        curve["actor_lr"].append(sac["actor_optimizer"].param_groups[0]["lr"])
        writer.add_scalar("eval/return", returns.mean(), step)
        return returns.mean()

    if start_step == 0:
        print(f"{WHO}: task {task.index} {task.params}, init {label_of(args, init)}: step 0 return {evaluate_now(0):.1f}")

    obs, _ = envs.reset(seed=args.seed)
    episode_return = 0.0
    if state is not None:  # back into the episode it stopped in: a resumed run steps on as if never stopped
        obs, episode_return = envs.replay(state["episodes"]), state["episode_return"]
    start_time = window_time = time.time()
    window_step = start_step
    for global_step in range(start_step, args.total_timesteps):
        # --- ALGO: act (uniform random warm-up for scratch; the initial actor's samples otherwise), step, store ---
        if global_step < args.learning_starts and uniform_warmup:
            actions = low + (high - low) * torch.rand(1, act_dim)
        else:
            with torch.no_grad():
                actions, _, _ = actor.get_action(torch.as_tensor(obs, dtype=torch.float32, device=device))
        actions = actions.cpu().numpy()
        next_obs, rewards, terminations, truncations, infos = envs.step(actions)
        real_next_obs = next_obs.copy()  # the obs the episode ended in, not the reset obs
        episode_return += rewards[0]
        if terminations[0] or truncations[0]:
            real_next_obs[0] = infos["final_obs"][0]
            writer.add_scalar("charts/episodic_return", episode_return, global_step)
            episode_return = 0.0
        rb.add(obs, real_next_obs, actions, rewards, terminations)  # only a termination cuts the bootstrap
        obs = next_obs

        # --- ALGO: SAC update (critic eq. 5 unchanged), actor at the ramped rate with eq. (6)'s TD term ---
        if global_step >= args.learning_starts:
            if global_step % args.policy_frequency == 0:  # the rate of this step's actor updates
                set_actor_lr(sac, args, global_step)
            actor_moves = global_step >= args.learning_starts + args.critic_warmup  # after the critic warm-up
            losses = sac_update(global_step, rb.sample(args.batch_size), sac, log_alpha, args, penalty, actor_moves)
            if global_step % 100 == 0:
                stop_if_diverged(WHO, global_step, losses, state_path)
                writer.add_scalar("losses/qf_loss", (losses["qf1_loss"] + losses["qf2_loss"]).item(), global_step)
                for name in ("actor_loss", "td_error_mean", "anchor_gap"):  # mean delta > 0: the target above Q(s, pi(s))
                    if name in losses:  # the actor is updated every --policy-frequency steps
                        writer.add_scalar(f"losses/{name}", losses[name].item(), global_step)
                writer.add_scalar("losses/alpha", log_alpha.exp().item(), global_step)
                writer.add_scalar("charts/actor_lr", sac["actor_optimizer"].param_groups[0]["lr"], global_step)

        # --- evaluation every --eval-every steps and at the end ---
        step = global_step + 1
        if step % args.eval_every == 0 or step == args.total_timesteps:
            evaluate_now(step)

        # --- plumbing: resume state, progress ---
        if step % args.state_every == 0 and step < args.total_timesteps:
            save_training_state(
                state_path,
                args,
                step,
                stateful,
                inputs,
                WHO,
                log_alpha=log_alpha.detach().clone(),
                run_name=run_name,
                curve=curve,
                episodes=envs.episodes(),
                episode_return=float(episode_return),
            )
        if step % args.log_every == 0 or step == args.total_timesteps:
            now = time.time()
            sps = (step - window_step) / max(now - window_time, 1e-9)
            eta = (
                f"ETA {(args.total_timesteps - step) / max(sps, 1e-9) / 60:.1f} min"
                if step > args.learning_starts
                else "warm-up"
            )
            print(
                f"step {step}/{args.total_timesteps} | {sps:.0f} steps/s | {eta} | actor lr "
                f"{sac['actor_optimizer'].param_groups[0]['lr']:.1e} | last eval return {np.mean(curve['returns'][-1]):.1f} "
                f"(step {curve['steps'][-1]})",
                flush=True,
            )
            writer.add_scalar("charts/SPS", sps, step)
            window_time, window_step = now, step

    # --- save: the final actor as a policy file, with the curve and config, atomically; then drop the resume state ---
    returns = torch.tensor(curve["returns"])  # (evaluations, episodes)
    origin = {"stage": WHO, **origin, "steps": args.total_timesteps, "seed": args.seed}
    curve_out = {
        "steps": torch.tensor(curve["steps"]),
        "returns": returns.mean(1),
        "episode_returns": returns,
        "actor_lr": torch.tensor(curve["actor_lr"]),
    }
    result = policy_file(
        task,
        actor_args,
        actor_layout(actor),
        flatten_params(actor).cpu()[None],
        returns[-1:],
        args.eval_seed,
        origin,
        args,
        label=label_of(args, init),
        curve=curve_out,
    )
    save_atomic(result, out, WHO)
    if os.path.exists(state_path):
        os.remove(state_path)
    envs.close()
    writer.close()
    print(
        f"{WHO}: wrote {out}: return {returns[0].mean():.1f} at step 0, {returns[-1].mean():.1f} at step "
        f"{curve['steps'][-1]} ({(args.total_timesteps - start_step) / (time.time() - start_time):.0f} steps/s)"
    )
    return {**result, "out": out}


if __name__ == "__main__":
    main(tyro.cli(Args))
