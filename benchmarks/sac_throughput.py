# Benchmark: how much does training K tasks in one batched process gain over one task at a time?
# In one run it measures, with sac_collect.main itself (one gradient update per environment step):
#   - batched:  K tasks together, task-steps per second (env step + SAC update of every task)
#   - alone:    the same SAC on one task (K = 1), steps per second; one-at-a-time for K tasks costs K x that
#   - matmul:   this machine's dense fp32 matmul throughput (torch.mm, n x n)
#   - compiled: the batched run again with sac_collect.py --compile (torch.compile of the update), same run
#   - graphed:  on a CUDA device, the batched run again with --compile --cudagraphs (the update replayed as a CUDA graph)
# and prints the ratio batched / one-at-a-time and the fraction of the matmul throughput the batched
# update reaches, from its FLOP count (update speed leaves out the first updates, which compile).
# Ratios from one run are comparable; absolute numbers are not.
#   python benchmarks/sac_throughput.py --num-tasks 16 --hiddens 128 64
import os
import sys
import tempfile
import time
from dataclasses import dataclass

import torch
import tyro

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import sac_collect  # noqa: E402
from common import get_suite, get_task, make_env  # noqa: E402


@dataclass
class Args:
    suite: str = "cheetah-vel"
    """task suite whose environments are stepped"""
    num_tasks: int = 16
    """K, tasks trained together in the batched run"""
    hiddens: tuple[int, ...] = (128, 64)
    """hidden widths to measure"""
    update_steps: int = 500
    """timed steps, each with one update per task, after the warm-up"""
    warmup_steps: int = 300
    """untimed steps before updates start (random actions filling the buffer)"""
    batch_size: int = 128
    """replay batch per task and update, as in sac_collect.py"""
    matmul_size: int = 1024
    """n of the n x n matmul that measures dense throughput"""
    compile: bool = True
    """also measure the batched run with sac_collect.py --compile, against the plain path in the same run"""


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
    every policy_frequency steps, so once per step) = actor 3 F_a + critics through the action
    2 x 3 F_q; temperature step = actor F_a. Total 5 F_a + 14 F_q.
    """
    f_a = 2 * (obs_dim * hidden + hidden * hidden + 2 * hidden * act_dim)
    f_q = 2 * ((obs_dim + act_dim) * hidden + hidden * hidden + hidden)
    return (5 * f_a + 14 * f_q) * batch_size


def steps_per_second(
    args: Args, hidden: int, task_ids: tuple, folder: str, compile: bool = False, cudagraphs: bool = False
) -> float:
    total = args.warmup_steps + args.update_steps
    run = sac_collect.Args(
        suite=args.suite,
        task_ids=task_ids,
        hidden=hidden,
        total_timesteps=total,
        learning_starts=args.warmup_steps,
        batch_size=args.batch_size,
        save_after=total,
        num_checkpoints=1,
        eval_episodes=1,
        log_every=total,
        state_every=total,
        out=folder,
        runs_dir=os.path.join(folder, "runs"),
        compile=compile,
        cudagraphs=cudagraphs,
    )
    return sac_collect.main(run)["update_sps"]


def main(args: Args) -> list:
    suite = get_suite(args.suite)
    if not 1 <= args.num_tasks <= suite.num_tasks:
        raise SystemExit(f"sac_throughput: --num-tasks {args.num_tasks}: expected 1..{suite.num_tasks}")
    probe = make_env(get_task(args.suite, 0))
    obs_dim, act_dim = probe.observation_space.shape[0], probe.action_space.shape[0]
    gflops = matmul_gflops(args.matmul_size)
    rows = []
    for hidden in args.hiddens:
        with tempfile.TemporaryDirectory() as tmp:
            batched = steps_per_second(args, hidden, tuple(range(args.num_tasks)), os.path.join(tmp, "batched"))
            alone = steps_per_second(args, hidden, (0,), os.path.join(tmp, "alone"))
            compiled = (
                steps_per_second(args, hidden, tuple(range(args.num_tasks)), os.path.join(tmp, "compiled"), True)
                if args.compile
                else None
            )
            graphed = (
                steps_per_second(args, hidden, tuple(range(args.num_tasks)), os.path.join(tmp, "graphed"), True, True)
                if args.compile and torch.cuda.is_available()
                else None
            )
        task_steps = batched * args.num_tasks
        achieved = task_steps * update_flops(obs_dim, act_dim, hidden, args.batch_size) / 1e9
        rows.append(
            {
                "hidden": hidden,
                "batched_task_steps_per_s": task_steps,
                "alone_steps_per_s": alone,
                "ratio": task_steps / alone,
                "gflops": achieved,
                "matmul_fraction": achieved / gflops,
                "compiled_task_steps_per_s": compiled * args.num_tasks if compiled else None,
                "graphed_task_steps_per_s": graphed * args.num_tasks if graphed else None,
            }
        )
    print(
        f"\n{args.suite}, K = {args.num_tasks} tasks, batch {args.batch_size}, {torch.get_num_threads()} threads, "
        f"{torch.cuda.get_device_name() if torch.cuda.is_available() else 'CPU'}; "
        f"dense matmul ({args.matmul_size}^3 fp32): {gflops:.1f} GFLOP/s"
    )
    print(
        "| hidden | batched task-steps/s | one task alone steps/s | ratio batched / one-at-a-time "
        "| update GFLOP/s | of matmul | batched, --compile | compiled / plain | --compile --cudagraphs | graphed / plain |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        speedup = ""
        for fast in (r["compiled_task_steps_per_s"], r["graphed_task_steps_per_s"]):
            speedup += f" {fast:.0f} | {fast / r['batched_task_steps_per_s']:.2f} |" if fast else " – | – |"
        print(
            f"| {r['hidden']} | {r['batched_task_steps_per_s']:.0f} | {r['alone_steps_per_s']:.0f} | {r['ratio']:.2f} | "
            f"{r['gflops']:.1f} | {r['matmul_fraction']:.1%} |{speedup}"
        )
    return rows


if __name__ == "__main__":
    main(tyro.cli(Args))
