# GenHyper speed-or-gait diagnosis (Cheetah-Vel): does a policy lose its return by running at the wrong speed, or
# by how it runs at the right one? Every policy of the given policy files runs deterministically (the evaluation
# protocol of every stage), its return split into the task reward's two terms (common.TaskReward: the speed error
# -sum_t |x_velocity_t - v| and the control cost -0.05 sum_t ||a_t||^2), with the speed it settles at (mean
# x_velocity after --settle steps). Experts (a collection) run their best checkpoint per task, the policy the
# nearest-expert baseline runs. Reads: policy files, or folders of them (hyplatent_train.py's <out>_generated/,
# finetune_tdreg.py's output, a collection). Writes: a PNG (settled speed against v; the two terms against v) and
# the same numbers as a markdown table beside it (<out>.md).
#   python tools/plot_gait.py artifacts/hyplatent_generated --experts data/cheetah-vel --out docs/gait.png
import os
import sys
from dataclasses import dataclass

import gymnasium as gym
import matplotlib
import numpy as np
import torch
import tyro

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # common.py, at the top level
from common import (  # noqa: E402
    Actor,
    Task,
    check_output,
    close_envs,
    collection_files,
    evaluate,
    get_suite,
    load_collection,
    load_flat_params,
    load_policies,
    make_env,
    write_atomic,
    write_text_atomic,
)

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

WHO = "plot_gait"
TERMS = ("speed", "control")  # TaskReward's Cheetah-Vel terms, in its info["reward_terms"]
EXPERTS = "experts (best checkpoint)"  # the --experts curve's label


@dataclass
class Args:
    policies: tyro.conf.Positional[tuple[str, ...]]
    """policy files, or folders of them (every .pt in a folder); each argument is one curve, every policy in it runs"""
    experts: str = ""
    """a collection folder (sac_collect.py): its best checkpoint per task runs, as the expert reference"""
    episodes: int = 1
    """deterministic episodes per policy, reset seeds eval_seed + e of its file (the episodes its stored returns had)"""
    settle: int = 50
    """steps from rest before the settled speed is measured (the costs count every step)"""
    out: str = "artifacts/gait.png"
    """where the figure is written; the markdown table goes beside it (<out>.md)"""


class RewardTerms(gym.Wrapper):
    """Sums, per episode, the reward terms TaskReward reports, and the settled speed (after `settle` steps)."""

    def __init__(self, env: gym.Env, settle: int):
        super().__init__(env)
        self.settle, self.episodes = settle, []

    def reset(self, **kwargs):
        self.episodes.append({**{name: 0.0 for name in TERMS}, "steps": 0, "speeds": []})
        return self.env.reset(**kwargs)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        episode = self.episodes[-1]
        for name in TERMS:
            episode[name] += info["reward_terms"][name]
        episode["steps"] += 1
        if episode["steps"] > self.settle:
            episode["speeds"].append(info["x_velocity"])
        return obs, reward, terminated, truncated, info


def sources(path: str) -> list:
    """The policy files an argument names: itself, or every .pt in the folder (not hidden ones: resume states)."""
    if os.path.isdir(path):
        return sorted(os.path.join(path, n) for n in os.listdir(path) if n.endswith(".pt") and not n.startswith("."))
    return [path]


def validate(args: Args) -> tuple[dict, dict]:
    """One-line errors for bad flags, unreadable or non-Cheetah-Vel policy files and an unusable --out; returns
    {curve label (the path as given): [policy file, ...]} and the expert collection ({} without --experts)."""
    if args.episodes < 1:
        raise SystemExit(f"{WHO}: --episodes {args.episodes}: expected at least 1")
    steps = get_suite("cheetah-vel").max_episode_steps
    if not 0 <= args.settle < steps:
        raise SystemExit(f"{WHO}: --settle {args.settle}: expected 0..{steps - 1} (Cheetah-Vel episodes are {steps} steps)")
    if not args.policies and not args.experts:
        raise SystemExit(f"{WHO}: give policy files or folders, or --experts")
    curves, inputs = {}, collection_files(args.experts) if args.experts else []
    for path in args.policies:
        if not os.path.exists(path):
            raise SystemExit(f"{WHO}: {path}: no such policy file or folder")
        if os.path.normpath(path) in curves:
            raise SystemExit(f"{WHO}: {path}: given twice")
        files = {p: load_policies(p, WHO) for p in sources(path)}
        if not files:
            raise SystemExit(f"{WHO}: {path}: a folder without policy files (.pt)")
        curves[os.path.normpath(path)], inputs = list(files.values()), inputs + list(files)
    experts = load_collection(args.experts, WHO, "--experts") if args.experts else {}
    for path, data in zip(inputs, list(experts.values()) + [f for files in curves.values() for f in files]):
        if data["task"]["suite"] != "cheetah-vel":
            raise SystemExit(
                f"{WHO}: {path}: a policy of {data['task']['suite']}; the speed and control split is Cheetah-Vel's"
            )
    check_output(WHO, "--out", args.out, tuple(inputs))
    check_output(WHO, "--out", f"{args.out}.md", tuple(inputs))  # the table beside the figure
    return curves, experts


def run(data: dict, params: torch.Tensor, args: Args) -> dict:
    """Runs `params` (N, P) on the file's task; per policy: settled speed, the terms, return, averaged over episodes."""
    task = Task.from_dict(data["task"])
    actor = load_flat_params(Actor(**data["actor_args"], num_tasks=len(params)), params)
    pool = {task: [RewardTerms(make_env(task), args.settle) for _ in params]}  # policy n runs in environment n
    returns = evaluate(actor, [task] * len(params), args.episodes, data["eval_seed"], chunk=len(params), pool=pool)
    close_envs(pool)
    episodes = [env.episodes for env in pool[task]]  # (N, episodes) dicts
    out = {name: np.array([[e[name] for e in row] for row in episodes]).mean(1) for name in TERMS}
    out["settled speed"] = np.array([[np.mean(e["speeds"]) for e in row] for row in episodes]).mean(1)
    out["return"] = returns.mean(1)
    return {"v": task.params[0], **out}


def main(args: Args) -> str:
    curves, experts = validate(args)
    # the algorithm is only rollouts: generated (or any) policies, every one; the experts' best checkpoints
    points = {label: [run(d, d["params"], args) for d in files] for label, files in curves.items()}
    if experts:
        best = [run(d, d["params"][d["returns"].argmax()][None], args) for d in experts.values()]
        points[EXPERTS] = best
    for label in points:
        points[label].sort(key=lambda p: p["v"])

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    lines = ["| curve | v | settled speed | speed error | control cost | return |", "|---|---|---|---|---|---|"]
    summary = []
    for color, (label, pts) in zip(("C0", "C2", "C4", "C5", "C6", "C1"), points.items()):
        v = np.array([p["v"] for p in pts])
        expert = label == EXPERTS
        style = dict(ls="none", marker="s", ms=5) if expert else dict(marker="o", ms=3)
        speed = np.array([p["settled speed"].mean() for p in pts])
        top.plot(v, speed, color=color, label=label, **style)
        if not expert:
            top.fill_between(v, [p["settled speed"].min() for p in pts], [p["settled speed"].max() for p in pts],
                             color=color, alpha=0.2)  # fmt: skip
        for name, ls, marker in zip(TERMS, ("-", "--"), ("s", "^")):
            term = dict(ls="none", marker=marker, ms=5, mfc="none") if expert else dict(ls=ls, marker="o", ms=3)
            bottom.plot(v, [p[name].mean() for p in pts], color=color, **term)
        for p in pts:
            lines.append(f"| {label} | {p['v']:g} | {p['settled speed'].mean():.3f} | {p['speed'].mean():.1f} | "
                         f"{p['control'].mean():.1f} | {p['return'].mean():.1f} |")  # fmt: skip
        summary.append(
            f"{label}: {len(pts)} tasks, |settled speed - v| {np.mean(np.abs(speed - v)):.3f}, speed error "
            f"{np.mean([p['speed'].mean() for p in pts]):.1f}, control {np.mean([p['control'].mean() for p in pts]):.1f}"
        )
    lo, hi = top.get_xlim()
    top.plot([lo, hi], [lo, hi], color="gray", lw=0.8, ls=":", label="speed = v")
    top.set(ylabel=f"settled speed (mean x_velocity after step {args.settle})", title="Cheetah-Vel: speed or gait?")
    bottom.plot([], [], color="gray", ls="-", marker="s", mfc="none", label="speed error, -sum |x_velocity - v|")
    bottom.plot([], [], color="gray", ls="--", marker="^", mfc="none", label="control cost, -0.05 sum ||a||^2")
    bottom.set(xlabel="target velocity v", ylabel=f"return term ({args.episodes} episode(s) per policy)")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    write_atomic(args.out, lambda tmp: fig.savefig(tmp, format="png", dpi=120), WHO)
    write_text_atomic(f"{args.out}.md", "\n".join(lines + [""] + [f"- {s}" for s in summary]) + "\n", WHO)
    text = f"{WHO}: wrote {args.out} and {args.out}.md\n" + "\n".join(summary)
    print(text)
    return text


if __name__ == "__main__":
    main(tyro.cli(Args))
