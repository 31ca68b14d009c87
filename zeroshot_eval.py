# GenHyper zero-shot evaluation (paper VII-A, Table I; VII-C, the MTRL table): generated policies against baselines
# on the same episodes, every mean with its bootstrap interval. Both generator stages hand it their policy files when
# they finish (hyplatent_train.py, hypformer_train.py), so every table is made by this one file; run it by hand on any
# generated policy files to score them again.
# Reads: generated policy files (each names, in its origin, the HypLatent checkpoint that made it, which names its
# training tasks, its collection and, on MetaWorld, its behaviour embedding).  Writes: the table as strict JSON, with
# its markdown, which is also printed.
#   python zeroshot_eval.py artifacts/hyplatent_generated/task_*.pt --out artifacts/hyplatent_zeroshot.json
# Table I (MuJoCo): per target task, the generated policies beside the nearest training task's best expert, the
# inverse-distance blend of the two nearest, a random actor and the task's own expert when it was collected (an upper
# reference; test tasks never train). The MTRL table (MetaWorld): per seen and unseen task, the generated policies'
# success beside retrieval (the seen tasks' training checkpoint nearest in tau_e to each conditioning tau_e), a random
# actor and the conditioning checkpoints' own recorded success.
import math
import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import tyro

from common import (
    Actor,
    Task,
    check_args,
    check_memory,
    check_output,
    claim_output,
    collection_files,
    evaluate,
    flatten_params,
    load_artifact,
    load_collection,
    load_flat_params,
    load_policies,
    target_name,
    write_json_atomic,
)

WHO = "zeroshot_eval"


@dataclass
class Args:
    policies: tyro.conf.Positional[tuple[str, ...]] = ()
    """generated policy files, one per target and row, in table order (a file's row is its origin's "row", else
    "generated"); the rows of one table come from one HypLatent checkpoint"""
    out: str = "artifacts/zeroshot.json"
    """where the table is written (strict JSON; its markdown is printed and kept under "markdown")"""
    data: str = ""
    """collection folder of the baselines (empty: the one the HypLatent checkpoint was trained on)"""
    embedding: str = ""
    """MetaWorld: the behaviour embedding retrieval searches (empty: the HypLatent checkpoint's)"""
    seed: int = 0
    """seed of the random-actor baseline and of the bootstrap"""
    ci: float = 0.95
    """coverage of the bootstrap confidence intervals"""
    ci_reps: int = 5000
    """bootstrap resamples per interval"""


# ----------------------------------------------------------------------------------------------
# The reporting protocol: every table's interval, and how a MetaWorld policy's success is summarized
# ----------------------------------------------------------------------------------------------
def interval(scores: np.ndarray, args) -> list:
    """[low, high] bootstrap confidence interval (coverage args.ci, args.ci_reps resamples, seed args.seed) of the mean
    of scores (runs, targets): rliable's stratified bootstrap resamples the runs (episodes, and noise samples for
    generated policies) within each target."""
    from rliable import library as rly  # imported here: it pulls in arch and pandas, which only an interval needs

    mean = lambda x: np.array([x.mean()])  # noqa: E731
    # rliable 1.2 resamples with numpy's global RNG (np.random.choice) whatever random_state it is given: seed that
    # RNG for a repeatable interval, then put its state back so nothing else sees the difference
    outside = np.random.get_state()
    np.random.seed(args.seed)
    with warnings.catch_warnings():  # rliable 1.2 hands arch a RandomState, which arch 7 calls deprecated
        warnings.simplefilter("ignore", FutureWarning)
        rng = np.random.RandomState(args.seed)
        _, ci = rly.get_interval_estimates(
            {"x": scores}, mean, reps=args.ci_reps, confidence_interval_size=args.ci, random_state=rng
        )
    np.random.set_state(outside)
    return [float(ci["x"][0, 0]), float(ci["x"][1, 0])]


def success_stats(success: np.ndarray) -> dict:
    """avg / top-5 / top-10 of policies' success rates (each already averaged over its goals). Policies are ranked by
    their own success over all goals; Make-An-Agent sorts each goal's list separately before averaging over goals,
    so its top-k can mix policies and is never lower than this one."""
    ranked = np.sort(success)[::-1]
    return {"avg": float(success.mean()), "top-5": float(ranked[:5].mean()), "top-10": float(ranked[:10].mean())}


def task_distance(suite: str, a: float, b: float) -> float:
    """Distance between two tasks' parameters: |dv| for velocities, the angle between directions."""
    d = abs(a - b)
    return min(d, 2 * math.pi - d) if suite == "ant-dir" else d


def two_nearest(suite: str, collection: dict, train_ids: list, g: float) -> tuple[list, float]:
    """The two training tasks nearest parameter g (nearest first) and the nearest's inverse-distance weight, the
    "interpolated experts" baseline's w0 * best[near[0]] + (1 - w0) * best[near[1]]."""
    near = sorted(train_ids, key=lambda i: task_distance(suite, collection[i]["task"]["params"][0], g))[:2]
    d0, d1 = (task_distance(suite, collection[i]["task"]["params"][0], g) for i in near)
    return near, d1 / (d0 + d1) if d0 + d1 > 0 else 1.0


# ----------------------------------------------------------------------------------------------
# Inputs: the policy files, their generator, its collection (and embedding), checked before any rollout
# ----------------------------------------------------------------------------------------------
def validate(args: Args) -> tuple[dict, dict, dict, dict | None]:
    """One-line errors; returns {row: [policy file, ...]} in table order, the HypLatent checkpoint, the collection and
    (MetaWorld) the behaviour embedding."""
    check_args(WHO, args, at_least={"ci_reps": 100, "seed": 0}, coverage=("ci",))
    if not args.policies:
        raise SystemExit(f"{WHO}: give the generated policy files to score (e.g. artifacts/hyplatent_generated/task_*.pt)")
    rows, source = {}, None
    for path in args.policies:
        data = load_policies(path, WHO)
        made_by = data["origin"].get("hyplatent") if isinstance(data["origin"], dict) else None
        if not made_by:
            raise SystemExit(f"{WHO}: {path}: not a generated policy file (its origin names no HypLatent checkpoint)")
        if source not in (None, made_by):
            raise SystemExit(f"{WHO}: {path}: made from {made_by}, the other files from {source}: one generator per table")
        source = made_by
        rows.setdefault(data["origin"].get("row", "generated"), []).append(data)
    keys = {name: [target_name(Task.from_dict(p["task"])) for p in files] for name, files in rows.items()}
    first = next(iter(keys.values()))
    for name, k in keys.items():
        if len(set(k)) != len(k) or k != first:
            raise SystemExit(f"{WHO}: row {name!r}: its targets {k} repeat or differ from the first row's {first}")
    ckpt = load_artifact(source, "hyplatent", ("suite", "condition", "train_task_ids", "data", "actor_args"), who=WHO)
    data = args.data or ckpt["data"]
    collection = load_collection(data, WHO, "--data" if args.data else f"--data (from {source})")
    embedding, embedding_path = None, ""
    if ckpt["condition"] == "behavior":
        embedding_path = args.embedding or ckpt["embedding"]
        embedding = load_artifact(embedding_path, "behavior_embedding", ("tau_e", "train", "holdout"), who=WHO)
        for files in rows.values():
            for p in files:
                if "success" not in p or "conditioning_checkpoints" not in p["origin"]:
                    raise SystemExit(f"{WHO}: a MetaWorld table needs each file's success and conditioning checkpoints")
    check_output(WHO, "--out", args.out, (*args.policies, source, embedding_path, *collection_files(data)))
    scores = max(len(files) * p["episode_returns"].shape[1] for files in rows.values() for p in files[:1])
    check_memory(WHO, "--ci-reps", args.ci_reps, 16 * args.ci_reps * max(scores, len(rows) * len(first)))
    claim_output(WHO, "--out", args.out)
    return rows, ckpt, collection, embedding


# ----------------------------------------------------------------------------------------------
# Table I (paper VII-A): returns on the same episodes as every baseline
# ----------------------------------------------------------------------------------------------
def zero_shot_table(rows: dict, ckpt: dict, collection: dict, args: Args) -> dict:
    """The generated policies, run again, beside the baselines on the same episodes of every target task, each mean
    with its bootstrap interval (the returns the policy files stored are these, to float32)."""
    suite, train_ids, files = ckpt["suite"], ckpt["train_task_ids"], rows["generated"]
    train_params = [collection[i]["task"]["params"][0] for i in train_ids]
    best = {i: collection[i]["params"][collection[i]["returns"].argmax()] for i in collection}
    torch.manual_seed(args.seed)
    random_actor = Actor(**ckpt["actor_args"])
    names = ["generated", "nearest expert", "interpolated experts", "random actor", "own expert"]
    per_task, runs = {}, {name: [] for name in names}  # runs: per target, the (runs,) returns of a row
    episodes, targets = files[0]["episode_returns"].shape[1], [Task.from_dict(p["task"]) for p in files]
    for task, policies in zip(targets, files):
        key, g = target_name(task), task.params[0]
        near, w0 = two_nearest(suite, collection, train_ids, g)  # w0, 1 - w0: inverse-distance weights
        candidates = {
            "generated": policies["params"],
            "nearest expert": best[near[0]][None],
            "interpolated experts": (w0 * best[near[0]] + (1 - w0) * best[near[1]])[None],
            "random actor": flatten_params(random_actor)[None],
        }
        if task.index in collection:  # an upper reference; test tasks never enter training
            candidates["own expert"] = best[task.index][None]
        flat = torch.cat(list(candidates.values()))  # (policies, P), all run on this task, same episodes
        actor = load_flat_params(Actor(**ckpt["actor_args"], num_tasks=len(flat)), flat)
        returns = evaluate(actor, [task] * len(flat), episodes, policies["eval_seed"])  # (policies, episodes)
        # extrapolation: beyond the training tasks' parameters (directions wrap around, so never for ant-dir)
        beyond = suite != "ant-dir" and not min(train_params) <= g <= max(train_params)
        offset, per_task[key] = 0, {"params": list(task.params), "nearest": near, "extrapolation": beyond}
        for name, c in candidates.items():
            block = returns[offset : offset + len(c)]  # (policies of this row, episodes)
            per_task[key][name], per_task[key][f"{name} ci"] = float(block.mean()), interval(block.reshape(-1, 1), args)
            runs[name].append(block.reshape(-1))
            if name == "generated":
                per_task[key]["generated per sample"] = block.mean(1).tolist()
            offset += len(c)
    keys = [target_name(t) for t in targets]
    overall = {name: float(np.mean([per_task[k][name] for k in keys])) for name in names if len(runs[name]) == len(keys)}
    overall_ci = {name: interval(np.stack(runs[name], axis=1), args) for name in overall}  # (runs, targets)

    def cell(mean: float, ci: list, bold: bool = False) -> str:
        text = f"{mean:.1f} [{ci[0]:.1f}, {ci[1]:.1f}]"
        return f"**{text}**" if bold else text

    lines = ["| task | parameter | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 2)]
    for task, k in zip(targets, keys):
        cells = [cell(per_task[k][n], per_task[k][f"{n} ci"]) if n in per_task[k] else "–" for n in names]
        where = f"{task.params[0]:.3f}" + (" (extrapolation)" if per_task[k]["extrapolation"] else "")
        lines.append(f"| {task.index if task.index is not None else '–'} | {where} | " + " | ".join(cells) + " |")
    lines.append(
        "| **mean** | | " + " | ".join(cell(overall[n], overall_ci[n], True) if n in overall else "–" for n in names) + " |"
    )
    table = "\n".join(lines)
    gen, near = overall_ci["generated"], overall_ci["nearest expert"]
    apart = gen[0] > near[1] or near[0] > gen[1]
    verdict = (f"generated vs nearest expert: {overall['generated']:.1f} vs {overall['nearest expert']:.1f}, "
               f"{args.ci:.0%} intervals {'do not overlap' if apart else 'overlap (not distinguishable)'}")  # fmt: skip
    noise_scale, samples = files[0]["origin"]["noise_scale"], len(files[0]["params"])
    print(
        f"\nzero-shot returns, {suite}, trained on {len(train_ids)} tasks, {samples} generated policies "
        f"(noise std {noise_scale:g}) x {episodes} episodes per target; mean [{args.ci:.0%} bootstrap "
        f"interval]:\n{table}\n{verdict}"
    )
    return {"suite": suite, "train_task_ids": train_ids, "targets": keys, "per_task": per_task, "overall": overall,
            "overall_ci": overall_ci, "distinguishable": apart, "verdict": verdict, "markdown": table,
            "eval_samples": samples, "eval_episodes": episodes, "noise_scale": noise_scale, "ci": args.ci}  # fmt: skip


# ----------------------------------------------------------------------------------------------
# The MTRL table (paper VII-C): success on seen and unseen tasks, rows on the same conditions and goals
# ----------------------------------------------------------------------------------------------
def mtrl_table(rows: dict, ckpt: dict, collection: dict, embedding: dict, args: Args) -> dict:
    """Per task, each row's policies (their success as the generator stage recorded it, one deterministic episode per
    goal) beside retrieval and a random actor run on the same goals, and the conditioning checkpoints' own success."""
    seen, first = ckpt["train_task_ids"], next(iter(rows.values()))
    pool_task = [i for i in seen for _ in embedding["train"][i]]  # retrieval searches the seen tasks' training checkpoints
    pool_ckpt = [j for i in seen for j in embedding["train"][i]]
    pool_tau = torch.stack([embedding["tau_e"][i][j] for i, j in zip(pool_task, pool_ckpt)])
    torch.manual_seed(args.seed)
    random_actor = Actor(**ckpt["actor_args"])
    names = [*rows, "retrieval", "random actor", "conditioning experts"]
    targets = [Task.from_dict(p["task"]) for p in first]
    per_task, runs, start = {}, {name: [] for name in names}, time.time()
    for n_done, (t, task) in enumerate(enumerate(targets), 1):
        i, key = task.index, str(task.index)
        cond_ckpt = first[t]["origin"]["conditioning_checkpoints"]
        nearest = torch.cdist(embedding["tau_e"][i][cond_ckpt], pool_tau).argmin(1)
        retrieved = sorted(set(nearest.tolist()))  # deterministic policies on fixed goals: run each distinct one once
        flat = torch.cat([torch.stack([collection[pool_task[n]]["params"][pool_ckpt[n]] for n in retrieved]),
                          flatten_params(random_actor)[None]])  # fmt: skip
        actor = load_flat_params(Actor(**ckpt["actor_args"], num_tasks=len(flat)), flat)
        success = evaluate(actor, [task] * len(flat), len(task.goals), first[t]["eval_seed"], behavior=True)["success"]
        blocks = {name: files[t]["success"].numpy().mean(1) for name, files in rows.items()}  # each policy over goals
        blocks["retrieval"] = success[:-1].mean(1)[[retrieved.index(n) for n in nearest.tolist()]]  # one per tau_e
        blocks["random actor"] = success[-1:].mean(1)
        per_task[key] = {"name": task.name, "seen": i in seen, "conditioning checkpoints": sorted(set(cond_ckpt))}
        for name, block in blocks.items():
            if name == "retrieval":
                per_task[key]["retrieved tasks"] = sorted({pool_task[n] for n in nearest.tolist()})
            per_task[key][name] = success_stats(block)
            per_task[key][f"{name} ci"] = interval(block.reshape(-1, 1), args)
            runs[name].append(block)
        own = collection[i]["success"][cond_ckpt].mean(1).numpy()  # their success, recorded when they were collected
        per_task[key]["conditioning experts"], per_task[key]["conditioning experts ci"] = (
            success_stats(own),
            [float(own.mean())] * 2,
        )
        runs["conditioning experts"].append(own)
        per = (time.time() - start) / n_done  # seconds per task so far
        print(f"MTRL {n_done}/{len(targets)} {task.name}: {len(flat)} baseline policies x {len(task.goals)} goals | "
              f"{per:.0f} s per task | ETA {per * (len(targets) - n_done) / 60:.1f} min", flush=True)  # fmt: skip

    def pct(x: float) -> str:
        return f"{100 * x:.1f}"

    groups = {"seen": [t for t in targets if t.index in seen], "unseen": [t for t in targets if t.index not in seen]}
    overall, lines = {}, []
    header = "| task | " + " | ".join(f"{n} avg / top-5 / top-10" for n in names) + " |"
    for group, tasks in groups.items():
        if not tasks:
            continue
        keys = [str(t.index) for t in tasks]
        overall[group] = {}
        for name in names:
            scores = np.stack([runs[name][targets.index(t)] for t in tasks], axis=1)  # (runs, tasks)
            stats = {s: float(np.mean([per_task[k][name][s] for k in keys])) for s in ("avg", "top-5", "top-10")}
            overall[group][name] = {**stats, "avg ci": interval(scores, args)}
        lines += [f"**{group} tasks** (success %, {len(first[0]['params'])} policies per task, one episode per goal)", "",
                  header, "|---" * (len(names) + 1) + "|"]  # fmt: skip
        for t, k in zip(tasks, keys):
            cells = [" / ".join(pct(per_task[k][n][s]) for s in ("avg", "top-5", "top-10")) for n in names]
            lines.append(f"| {t.index} {t.name} | " + " | ".join(cells) + " |")
        cells = []
        for n in names:
            o = overall[group][n]
            cells.append(
                f"**{pct(o['avg'])}** [{pct(o['avg ci'][0])}, {pct(o['avg ci'][1])}] / {pct(o['top-5'])} / {pct(o['top-10'])}"
            )
        lines += ["| **mean** | " + " | ".join(cells) + " |", ""]
    table = "\n".join(lines)
    print(f"\nMTRL success (%), metaworld, generators trained on {len(seen)} seen tasks; avg [{args.ci:.0%} bootstrap "
          f"interval] / top-5 / top-10 (ranked by each policy's own success over both goals):\n{table}")  # fmt: skip
    return {"suite": "metaworld", "train_task_ids": seen, "targets": [str(t.index) for t in targets],
            "per_task": per_task, "overall": overall, "markdown": table, "eval_samples": len(first[0]["params"]),
            "ci": args.ci,
            "ranking": "each policy by its own success over all goals (Make-An-Agent sorts each goal's list)"}  # fmt: skip


def main(args: Args) -> dict:
    # --- load and validate inputs (one-line errors, nothing run yet) ---
    rows, ckpt, collection, embedding = validate(args)

    # --- the table: the baselines on the generated policies' own episodes and goals ---
    if embedding is not None:
        result = mtrl_table(rows, ckpt, collection, embedding, args)
    else:
        result = zero_shot_table(rows, ckpt, collection, args)

    # --- save ---
    write_json_atomic(args.out, result, WHO)
    print(f"{WHO}: wrote {args.out}")
    return result


if __name__ == "__main__":
    main(tyro.cli(Args))
