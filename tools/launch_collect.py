# GenHyper fan-out: sac_collect.py spread over machines as a Slurm array (submitit), a group of tasks
# per job. Every job writes its per-task files task_XX.pt into the one --out folder the arguments after
# `--` name, and later stages read that folder as one collection, so gathering is a shared folder (or
# copying each machine's task files into one). Without Slurm, --cluster local runs the same jobs as local
# processes (the tests do). Plumbing, not a stage: it runs sac_collect.py as a command, unchanged.
#   python tools/launch_collect.py --task-ids 0 3 6 9 12 14 --tasks-per-job 3 --partition cpu -- --out /shared/data
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Literal

import submitit
import tyro

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # common.py, at the top level
from common import check_args, task_index  # noqa: E402

WHO = "launch_collect"
COLLECT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "sac_collect.py")


@dataclass
class Args:
    task_ids: tuple[int | str, ...]
    """tasks to collect (ids, or MetaWorld names); the arguments after `--` go to every sac_collect.py job unchanged"""
    tasks_per_job: int = 1
    """tasks one job trains together (sac_collect.py batches them)"""
    cluster: Literal["auto", "slurm", "local"] = "auto"
    """where the jobs run: auto is Slurm where sbatch exists, else local processes"""
    logs: str = "runs/launch_collect"
    """submitit's folder: each job's stdout, stderr and result"""
    partition: str = ""
    """Slurm partition (empty: the cluster's default)"""
    timeout_min: int = 24 * 60
    """wall-time limit of each job, minutes"""
    cpus_per_task: int = 2
    """CPU cores per job"""
    gpus_per_node: int = 0
    """GPUs per job"""
    parallel: int = 0
    """jobs running at once (Slurm array parallelism; 0: no limit)"""
    wait: bool = True
    """wait for every job and report each one's result (off: submit and print the job ids)"""


def collect(task_ids: list, collect_args: list) -> str:
    """One job: sac_collect.py on a group of tasks, as a command (what a user would type)."""
    proc = subprocess.run(
        [sys.executable, COLLECT, "--task-ids", *map(str, task_ids), *collect_args], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise RuntimeError(f"sac_collect.py --task-ids {task_ids} exited {proc.returncode}: {reason(proc.stderr)}")
    return proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""


def reason(stderr: str) -> str:
    """Why a sac_collect.py command refused, in one line: its own one-line error, or the text inside tyro's box."""
    lines = [line.strip(" \u2502\u256d\u256e\u2570\u256f\u2500") for line in stderr.strip().splitlines()]
    own = [line for line in lines if line.startswith("sac_collect:")]
    return own[-1] if own else "; ".join(line for line in lines if line)[:300] or "no message"


def validate(args: Args, collect_args: list) -> list:
    """One-line errors before anything is submitted; returns the groups of task ids, one per job."""
    check_args(WHO, args, at_least=dict.fromkeys(("tasks_per_job", "timeout_min", "cpus_per_task"), 1))
    flags = {a.split("=")[0].replace("_", "-"): i for i, a in enumerate(collect_args) if a.startswith("--")}
    for name in ("--task-ids", "--check-only"):
        if name in flags:
            raise SystemExit(
                f"{WHO}: {collect_args[flags[name]]}: the launcher sets it; give the tasks as --task-ids before `--`"
            )
    if "--out" not in flags:
        raise SystemExit(f"{WHO}: name the shared collection folder after `--` (-- --out FOLDER) so every job writes into it")
    suite, at = "cheetah-vel", flags.get("--suite")  # sac_collect.py's default suite, or the one after `--`
    if at is not None:
        suite = collect_args[at].partition("=")[2] if "=" in collect_args[at] else " ".join(collect_args[at + 1 : at + 2])
    try:
        ids = [task_index(suite, i) for i in args.task_ids]  # an id and a MetaWorld name of one task are one task
    except SystemExit as e:
        raise SystemExit(f"{WHO}: {e}")
    if not ids or len(set(ids)) != len(ids):
        raise SystemExit(f"{WHO}: --task-ids {list(args.task_ids)}: expected distinct tasks of {suite}")
    # sac_collect.py's own checks, on every group, before any job is submitted
    groups = [list(args.task_ids[i : i + args.tasks_per_job]) for i in range(0, len(args.task_ids), args.tasks_per_job)]
    for group in groups:
        cmd = [sys.executable, COLLECT, "--task-ids", *map(str, group), *collect_args, "--check-only"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"{WHO}: sac_collect.py would refuse: {reason(proc.stderr)}")
    return groups


def main(args: Args, collect_args: list) -> list:
    groups = validate(args, collect_args)
    executor = submitit.AutoExecutor(folder=args.logs, cluster=None if args.cluster == "auto" else args.cluster)
    executor.update_parameters(timeout_min=args.timeout_min, cpus_per_task=args.cpus_per_task, name="genhyper-collect")
    if executor.cluster == "slurm":
        slurm = {"slurm_partition": args.partition or None, "slurm_gpus_per_node": args.gpus_per_node or None,
                 "slurm_array_parallelism": args.parallel or len(groups)}  # fmt: skip
        executor.update_parameters(**{k: v for k, v in slurm.items() if v is not None})
    jobs = executor.map_array(collect, groups, [collect_args] * len(groups))
    print(f"{WHO}: {len(jobs)} {executor.cluster} jobs for tasks {groups}; logs in {args.logs}")
    if not args.wait:
        print("\n".join(f"  job {job.job_id}: tasks {group}" for job, group in zip(jobs, groups)))
        return []
    results = []
    for job, group in zip(jobs, groups):
        try:
            results.append(job.result())
            print(f"  job {job.job_id}: tasks {group}: {results[-1]}")
        except Exception as e:  # a failed job is reported, the others still gathered
            results.append(None)
            print(f"  job {job.job_id}: tasks {group}: FAILED ({str(e).strip().splitlines()[-1]})")
    if None in results:
        raise SystemExit(f"{WHO}: {results.count(None)} of {len(jobs)} jobs failed; their logs are in {args.logs}")
    return results


if __name__ == "__main__":
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    main(tyro.cli(Args, args=argv[:split]), argv[split + 1 :])
