# Benchmark: what exact resume costs. Collection and fine-tuning step their training environments through
# common.ReplayableEnvs, whose EpisodeRecord keeps each episode's start and a copy of every action, so that a resumed
# run can step fresh environments back into the episodes it stopped in. For each suite, K tasks:
#   - environment steps/s of ReplayableEnvs against the same SyncVectorEnv without the recording wrapper, random
#     actions, in alternating rounds (the recording's share of stepping; the SAC update, most of a collector's time,
#     is left out, so this is the upper bound of what it costs a collection)
#   - what a resume state gains: the bytes of episodes() near the longest an episode gets (its step limit less one;
#     an Ant episode that terminated early holds fewer actions)
#   - what a resume costs once: the seconds of replay() into those episodes
# Ratios within one run compare; absolute numbers move with the machine's load.
#   python benchmarks/episode_record.py --steps 2000
import os
import sys
import tempfile
import time
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import tyro

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from common import ReplayableEnvs, get_suite, get_task, make_env, save_atomic  # noqa: E402


@dataclass
class Args:
    suites: tuple[str, ...] = ("cheetah-vel", "ant-dir", "metaworld")
    """task suites to measure, each with its first --num-tasks training tasks"""
    num_tasks: int = 16
    """K, environments stepped together, as the collector's K tasks"""
    steps: int = 2000
    """timed steps of each kind of environment, in --rounds alternating rounds"""
    rounds: int = 4
    """alternating rounds of the two kinds (the machine's load drifts; both see it)"""
    seed: int = 0
    """seed of the resets and of the random actions"""


def steps_per_second(envs: gym.vector.VectorEnv, steps: int, rng: np.random.Generator) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        envs.step(rng.uniform(-1, 1, envs.action_space.shape).astype(envs.action_space.dtype))
    return steps / (time.perf_counter() - start)


def measure(suite: str, args: Args, folder: str) -> dict:
    tasks = [get_task(suite, i) for i in get_suite(suite).train_ids[: args.num_tasks]]
    plain = gym.vector.SyncVectorEnv(
        [lambda t=t: make_env(t) for t in tasks], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP
    )
    recorded = ReplayableEnvs(tasks)
    rng = np.random.default_rng(args.seed)
    rates = {"plain": [], "recorded": []}
    for envs in (plain, recorded):
        envs.reset(seed=args.seed)
    for _ in range(args.rounds):  # alternating, so a change of the machine's load reaches both
        for name, envs in (("plain", plain), ("recorded", recorded)):
            rates[name].append(steps_per_second(envs, args.steps // args.rounds, rng))
    limit = get_suite(suite).max_episode_steps
    recorded.reset(seed=args.seed)
    steps_per_second(recorded, limit - 1, rng)  # one step short of the limit: the longest episode a state can hold
    episodes = recorded.episodes()
    path = os.path.join(folder, f"{suite}_episodes.pt")
    save_atomic({"episodes": episodes}, path)
    fresh = ReplayableEnvs(tasks)
    fresh.reset(seed=args.seed)
    start = time.perf_counter()
    fresh.replay(episodes)
    replay_s = time.perf_counter() - start
    for envs in (plain, recorded, fresh):
        envs.close()
    plain_sps, recorded_sps = np.median(rates["plain"]), np.median(rates["recorded"])
    return {"suite": suite, "plain": plain_sps * len(tasks), "recorded": recorded_sps * len(tasks),
            "ratio": recorded_sps / plain_sps, "kib": os.path.getsize(path) / 1024, "replay_s": replay_s,
            "actions": max(len(e["actions"]) for e in episodes)}  # fmt: skip


def main(args: Args) -> list:
    with tempfile.TemporaryDirectory() as folder:
        rows = [measure(suite, args, folder) for suite in args.suites]
    print(f"K = {args.num_tasks}, {args.steps} steps each, median of {args.rounds} alternating rounds")
    print("| suite | task-steps/s, plain | with EpisodeRecord | ratio | episodes in a state (KiB) | replay (s) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['suite']} | {r['plain']:.0f} | {r['recorded']:.0f} | {r['ratio']:.3f} | {r['kib']:.0f} "
              f"(up to {r['actions']} actions) | {r['replay_s']:.2f} |")  # fmt: skip
    return rows


if __name__ == "__main__":
    main(tyro.cli(Args))
