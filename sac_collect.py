# GenHyper stage 1: a library of expert SAC policies, one file per task (paper VI-B, "Dataset
# collection"). CleanRL's sac_continuous_action.py, trained on K tasks of one suite at once with
# task-batched networks: every task has its own actor, twin critics, target critics, optimizer
# state, entropy temperature and replay buffer, exactly as if it ran alone, but all K advance in one
# bmm per layer. From --save-after on, a checkpoint every --save-every steps is evaluated and kept.
# Reads: nothing.  Writes: <out>/<suite>/task_XX.pt per task, a policy file (common.policy_file: flat
# actor parameters (N, P), layout, returns, task, origin, args) with each checkpoint's step; a resume
# state <out>/<suite>/.resume_<ids>.pt while running.
#   python sac_collect.py --suite cheetah-vel --task-ids 0 4 8 --out data
import os
import time
from dataclasses import dataclass
from functools import partial

import gymnasium as gym
import numpy as np
import torch
import tyro
from torch.utils.tensorboard import SummaryWriter

from common import (
    Actor,
    ReplayBuffer,
    actor_layout,
    build_sac,
    check_args,
    check_output,
    check_sac_args,
    evaluate,
    flatten_params,
    get_suite,
    get_task,
    load_policies,
    make_env,
    pick_device,
    policy_file,
    resume_training_state,
    sac_update,
    save_atomic,
    save_training_state,
)

WHO = "sac_collect"
WARM_UPDATES = 10  # update steps left out of the reported update speed


@dataclass
class Args:
    suite: str = "cheetah-vel"
    """task suite: cheetah-vel or ant-dir"""
    task_ids: tuple[int, ...] = (0, 4, 8, 12, 17, 21, 25, 29, 33, 37)
    """tasks to train, all at once in this process (default: the cheetah-vel-10 reference config)"""
    out: str = "data"
    """root folder; task i of the suite is written to <out>/<suite>/task_{i:02d}.pt"""
    seed: int = 1
    """seed of environments, exploration noise and replay sampling"""
    init_seed: int = 0
    """seed of the network initialization"""
    shared_init: bool = True
    """start every task's networks from one initialization (experts share a basin); off: one per task"""
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
    """uniform-random steps before the first update"""
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
    """checkpoints kept per task (paper: 500)"""
    eval_episodes: int = 3
    """deterministic episodes that score each checkpoint"""
    eval_seed: int = 10_000
    """reset seed of evaluation episode e is eval_seed + e, the same for every checkpoint"""
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
    check_only: bool = False
    """check the arguments and the output folder, then exit without training (launch_collect.py uses it)"""


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


def validate(args: Args) -> None:
    """One-line errors for bad arguments and an unusable --out, before anything is built."""
    get_suite(args.suite)
    if not args.task_ids:
        raise SystemExit(f"{WHO}: --task-ids: give at least one task")
    if len(set(args.task_ids)) != len(args.task_ids):
        raise SystemExit(f"{WHO}: --task-ids {list(args.task_ids)}: repeated task id")
    for i in args.task_ids:
        get_task(args.suite, i)
    check_sac_args(WHO, args)
    check_args(
        WHO, args, at_least=dict.fromkeys(("save_every", "num_checkpoints", "eval_episodes", "state_every", "log_every"), 1)
    )
    check_output(WHO, "--out", os.path.join(args.out, args.suite, f"task_{args.task_ids[0]:02d}.pt"))
    last = args.save_after + (args.num_checkpoints - 1) * args.save_every
    if args.save_after < 1 or last > args.total_timesteps:
        raise SystemExit(
            f"{WHO}: --save-after {args.save_after}: the last of --num-checkpoints {args.num_checkpoints} "
            f"(every --save-every {args.save_every}) falls at step {last}, "
            f"expected 1 <= step <= --total-timesteps {args.total_timesteps}"
        )


def main(args: Args) -> dict:
    # --- load and validate inputs (one-line errors, nothing trained yet) ---
    validate(args)
    folder = os.path.join(args.out, args.suite)
    done = finished_tasks(folder, args)
    if args.check_only:
        print(f"{WHO}: arguments and {folder} checked; nothing trained (--check-only)")
        return {"files": [], "sps": 0.0, "update_sps": 0.0}
    tasks = [get_task(args.suite, i) for i in args.task_ids if i not in done]
    if done & set(args.task_ids):
        print(f"{WHO}: skipping finished tasks {sorted(done & set(args.task_ids))} in {folder}")
    if not tasks:
        return {"files": [], "sps": 0.0, "update_sps": 0.0}
    num_tasks = len(tasks)
    state_path = os.path.join(folder, f".resume_{'-'.join(str(t.index) for t in tasks)}.pt")

    # --- environments: one per task, stepped together; same-step autoreset keeps the final obs ---
    envs = gym.vector.SyncVectorEnv([partial(make_env, t) for t in tasks], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
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
    rb = ReplayBuffer(num_tasks, min(args.buffer_size, args.total_timesteps), obs_dim, act_dim, device)
    low, high = torch.tensor(action_low), torch.tensor(action_high)

    update = torch.compile(sac_update) if args.compile else sac_update  # same function, traced and fused

    # --- resume: a killed run continues from its last saved state ---
    torch.manual_seed(args.seed)
    stateful = {**sac, "buffer": rb}
    state = resume_training_state(state_path, args, stateful, inputs={}, who=WHO)
    start_step, ckpt_params, ckpt_steps, ckpt_returns = 0, [], [], []
    run_name = f"{args.suite}__sac_collect__{args.seed}__{int(time.time())}"
    if state is not None:
        with torch.no_grad():
            log_alpha.copy_(state["log_alpha"])
        start_step, run_name = state["step"], state["run_name"]
        ckpt_params, ckpt_steps, ckpt_returns = state["ckpt_params"], state["ckpt_steps"], state["ckpt_returns"]

    writers = [
        SummaryWriter(os.path.join(args.runs_dir, run_name, f"task_{t.index:02d}"), purge_step=start_step or None)
        for t in tasks
    ]
    writers[0].add_text("hyperparameters", "|param|value|\n|-|-|\n" + "\n".join(f"|{k}|{v}|" for k, v in vars(args).items()))

    # A resumed run starts fresh episodes (MuJoCo state mid-episode is not saved); seeds differ per resume.
    obs, _ = envs.reset(seed=args.seed + start_step)
    episode_return = np.zeros(num_tasks)
    start_time = window_time = time.time()
    update_time, update_steps, window_step = 0.0, 0, start_step
    for global_step in range(start_step, args.total_timesteps):
        step_start = time.time()
        # --- ALGO: act (uniform random before learning starts), step, store ---
        if global_step < args.learning_starts:
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

        # --- ALGO: SAC update of all K tasks at once (common.sac_update: critic eq. 5, actor, temperature, targets) ---
        if global_step >= args.learning_starts:
            losses = update(global_step, rb.sample(args.batch_size), sac, log_alpha, args)
            if global_step >= args.learning_starts + WARM_UPDATES:  # the first updates compile (--compile) and warm caches
                update_time += time.time() - step_start
                update_steps += 1
            if global_step % 100 == 0:
                alpha = log_alpha.detach().exp()
                for k, w in enumerate(writers):
                    for name in ("qf1_loss", "qf2_loss", "actor_loss"):
                        if name in losses:  # the actor is updated every --policy-frequency steps
                            w.add_scalar(f"losses/{name}", losses[name][k].item(), global_step)
                    w.add_scalar("losses/alpha", alpha[k].item(), global_step)

        # --- keep, evaluate and log a checkpoint ---
        step = global_step + 1
        if (
            step >= args.save_after
            and (step - args.save_after) % args.save_every == 0
            and len(ckpt_steps) < args.num_checkpoints
        ):
            returns = evaluate(actor, tasks, args.eval_episodes, args.eval_seed)  # (K, episodes)
            ckpt_params.append(flatten_params(actor).cpu())
            ckpt_steps.append(step)
            ckpt_returns.append(torch.as_tensor(returns, dtype=torch.float32))
            for k, w in enumerate(writers):
                w.add_scalar("eval/checkpoint_return", returns[k].mean(), step)

        # --- plumbing: resume state, progress ---
        if step % args.state_every == 0 and step < args.total_timesteps:
            save_training_state(
                state_path,
                args,
                step,
                stateful,
                {},
                WHO,
                log_alpha=log_alpha.detach().clone(),
                run_name=run_name,
                ckpt_params=ckpt_params,
                ckpt_steps=ckpt_steps,
                ckpt_returns=ckpt_returns,
            )
        if step % args.log_every == 0 or step == args.total_timesteps:
            now = time.time()
            sps = (step - window_step) / max(now - window_time, 1e-9)
            # random warm-up steps are far cheaper than update steps: no ETA until updates run
            eta = (
                f"ETA {(args.total_timesteps - step) / max(sps, 1e-9) / 60:.1f} min"
                if step > args.learning_starts
                else "warm-up (random actions)"
            )
            last = f" | last checkpoint return {ckpt_returns[-1].mean(1).mean():.1f}" if ckpt_returns else ""
            print(f"step {step}/{args.total_timesteps} | {sps:.0f} steps/s x {num_tasks} tasks | {eta}{last}", flush=True)
            for w in writers:
                w.add_scalar("charts/SPS", sps, step)
            window_time, window_step = now, step

    # --- save: one self-describing file per task, atomically; then drop the resume state ---
    params = torch.stack(ckpt_params, dim=1)  # (K, N, P)
    returns = torch.stack(ckpt_returns, dim=1)  # (K, N, episodes)
    layout = actor_layout(actor)
    files = []
    for k, task in enumerate(tasks):
        path = os.path.join(folder, f"task_{task.index:02d}.pt")
        origin = {"stage": WHO, "seed": args.seed, "init_seed": args.init_seed, "shared_init": args.shared_init}
        save_atomic(
            policy_file(
                task, actor_args, layout, params[k], returns[k], args.eval_seed, origin, args, steps=torch.tensor(ckpt_steps)
            ),
            path,
            WHO,
        )
        files.append(path)
        best = returns[k].mean(1)
        print(f"{WHO}: {path}: {len(ckpt_steps)} checkpoints, best return {best.max():.1f}, last {best[-1]:.1f}")
    if os.path.exists(state_path):
        os.remove(state_path)
    envs.close()
    for w in writers:
        w.close()
    return {
        "files": files,
        "sps": (args.total_timesteps - start_step) / (time.time() - start_time),
        "update_sps": update_steps / max(update_time, 1e-9),
    }


if __name__ == "__main__":
    main(tyro.cli(Args))
