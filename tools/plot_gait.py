# GenHyper gait diagnosis: does a policy lose its return by moving the wrong way, or by how it moves the right way?
# Every policy of the given policy files runs deterministically (the evaluation protocol of every stage), its return
# split into the task reward's terms (common.TaskReward). Cheetah-Vel: the speed error -sum_t |x_velocity_t - v| and
# the control cost, with the speed it settles at (mean x_velocity after --settle steps). Ant-Dir: the forward
# progress along the goal, the control cost and the alive bonus, with the direction it walks (of its mean velocity
# in the plane after --settle steps) against the goal's. Experts (a collection) run their best checkpoint per task,
# the policy the nearest-expert baseline runs. Reads: policy files, or folders of them (hyplatent_train.py's
# <out>_generated/, finetune_tdreg.py's output, a collection), of one suite. Writes: a PNG (settled speed or walked
# direction against the task's; the terms against it) and the same numbers as a markdown table beside it (<out>.md).
#   python tools/plot_gait.py artifacts/hyplatent_generated --experts data/cheetah-vel --out docs/gait.png
import math
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
# each suite's terms of info["reward_terms"], by the name the table and the legend give them
TERMS = {
    "cheetah-vel": {"speed": "speed error, -sum |x_velocity - v|", "control": "control cost, -0.05 sum ||a||^2"},
    "ant-dir": {"forward": "forward, sum (x, y)_velocity . (cos g, sin g)", "control": "control cost, -0.5 sum ||a||^2",
                "alive": "alive, +1 per step"},
}  # fmt: skip
# what each suite's top panel shows, per policy: (name, unit); then the axis label of the task's parameter
MEASURES = {"cheetah-vel": (("settled speed", ""),), "ant-dir": (("walked direction", " (deg)"), ("speed along goal", ""))}
PARAMETER = {"cheetah-vel": "target velocity v", "ant-dir": "goal direction (deg)"}
EXPERTS = "experts (best checkpoint)"  # the --experts curve's label


@dataclass
class Args:
    policies: tyro.conf.Positional[tuple[str, ...]]
    """policy files, or folders of them (every .pt in a folder); each argument is one curve, every policy in it runs"""
    labels: tuple[str, ...] = ()
    """one legend (and table) label per policies argument, in their order; none: each argument's path as given"""
    experts: str = ""
    """a collection folder (sac_collect.py): its best checkpoint per task runs, as the expert reference"""
    episodes: int = 1
    """deterministic episodes per policy, reset seeds eval_seed + e of its file (the episodes its stored returns had)"""
    settle: int = 50
    """steps from rest before the settled speed is measured (the costs count every step)"""
    out: str = "artifacts/gait.png"
    """where the figure is written; the markdown table goes beside it (<out>.md)"""


class RewardTerms(gym.Wrapper):
    """Sums, per episode, the reward terms TaskReward reports, and keeps the planar velocity (x, y) of every step."""

    def __init__(self, env: gym.Env, settle: int):
        super().__init__(env)
        self.settle, self.episodes = settle, []

    def reset(self, **kwargs):
        self.episodes.append({"terms": {}, "velocities": []})
        return self.env.reset(**kwargs)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        episode = self.episodes[-1]
        for name, value in info["reward_terms"].items():
            episode["terms"][name] = episode["terms"].get(name, 0.0) + value
        episode["velocities"].append((info["x_velocity"], info.get("y_velocity", 0.0)))
        return obs, reward, terminated, truncated, info

    def settled(self, episode: dict) -> np.ndarray:
        """The mean planar velocity after `settle` steps (of every step, if the episode ended before: an Ant fell)."""
        velocities = episode["velocities"]
        return np.mean(velocities[self.settle :] if len(velocities) > self.settle else velocities, axis=0)


def sources(path: str) -> list:
    """The policy files an argument names: itself, or every .pt in the folder (not hidden ones: resume states)."""
    if os.path.isdir(path):
        return sorted(os.path.join(path, n) for n in os.listdir(path) if n.endswith(".pt") and not n.startswith("."))
    return [path]


def validate(args: Args) -> tuple[dict, dict, str]:
    """One-line errors for bad flags, unreadable policy files, files of two suites or of one without these terms and
    an unusable --out; returns {curve label (--labels, or the path as given): [policy file, ...]}, the expert
    collection ({} without --experts) and their suite."""
    if args.episodes < 1:
        raise SystemExit(f"{WHO}: --episodes {args.episodes}: expected at least 1")
    steps = get_suite("cheetah-vel").max_episode_steps  # Ant-Dir's too
    if not 0 <= args.settle < steps:
        raise SystemExit(f"{WHO}: --settle {args.settle}: expected 0..{steps - 1} (episodes are {steps} steps)")
    if not args.policies and not args.experts:
        raise SystemExit(f"{WHO}: give policy files or folders, or --experts")
    if args.labels and len(args.labels) != len(args.policies):
        raise SystemExit(
            f"{WHO}: --labels: {len(args.labels)} given, expected one per policies argument ({len(args.policies)})"
        )
    if len(set(args.labels)) < len(args.labels) or EXPERTS in args.labels:
        raise SystemExit(f"{WHO}: --labels {' '.join(args.labels)}: expected distinct labels, none '{EXPERTS}'")
    curves, inputs, seen = {}, collection_files(args.experts) if args.experts else [], set()
    for path, label in zip(args.policies, args.labels or map(os.path.normpath, args.policies)):
        if not os.path.exists(path):
            raise SystemExit(f"{WHO}: {path}: no such policy file or folder")
        if os.path.normpath(path) in seen:
            raise SystemExit(f"{WHO}: {path}: given twice")
        seen.add(os.path.normpath(path))
        files = {p: load_policies(p, WHO) for p in sources(path)}
        if not files:
            raise SystemExit(f"{WHO}: {path}: a folder without policy files (.pt)")
        curves[label], inputs = list(files.values()), inputs + list(files)
    experts = load_collection(args.experts, WHO, "--experts") if args.experts else {}
    suite = None
    for path, data in zip(inputs, list(experts.values()) + [f for files in curves.values() for f in files]):
        if data["task"]["suite"] not in TERMS:
            raise SystemExit(f"{WHO}: {path}: a policy of {data['task']['suite']}; the gait split is {' and '.join(TERMS)}'s")
        if suite not in (None, data["task"]["suite"]):
            raise SystemExit(f"{WHO}: {path}: a policy of {data['task']['suite']}, the others are {suite}'s: one suite")
        suite = data["task"]["suite"]
    check_output(WHO, "--out", args.out, tuple(inputs))
    check_output(WHO, "--out", f"{args.out}.md", tuple(inputs))  # the table beside the figure
    return curves, experts, suite


def run(data: dict, params: torch.Tensor, args: Args) -> dict:
    """Runs `params` (N, P) on the file's task; per policy, averaged over episodes: the terms, the return, and the
    suite's MEASURES (Cheetah-Vel: the settled x_velocity; Ant-Dir: the direction of the settled velocity in degrees,
    and its speed along the goal)."""
    task = Task.from_dict(data["task"])
    actor = load_flat_params(Actor(**data["actor_args"], num_tasks=len(params)), params)
    pool = {task: [RewardTerms(make_env(task), args.settle) for _ in params]}  # policy n runs in environment n
    returns = evaluate(actor, [task] * len(params), args.episodes, data["eval_seed"], chunk=len(params), pool=pool)
    close_envs(pool)
    envs = pool[task]
    out = {name: np.array([[e["terms"][name] for e in env.episodes] for env in envs]).mean(1) for name in TERMS[task.suite]}
    settled = np.array([[env.settled(e) for e in env.episodes] for env in envs])  # (N, episodes, 2)
    if task.suite == "cheetah-vel":
        out["settled speed"], parameter = settled[..., 0].mean(1), task.params[0]
    else:  # the direction of the mean velocity over its episodes, and the speed along the goal
        goal, mean = task.params[0], settled.mean(1)
        out["walked direction"] = np.degrees(np.arctan2(mean[:, 1], mean[:, 0])) % 360
        out["speed along goal"] = mean @ np.array([math.cos(goal), math.sin(goal)])
        parameter = math.degrees(goal)
    out["return"] = returns.mean(1)
    return {"param": parameter, **out}


def direction_error(walked, goal):
    """|walked - goal| in degrees, the short way round the circle (0..180)."""
    return np.abs((np.asarray(walked) - goal + 180) % 360 - 180)


def main(args: Args) -> str:
    curves, experts, suite = validate(args)
    # the algorithm is only rollouts: generated (or any) policies, every one; the experts' best checkpoints
    points = {label: [run(d, d["params"], args) for d in files] for label, files in curves.items()}
    if experts:
        best = [run(d, d["params"][d["returns"].argmax()][None], args) for d in experts.values()]
        points[EXPERTS] = best
    for label in points:
        points[label].sort(key=lambda p: p["param"])
    terms, measures = TERMS[suite], MEASURES[suite]

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    columns = [name + unit for name, unit in measures] + [terms[name].split(",")[0] for name in terms] + ["return"]
    lines = [f"| curve | {PARAMETER[suite]} | " + " | ".join(columns) + " |", "|---" * (len(columns) + 2) + "|"]
    summary = []
    for color, (label, pts) in zip(("C0", "C2", "C4", "C5", "C6", "C1"), points.items()):
        x = np.array([p["param"] for p in pts])
        expert = label == EXPERTS
        style = dict(ls="none", marker="s", ms=5) if expert else dict(marker="o", ms=3)
        measure = measures[0][0]  # the top panel: settled speed, or walked direction, against the task's own
        top.plot(x, [p[measure].mean() for p in pts], color=color, label=label, **style)
        if not expert:
            top.fill_between(x, [p[measure].min() for p in pts], [p[measure].max() for p in pts], color=color, alpha=0.2)
        for name, ls, marker in zip(terms, ("-", "--", "-."), ("s", "^", "v")):
            term = dict(ls="none", marker=marker, ms=5, mfc="none") if expert else dict(ls=ls, marker="o", ms=3)
            bottom.plot(x, [p[name].mean() for p in pts], color=color, **term)
        for p in pts:
            values = [p[name].mean() for name, _ in measures] + [p[name].mean() for name in terms] + [p["return"].mean()]
            lines.append(f"| {label} | {p['param']:g} | " + " | ".join(f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
                                                                       for v in values) + " |")  # fmt: skip
        gap = [p[measure].mean() for p in pts]
        gap = np.abs(np.array(gap) - x) if suite == "cheetah-vel" else direction_error(gap, x)
        gaps = {"cheetah-vel": f"|settled speed - v| {gap.mean():.3f}", "ant-dir": f"|walked - goal| {gap.mean():.1f} deg"}
        summary.append(f"{label}: {len(pts)} tasks, {gaps[suite]}, "
                       + ", ".join(f"{name} {np.mean([p[name].mean() for p in pts]):.1f}" for name in terms))  # fmt: skip
    lo, hi = top.get_xlim()
    top.plot([lo, hi], [lo, hi], color="gray", lw=0.8, ls=":", label=f"{measures[0][0]} = the task's")
    title = {"cheetah-vel": "Cheetah-Vel: speed or gait?", "ant-dir": "Ant-Dir: the direction walked, or the gait?"}
    top.set(ylabel=f"{measures[0][0]}{measures[0][1]} after step {args.settle}", title=title[suite])
    for name, ls, marker in zip(terms, ("-", "--", "-."), ("s", "^", "v")):
        bottom.plot([], [], color="gray", ls=ls, marker=marker, mfc="none", label=terms[name])
    bottom.set(xlabel=PARAMETER[suite], ylabel=f"return term ({args.episodes} episode(s) per policy)")
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
