# Benchmark: one batched SAC update (sac_collect.sac_update, K tasks) in each precision, in one run, per suite.
#   - float32: today's default
#   - --bf16: the collector's path (torch.autocast to bfloat16; heads, Q-values, weights and Adam in float32), which
#     casts every weight at each of its uses and every head's input back to float32
#   - bfloat16 weight copies (a candidate, not in sac_collect.py): autocast as --bf16, but each hidden layer's weight
#     is cast once after each optimizer step (a copy its forward uses, its gradient handed back to the float32 weight)
#   - the floor: every weight, input and activation in bfloat16, no cast at all. Not a usable recipe (Adam and Polyak
#     averaging on bfloat16 weights lose the small steps, the Q-values round to 1-2); it bounds what removing the
#     casts can ever give.
# Reports the median ms of an update over interleaved rounds, and each path's speed-up over float32. Then the replay
# batch that each update samples first: sac_collect.ReplayBuffer.sample against indexing the (tasks, entries, ...)
# fields with two index tensors (the earlier way; the same values), at each of --buffer-entries.
#   python benchmarks/update_precision.py                      # 3 suites, K = 16, hidden 128, batch 128
import os
import statistics
import sys
import time
from dataclasses import dataclass

import torch
import tyro

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import sac_collect  # noqa: E402
from common import LOG_STD_MAX, LOG_STD_MIN, Actor, BatchedLinear, get_task, make_env  # noqa: E402


@dataclass
class Args:
    suites: tuple[str, ...] = ("cheetah-vel", "ant-dir", "metaworld")
    """task suites whose observation and action sizes the update takes"""
    num_tasks: int = 16
    """K, tasks updated together"""
    hidden: int = 128
    """hidden width of the actor and critics"""
    batch_size: int = 128
    """replay batch per task"""
    updates: int = 50
    """updates timed in one round of one path"""
    rounds: int = 7
    """rounds, the paths taking turns, so that a change of the machine's load hits every path"""
    threads: int = 2
    """torch threads (the collector uses every core)"""
    buffer_entries: tuple[int, ...] = (2000, 200000)
    """entries per task of the replay buffers sampled (a benchmark's run fills ~2000; a 500k-step collection 500k)"""


class WeightCopy(torch.autograd.Function):
    """Forward: the bfloat16 copy of a weight; backward: the gradient, in float32, to the weight itself."""

    @staticmethod
    def forward(ctx, weight, copy):
        return copy

    @staticmethod
    def backward(ctx, grad):
        return grad.float(), None


plain_forward = BatchedLinear.forward


def copy_forward(self, x):
    """BatchedLinear.forward using the layer's bfloat16 weight copy (hidden layers only; the heads keep float32)."""
    if not hasattr(self, "copy"):
        return plain_forward(self, x)
    weight = WeightCopy.apply(self.weight, self.copy) if self.weight.requires_grad else self.copy
    return torch.baddbmm(self.bias.unsqueeze(1), x, weight.transpose(1, 2))


def refresh_copies(*nets) -> None:
    for net in nets:
        for layer in (net.fc1, net.fc2):
            layer.copy = layer.weight.detach().to(torch.bfloat16)


def build(obs_dim: int, act_dim: int, args: Args, path: str) -> tuple:
    sac_args = sac_collect.Args(hidden=args.hidden)
    torch.manual_seed(0)
    sac, log_alpha = sac_collect.build_sac(Actor(obs_dim, act_dim, args.hidden, num_tasks=args.num_tasks), obs_dim, act_dim,
                                           sac_args, args.num_tasks)  # fmt: skip
    k, b = args.num_tasks, args.batch_size
    batch = [torch.randn(k, b, obs_dim), torch.randn(k, b, obs_dim), torch.rand(k, b, act_dim) * 2 - 1, torch.randn(k, b),
             torch.zeros(k, b)]  # fmt: skip
    nets = [sac[n] for n in ("actor", "qf1", "qf2", "qf1_target", "qf2_target")]
    if path == "floor":
        for net in nets:
            net.to(torch.bfloat16)
        batch = [x.to(torch.bfloat16) for x in batch]
        sac["q_optimizer"] = torch.optim.Adam(
            [*sac["qf1"].parameters(), *sac["qf2"].parameters()], lr=sac_args.q_lr, fused=True
        )
        sac["actor_optimizer"] = torch.optim.Adam(sac["actor"].parameters(), lr=sac_args.policy_lr, fused=True)
    if path == "weight copies":
        refresh_copies(*nets)
        sac["q_optimizer"].register_step_post_hook(lambda *_: refresh_copies(sac["qf1"], sac["qf2"]))
        sac["actor_optimizer"].register_step_post_hook(lambda *_: refresh_copies(sac["actor"]))
    return sac, log_alpha, batch, sac_args, nets


def floor_actor_forward(self, x):  # Actor.forward without its float32 heads
    x = torch.relu(self.fc2(torch.relu(self.fc1(x))))
    log_std = torch.tanh(self.fc_logstd(x))
    return self.fc_mean(x), LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (log_std + 1)


def floor_q_forward(self, x, a):  # SoftQNetwork.forward without its float32 output layer
    x = torch.relu(self.fc2(torch.relu(self.fc1(torch.cat([x, a], -1)))))
    return self.fc3(x).squeeze(-1)


FORWARDS = {
    Actor: (Actor.forward, floor_actor_forward),
    sac_collect.SoftQNetwork: (sac_collect.SoftQNetwork.forward, floor_q_forward),
}


def time_path(path: str, state: tuple, updates: int) -> float:
    sac, log_alpha, batch, sac_args, nets = state
    BatchedLinear.forward = copy_forward if path == "weight copies" else plain_forward
    for cls, (plain, floor) in FORWARDS.items():
        cls.forward = floor if path == "floor" else plain
    autocast = path in ("--bf16", "weight copies")
    start = time.perf_counter()
    for step in range(updates):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast, cache_enabled=False):
            sac_collect.sac_update(step, batch, sac, log_alpha, sac_args)
        if path == "weight copies":  # the targets moved by Polyak averaging
            refresh_copies(nets[3], nets[4])
    BatchedLinear.forward = plain_forward
    for cls, (plain, _) in FORWARDS.items():
        cls.forward = plain
    return (time.perf_counter() - start) / updates * 1e3


def sampling(args: Args, obs_dim: int, act_dim: int, entries: int) -> dict:
    """ms per replay batch: ReplayBuffer.sample, and the same batch by two-tensor indexing (interleaved rounds)."""
    buffer = sac_collect.ReplayBuffer(args.num_tasks, entries, obs_dim, act_dim)
    buffer.size = entries  # filled: which entries hold what does not change the cost of a gather
    rows = torch.arange(args.num_tasks).unsqueeze(1)

    def indexing():
        idx = torch.randint(0, buffer.size, (args.num_tasks, args.batch_size))
        return [getattr(buffer, name)[rows, idx] for name in buffer.FIELDS]

    times = {"ReplayBuffer.sample": [], "two-tensor indexing": []}
    for _ in range(args.rounds):
        for name, sample in (
            ("ReplayBuffer.sample", lambda: buffer.sample(args.batch_size)),
            ("two-tensor indexing", indexing),
        ):
            start = time.perf_counter()
            for _ in range(args.updates * 10):
                sample()
            times[name].append((time.perf_counter() - start) / (args.updates * 10) * 1e3)
    return {name: statistics.median(t) for name, t in times.items()}


def main(args: Args) -> list:
    for name in ("num_tasks", "hidden", "batch_size", "updates", "rounds", "threads"):
        if getattr(args, name) < 1:
            raise SystemExit(f"update_precision: --{name.replace('_', '-')} {getattr(args, name)}: expected at least 1")
    if not args.buffer_entries or min(args.buffer_entries) < args.batch_size:
        raise SystemExit(f"update_precision: --buffer-entries {args.buffer_entries}: expected sizes of at least --batch-size")
    torch.set_num_threads(args.threads)
    paths = ("float32", "--bf16", "weight copies", "floor")
    rows = []
    for suite in args.suites:
        env = make_env(get_task(suite, 0))
        obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
        env.close()
        states = {p: build(obs_dim, act_dim, args, p) for p in paths}
        times = {p: [] for p in paths}
        for p in paths:  # warm caches and allocators
            time_path(p, states[p], 5)
        for _ in range(args.rounds):
            for p in paths:
                times[p].append(time_path(p, states[p], args.updates))
        base = statistics.median(times["float32"])
        for p in paths:
            ms = statistics.median(times[p])
            rows.append({"suite": suite, "path": p, "ms": ms, "speedup": base / ms})
            print(f"{suite:12s} {p:14s} {ms:6.2f} ms/update  {base / ms:4.2f}x float32  "
                  f"(rounds {min(times[p]):.2f}-{max(times[p]):.2f})", flush=True)  # fmt: skip
        for entries in args.buffer_entries:
            ms = sampling(args, obs_dim, act_dim, entries)
            rows.append({"suite": suite, "buffer_entries": entries, **ms})
            print(f"{suite:12s} replay batch, {entries} entries a task: sample {ms['ReplayBuffer.sample']:.3f} ms, "
                  f"two-tensor indexing {ms['two-tensor indexing']:.3f} ms", flush=True)  # fmt: skip
    return rows


if __name__ == "__main__":
    main(tyro.cli(Args))
