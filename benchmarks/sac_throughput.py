# Benchmark: the collector's speed, today's path against the new one, on each suite, in one run.
# With sac_collect.main itself (one gradient update per environment step, a checkpoint scored every --save-every
# steps as the presets do), K tasks at once, it measures task-steps/s once updates run, and where the collector's
# process spends its time (acting and stepping environments, the SAC update, checkpoint evaluation, the rest):
#   - today:    environments stepped and checkpoints scored in the collector's process (--env-workers 0 --eval-workers 0)
#   - checkpoints scored by evaluation processes, one per core, each a share of the tasks (--eval-workers <cores>)
#   - the training environments stepped by processes as well, one per core (--env-workers <cores>)
#   - the defaults (sac_collect.py's -1 for both: whichever of the above this machine's core count picks)
#   - the defaults with --bf16: the update's hidden layers multiply in bfloat16 (on by default here; --no-bf16 skips it)
#   - with --compile: the defaults with the update through torch.compile, and on a CUDA device with --cudagraphs too
#   - with --alone: one task (K = 1) with the defaults: one task at a time costs K x its time
#   - with --processes P: the defaults with --bf16, the K tasks split over P processes side by side, one torch thread
#     each (as presets/ant_dir15.sh collects): their task-steps/s summed, their seconds pooled
# and the update's FLOP rate against this machine's dense matmul. Ratios within one run compare; absolute
# numbers move with the machine's load.
#   python benchmarks/sac_throughput.py                                  # 3 suites, K = 16, hidden 128
#   python benchmarks/sac_throughput.py --suites cheetah-vel --hiddens 128 64 --compile --alone
#   python benchmarks/sac_throughput.py --suites ant-dir --num-tasks 15 --processes 2   # ant_dir15.sh's split
import multiprocessing
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from queue import Empty

import torch
import tyro

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import sac_collect  # noqa: E402
from common import get_suite, get_task, make_env  # noqa: E402


@dataclass
class Args:
    suites: tuple[str, ...] = ("cheetah-vel", "ant-dir", "metaworld")
    """task suites to measure, each with its first --num-tasks tasks"""
    num_tasks: int = 16
    """K, tasks trained together"""
    hiddens: tuple[int, ...] = (128,)
    """hidden widths to measure"""
    steps: int = 1500
    """timed steps, each with one update per task, after the warm-up (covering steps / save-every evaluations; one
    more, at the end of the warm-up, is untimed)"""
    warmup_steps: int = 300
    """untimed steps before updates start (random actions filling the buffer)"""
    save_every: int = 500
    """steps between scored checkpoints, as in the presets"""
    batch_size: int = 128
    """replay batch per task and update, as in sac_collect.py"""
    matmul_size: int = 1024
    """n of the n x n matmul that measures dense throughput"""
    bf16: bool = True
    """also measure the defaults with sac_collect.py --bf16 (the update's hidden layers in bfloat16)"""
    compile: bool = False
    """also measure the new path with sac_collect.py --compile (and --cudagraphs on a CUDA device)"""
    alone: bool = False
    """also measure one task alone, for the gain of batching K tasks in one process"""
    processes: int = 0
    """also measure the defaults with --bf16, the tasks split over this many processes side by side with one torch
    thread each (0: skip)"""


def matmul_gflops(n: int, seconds: float = 2.0) -> float:
    """Dense fp32 matmul throughput on the device the collector picks (CUDA when available, as --cuda's default)."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    torch.mm(a, b)
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        torch.mm(a, b)
        reps += 1
    if device == "cuda":
        torch.cuda.synchronize()  # kernels run asynchronously: count them once finished
    return 2 * n**3 * reps / (time.perf_counter() - start) / 1e9


def update_flops(obs_dim: int, act_dim: int, hidden: int, batch_size: int) -> float:
    """Matmul FLOPs of one SAC update of one task (biases and elementwise ops left out).

    Per sample, with F_a / F_q one actor / critic forward: critic step = target actor F_a + two target
    critics 2 F_q + two critics forward and backward 2 x 3 F_q; actor step (policy_frequency times
    every policy_frequency steps, so once per step) = actor 3 F_a + critics through the action, their input
    gradients only, 2 x 2 F_q; temperature step = actor F_a. Total 5 F_a + 12 F_q.
    """
    f_a = 2 * (obs_dim * hidden + hidden * hidden + 2 * hidden * act_dim)
    f_q = 2 * ((obs_dim + act_dim) * hidden + hidden * hidden + hidden)
    return (5 * f_a + 12 * f_q) * batch_size


def measure(args: Args, suite: str, hidden: int, task_ids: tuple, folder: str, **flags) -> dict:
    """One collector run; its report (update_sps: steps/s once updates run, seconds: where they went)."""
    total = args.warmup_steps + args.steps
    run = sac_collect.Args(
        suite=suite,
        task_ids=task_ids,
        hidden=hidden,
        total_timesteps=total,
        learning_starts=args.warmup_steps,
        batch_size=args.batch_size,
        # the first checkpoint is scored at the end of the warm-up, untimed: its start-up (building environments in this
        # process, first calls in the workers: several times a later scoring) is paid once in a run of ~1000 evaluations
        save_after=args.warmup_steps,
        save_every=args.save_every,
        num_checkpoints=args.steps // args.save_every + 1,
        success_threshold=0.0,  # MetaWorld: keep from the first checkpoint; every checkpoint is scored either way
        log_every=total,
        state_every=total,
        out=folder,
        runs_dir=os.path.join(folder, "runs"),
        **flags,
    )
    return sac_collect.main(run)["report"]


def one_thread(queue, *measured, **flags):
    """A process of the split path: measure() on one torch thread, its evaluation workers too (OMP_NUM_THREADS=1)."""
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    queue.put(measure(*measured, **flags))


def measure_split(args: Args, suite: str, hidden: int, task_ids: tuple, folder: str, processes: int) -> dict:
    """measure() of the defaults with --bf16 in `processes` processes at once, each a share of task_ids; their reports
    pooled: update_sps per task of the whole (their task-steps/s summed, over K), seconds the processes' mean."""
    n, spawn = len(task_ids), multiprocessing.get_context("spawn")
    parts = [task_ids[i * n // processes : (i + 1) * n // processes] for i in range(processes)]
    queue = spawn.Queue()
    runs = [
        spawn.Process(target=one_thread, args=(queue, args, suite, hidden, part, os.path.join(folder, str(i))),
                      kwargs={"bf16": True})
        for i, part in enumerate(parts)
    ]  # fmt: skip
    for run in runs:
        run.start()
    reports = []  # (read before join: a process exits once its report left the queue)
    while len(reports) < len(runs):
        try:
            reports.append(queue.get(timeout=5))
        except Empty:  # a process that died sends nothing: stop rather than wait forever
            if any(run.exitcode not in (None, 0) for run in runs):
                raise SystemExit("sac_throughput: --processes: a process of the split path failed (its error above)")
    for run in runs:
        run.join()
    # they run at once: a second of theirs is a second of each, so the pooled seconds are their mean
    seconds = {k: sum(r["seconds"][k] for r in reports) / processes for k in reports[0]["seconds"]}
    task_steps_per_s = sum(r["update_sps"] * len(r["tasks"]) for r in reports)  # each part's steps/s x its tasks
    return {"seconds": seconds, "timed_steps": reports[0]["timed_steps"], "update_sps": task_steps_per_s / n}


def main(args: Args) -> list:
    for suite in args.suites:
        if not 1 <= args.num_tasks <= get_suite(suite).num_tasks:
            raise SystemExit(f"sac_throughput: --num-tasks {args.num_tasks}: expected 1..{get_suite(suite).num_tasks}")
    if not 0 <= args.processes <= args.num_tasks:
        raise SystemExit(f"sac_throughput: --processes {args.processes}: expected 0..{args.num_tasks} (--num-tasks)")
    gflops = matmul_gflops(args.matmul_size)
    cores = len(os.sched_getaffinity(0))  # as sac_collect.py counts them
    paths = {
        "today: --env-workers 0 --eval-workers 0": {"env_workers": 0, "eval_workers": 0},
        f"--env-workers 0 --eval-workers {cores}": {"env_workers": 0, "eval_workers": cores},
        f"--env-workers {cores} --eval-workers {cores}": {"env_workers": cores, "eval_workers": cores},
        "the defaults": {},
    }
    if args.bf16:
        paths["the defaults, --bf16"] = {"bf16": True}
    if args.compile:
        paths["the defaults, --compile"] = {"compile": True}
        if torch.cuda.is_available():
            paths["the defaults, --compile --cudagraphs"] = {"compile": True, "cudagraphs": True}
    if args.processes:
        paths[f"the defaults, --bf16, {args.processes} one-thread processes"] = {"processes": args.processes}
    rows = []
    for suite in args.suites:
        probe = make_env(get_task(suite, 0))
        obs_dim, act_dim = probe.observation_space.shape[0], probe.action_space.shape[0]
        probe.close()
        for hidden in args.hiddens:
            runs = {name: (tuple(range(args.num_tasks)), flags) for name, flags in paths.items()}
            if args.alone:
                runs["one task alone"] = ((0,), {})
            for name, (task_ids, flags) in runs.items():
                with tempfile.TemporaryDirectory() as tmp:
                    if "processes" in flags:
                        report = measure_split(args, suite, hidden, task_ids, tmp, flags["processes"])
                    else:
                        report = measure(args, suite, hidden, task_ids, tmp, **flags)
                seconds = report["seconds"]
                update_gflops = report["timed_steps"] * len(task_ids) * update_flops(obs_dim, act_dim, hidden, args.batch_size)
                rows.append(
                    {
                        "suite": suite,
                        "hidden": hidden,
                        "path": name,
                        "task_steps_per_s": report["update_sps"] * len(task_ids),
                        "shares": {k: v / sum(seconds.values()) for k, v in seconds.items()},
                        "update_gflops": update_gflops / max(seconds["update"], 1e-9) / 1e9,
                    }
                )
    print(
        f"\nK = {args.num_tasks} tasks, batch {args.batch_size}, a checkpoint scored every {args.save_every} steps, "
        f"{args.steps} timed steps, {torch.get_num_threads()} torch threads, {cores} cores, "
        f"{torch.cuda.get_device_name() if torch.cuda.is_available() else 'CPU'}; "
        f"dense matmul ({args.matmul_size}^3 fp32): {gflops:.1f} GFLOP/s"
    )
    print(
        "| suite | hidden | path | task-steps/s | / today | environments | update | evaluation | other "
        "| update GFLOP/s | of matmul |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        today = next(t for t in rows if (t["suite"], t["hidden"], t["path"][:5]) == (r["suite"], r["hidden"], "today"))
        shares = " | ".join(f"{r['shares'][k]:.0%}" for k in ("environment", "update", "evaluation", "other"))
        print(
            f"| {r['suite']} | {r['hidden']} | {r['path']} | {r['task_steps_per_s']:.0f} | "
            f"{r['task_steps_per_s'] / today['task_steps_per_s']:.2f} | {shares} | {r['update_gflops']:.1f} | "
            f"{r['update_gflops'] / gflops:.0%} |"
        )
    return rows


if __name__ == "__main__":
    main(tyro.cli(Args))
