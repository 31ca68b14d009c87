"""sac_collect.py: batched SAC is K independent SACs; the script collects, evaluates, resumes, refuses bad input."""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from conftest import ROOT, fake_policies, one_line_error, run_script

from common import (
    Actor,
    ReplayableEnvs,
    evaluate,
    flatten_params,
    get_task,
    load_artifact,
    load_collection,
    load_flat_params,
    load_policies,
    save_atomic,
)
from sac_collect import Args, EnvironmentWorkers, ReplayBuffer, SoftQNetwork, build_sac, main, sac_update

# a tiny Cheetah-Vel config that still reaches updates (learning_starts < total), checkpoints and evaluation
TINY = [
    "--suite",
    "cheetah-vel",
    "--task-ids",
    "0",
    "30",
    "--hidden",
    "32",
    "--total-timesteps",
    "1000",
    "--learning-starts",
    "200",
    "--save-after",
    "300",
    "--save-every",
    "100",
    "--num-checkpoints",
    "7",
    "--eval-episodes",
    "2",
    "--state-every",
    "250",
    "--log-every",
    "250",
    "--out",
    "data",
]


def test_batched_critic_loss_gives_each_task_its_single_task_gradient():
    torch.manual_seed(0)
    batched = SoftQNetwork(5, 2, 16, num_tasks=3)
    obs, act, target = torch.randn(3, 8, 5), torch.randn(3, 8, 2), torch.randn(3, 8)
    ((batched(obs, act) - target) ** 2).mean(1).sum().backward()
    for k in range(3):
        single = SoftQNetwork(5, 2, 16)
        with torch.no_grad():
            for (name, p), (_, bp) in zip(single.named_parameters(), batched.named_parameters()):
                p.copy_(bp[k])
        ((single(obs[k], act[k]) - target[k]) ** 2).mean().backward()
        for (name, p), (_, bp) in zip(single.named_parameters(), batched.named_parameters()):
            assert torch.allclose(p.grad, bp.grad[k], atol=1e-5), name


def fixed_noise(draws: list, task: int | None = None):
    """Stands in for Normal.rsample: hands out preset standard-normal draws, so that a batched update and
    K single-task updates see the same noise (a (K, B, A) draw is not K (1, B, A) draws)."""
    calls = iter(draws)

    def rsample(dist, sample_shape=torch.Size()):
        eps = next(calls)
        return dist.loc + dist.scale * (eps if task is None else eps[task : task + 1])

    return rsample


def test_batched_sac_update_equals_the_per_task_updates(monkeypatch):
    """Critic, actor, temperature and targets of task k after one batched update equal a single-task update on k's batch."""
    from types import SimpleNamespace

    args = SimpleNamespace(hidden=16, q_lr=3e-4, policy_lr=3e-4, alpha=0.2, autotune=True, gamma=0.99, tau=0.005,
                           policy_frequency=2, target_network_frequency=2)  # fmt: skip
    num_tasks, batch_size, obs_dim, act_dim = 3, 8, 5, 2
    torch.manual_seed(0)
    batched, log_alpha = build_sac(Actor(obs_dim, act_dim, 16, num_tasks=num_tasks), obs_dim, act_dim, args, num_tasks)
    with torch.no_grad():
        log_alpha.copy_(torch.tensor([-1.0, -2.0, -3.0]))  # each task its own temperature
    singles = []
    for k in range(num_tasks):  # task k's slice of every batched network, as plain single-task networks
        sac, single_alpha = build_sac(Actor(obs_dim, act_dim, 16), obs_dim, act_dim, args)
        with torch.no_grad():
            for name in ("actor", "qf1", "qf2", "qf1_target", "qf2_target"):
                for p, bp in zip(sac[name].parameters(), batched[name].parameters()):
                    p.copy_(bp[k])
            single_alpha.copy_(log_alpha[k : k + 1])
        singles.append((sac, single_alpha))
    batch = [torch.randn(num_tasks, batch_size, obs_dim), torch.randn(num_tasks, batch_size, obs_dim),
             torch.rand(num_tasks, batch_size, act_dim) * 2 - 1, torch.randn(num_tasks, batch_size),
             (torch.rand(num_tasks, batch_size) < 0.2).float()]  # fmt: skip
    draws = [torch.randn(num_tasks, batch_size, act_dim) for _ in range(1 + 2 * args.policy_frequency)]

    monkeypatch.setattr(torch.distributions.Normal, "rsample", fixed_noise(draws))
    logs = sac_update(0, batch, batched, log_alpha, args)  # step 0: critic, 2 actor + temperature steps, targets
    for k, (sac, single_alpha) in enumerate(singles):
        monkeypatch.setattr(torch.distributions.Normal, "rsample", fixed_noise(draws, task=k))
        single_logs = sac_update(0, [b[k : k + 1] for b in batch], sac, single_alpha, args)
        for name in ("qf1_loss", "qf2_loss", "actor_loss"):
            assert torch.allclose(single_logs[name], logs[name][k : k + 1], atol=1e-6), name
        assert torch.allclose(single_alpha, log_alpha[k : k + 1], atol=1e-7), "temperature"
        assert single_alpha.item() != -1.0 - k, "the temperature did not move"
        for name in ("actor", "qf1", "qf2", "qf1_target", "qf2_target"):
            for (pname, p), bp in zip(sac[name].named_parameters(), batched[name].parameters()):
                assert torch.allclose(p, bp[k], atol=1e-6), f"{name}.{pname} of task {k}"
    assert not torch.allclose(batched["actor"].fc1.weight[0], batched["actor"].fc1.weight[1]), "tasks share parameters"


def test_replay_buffer_keeps_tasks_apart_and_wraps():
    rb = ReplayBuffer(num_tasks=2, capacity=4, obs_dim=1, act_dim=1)
    for t in range(6):  # task 0 stores t, task 1 stores 100 + t
        rb.add([[t], [100 + t]], [[t], [100 + t]], [[0.0], [0.0]], [t, 100 + t], [0, 0])
    assert rb.size == 4 and rb.pos == 2
    obs, next_obs, actions, rewards, dones = rb.sample(64)
    assert obs.shape == (2, 64, 1) and rewards.shape == (2, 64)
    assert set(rewards[0].tolist()) <= {2.0, 3.0, 4.0, 5.0} and set(rewards[1].tolist()) <= {102.0, 103.0, 104.0, 105.0}
    assert torch.equal(obs.squeeze(-1), rewards)


def _first_checkpoint(tmp_path, shared_init: bool):
    args = Args(
        task_ids=(0, 30),
        hidden=16,
        total_timesteps=20,
        learning_starts=10,
        save_after=1,
        save_every=1,
        num_checkpoints=1,
        eval_episodes=1,
        out=str(tmp_path / f"shared{shared_init}"),
        runs_dir=str(tmp_path / "runs"),
        shared_init=shared_init,
    )
    files = main(args)["files"]
    return [load_policies(f, "test")["params"][0] for f in files]


def test_shared_init_starts_every_task_from_one_point(tmp_path):
    a, b = _first_checkpoint(tmp_path, shared_init=True)  # step 1 is before any update
    assert torch.equal(a, b)
    a, b = _first_checkpoint(tmp_path, shared_init=False)
    assert not torch.allclose(a, b)


def _from_parent(tmp_path, name: str, **override) -> list:
    """A tiny collection whose tasks start from task_20.pt's best policy; its files' params (N, P)."""
    base = dict(task_ids=(0, 30), hidden=16, total_timesteps=300, learning_starts=100, save_after=100, save_every=100,
                num_checkpoints=3, eval_episodes=1, init_from=str(tmp_path / "task_20.pt"), out=str(tmp_path / name),
                runs_dir=str(tmp_path / "runs"))  # fmt: skip
    args = Args(**{**base, **override})
    files = main(args)["files"]
    assert len(files) == 2
    return [load_policies(f, "test") for f in files]


def test_init_from_starts_every_task_from_one_policy_and_the_ramp_holds_the_actor_near_it(tmp_path):
    parent = fake_policies("cheetah-vel", 20, num=3, hidden=16)
    parent["episode_returns"] = torch.tensor([[-5.0, -5.0], [-1.0, -1.0], [-9.0, -9.0]])  # the best is policy 1
    parent["returns"] = parent["episode_returns"].mean(1)
    save_atomic(parent, str(tmp_path / "task_20.pt"))
    best = parent["params"][1]
    plain = _from_parent(tmp_path, "plain")
    ramped = _from_parent(tmp_path, "ramped", lr_ramp_steps=1000)
    td = _from_parent(tmp_path, "td", lambda_td=10.0)
    assert not torch.equal(td[0]["params"][2], plain[0]["params"][2])  # eq. (6)'s term reaches the actor
    for data in plain + ramped + td:  # checkpoint 0 is at step 100, before the first update: the parent itself
        assert torch.equal(data["params"][0], best) and not torch.equal(data["params"][2], best)
        origin = data["origin"]
        assert (origin["init_from"], origin["init_index"], origin["init_task"]) == (str(tmp_path / "task_20.pt"), 1, 20)
    # 200 updates at 3e-6 .. 1.2e-5 move the actor far less than at 3e-4
    for a, b in zip(plain, ramped):
        assert (b["params"][2] - best).norm() < 0.2 * (a["params"][2] - best).norm()
    save_atomic(fake_policies("ant-dir", 20, hidden=16), str(tmp_path / "ant.pt"))
    for override, message in [
        (dict(init_from=str(tmp_path / "ant.pt")), "--init-from .*ant.pt: is for suite 'ant-dir', not --suite 'cheetah-vel'"),
        (dict(init_index=3), r"--init-index 3: .*task_20.pt holds 3 policies \(0..2, or -1: best\)"),
        (dict(hidden=32), "--init-from .*task_20.pt: its actor .* does not fit these tasks' actor"),
        (dict(lr_ramp_steps=100, compile=True), "--lr-ramp-steps 100: not with --compile"),
        (dict(lambda_td=10.0, compile=True), "--lambda-td 10.0: not with --compile"),
        (dict(lambda_td=-1.0), "--lambda-td -1.0: expected a number >= 0"),
        (dict(lr_ramp_steps=100, lr_start=1e-3), "--lr-start 0.001: expected 0 < lr-start <= --policy-lr"),
    ]:
        with pytest.raises(SystemExit, match=message):
            _from_parent(tmp_path, "refused", **override)
    assert not (tmp_path / "refused").exists()


def test_collect_kill_resume_and_artifact(tmp_path):
    """Killed and started again, it resumes where it stopped, mid-episode, and writes what one uninterrupted run writes."""
    state = tmp_path / "data" / "cheetah-vel" / ".resume_0-30.pt"
    proc = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "sac_collect.py"), *TINY],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.time() + 300
    while not state.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)  # as hard a crash as there is
    proc.wait()
    assert state.exists(), "the run ended before its first resume state was saved"
    assert not glob.glob(str(tmp_path / "data" / "cheetah-vel" / "task_*.pt*")), "a killed run left task files"

    proc = run_script("sac_collect.py", *TINY, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    resumed_at = int(proc.stdout.split("at step ")[1].split()[0])
    assert "resuming from" in proc.stdout and 250 <= resumed_at < 1000
    assert "ETA" in proc.stdout and "steps/s" in proc.stdout
    assert not state.exists(), "the resume state outlived a finished run"

    for index in (0, 30):
        data = load_policies(str(tmp_path / "data" / "cheetah-vel" / f"task_{index:02d}.pt"), "test")
        assert data["task"] == {
            "suite": "cheetah-vel",
            "index": index,
            "name": f"cheetah-vel-{index}",
            "params": [0.075 * (index + 1)],
            "param_names": ["velocity"],
            "goals": [],
        }
        assert (
            data["params"].shape == (7, 17 * 32 + 32 + 32 * 32 + 32 + 2 * (32 * 6 + 6))
            and data["params"].dtype == torch.float32
        )
        assert data["steps"].tolist() == [300, 400, 500, 600, 700, 800, 900]
        assert data["returns"].shape == (7,) and data["episode_returns"].shape == (7, 2)
        assert (
            data["alpha"].shape == (7,) and (data["alpha"] > 0).all() and data["alpha"][-1] != 0.2
        )  # learned, per checkpoint
        assert (
            data["args"]["total_timesteps"] == 1000
            and data["actor_args"]["obs_dim"] == 17
            and data["actor_args"]["act_dim"] == 6
        )
        assert data["origin"] == {"stage": "sac_collect", "seed": 1, "init_seed": 0, "shared_init": True}
        assert not torch.equal(data["params"][0], data["params"][-1]), "no update happened between checkpoints"
        # the stored return is reproducible from the stored parameters alone
        actor = load_flat_params(Actor(**data["actor_args"]), data["params"][-1])
        again = evaluate(actor, [get_task("cheetah-vel", index)], 2, data["eval_seed"])[0]
        assert np.allclose(again, data["episode_returns"][-1].numpy(), atol=1e-3)
        # the report's convergence summary is the task file's checkpoints: 7 kept, halves of 4 and 3
        with open(tmp_path / "data" / "cheetah-vel" / "collect_0-30.json") as f:
            summary = json.load(f)["tasks"][f"cheetah-vel-{index}"]
        returns = data["episode_returns"].mean(1).numpy()
        assert summary["checkpoints"] == 7 and np.isclose(summary["return_best"], returns.max(), atol=1e-4)
        assert np.isclose(summary["return_last"], returns[-1], atol=1e-4)
        assert np.isclose(summary["return_first_half"], returns[:4].mean(), atol=1e-4)
        assert np.isclose(summary["return_second_half"], returns[4:].mean(), atol=1e-4)
    assert len(glob.glob(str(tmp_path / "runs" / "*" / "task_30" / "events.*"))) >= 1

    # the same command never stopped: the same experts, bit for bit (its environments, RNG and replay continued)
    (tmp_path / "whole").mkdir()
    assert run_script("sac_collect.py", *TINY, cwd=tmp_path / "whole").returncode == 0
    for index in (0, 30):
        resumed, whole = (
            load_policies(str(d / "data" / "cheetah-vel" / f"task_{index:02d}.pt"), "test")
            for d in (tmp_path, tmp_path / "whole")
        )
        assert torch.equal(resumed["params"], whole["params"]) and torch.equal(
            resumed["episode_returns"], whole["episode_returns"]
        )

    # started again: finished tasks are skipped, files untouched
    before = os.path.getmtime(tmp_path / "data" / "cheetah-vel" / "task_00.pt")
    proc = run_script("sac_collect.py", *TINY, cwd=tmp_path)
    assert proc.returncode == 0 and "skipping finished tasks [0, 30]" in proc.stdout
    assert os.path.getmtime(tmp_path / "data" / "cheetah-vel" / "task_00.pt") == before


def test_ant_dir_end_to_end_tiny(tmp_path, run):
    """Ant-Dir from collection to a generated policy file, as a user runs the stages: two training tasks, the
    autoencoder, HypLatent on (cos, sin) of the direction, and the policies it writes for a test task."""
    collect = "--suite ant-dir --task-ids 1 45 --hidden 32 --total-timesteps 400 --learning-starts 100 --save-after 300"
    run("sac_collect.py", *collect.split(), *"--save-every 100 --num-checkpoints 2 --eval-episodes 1 --out data".split(),
        cwd=tmp_path)  # fmt: skip
    data = load_policies(str(tmp_path / "data" / "ant-dir" / "task_01.pt"), "test")
    assert data["params"].shape == (2, 27 * 32 + 32 + 32 * 32 + 32 + 2 * (32 * 8 + 8))
    assert data["task"]["params"] == [0.42663053293975295] and torch.isfinite(data["returns"]).all()
    run("ae_train.py", *"--data data/ant-dir --out ae.pt --latent-dim 16 --steps 20 --batch-size 4 --eval-episodes 1".split(),
        cwd=tmp_path)  # fmt: skip
    hyplatent = "--ae ae.pt --out hl.pt --condition cossin --iterations 4 --batch-size 4 --generator-widths 32 16"
    run("hyplatent_train.py", *hyplatent.split(), *"--test-task-ids 23 --eval-samples 2 --eval-episodes 1".split(),
        cwd=tmp_path)  # fmt: skip
    generated = load_policies(str(tmp_path / "hl_generated" / "task_23.pt"), "test")
    assert generated["task"]["index"] == 23 and generated["params"].shape == (2, data["params"].shape[1])
    assert generated["actor_args"] == data["actor_args"] and torch.isfinite(generated["returns"]).all()
    assert load_artifact(str(tmp_path / "hl.pt"), "hyplatent")["generator_args"]["in_dim"] == 4 + 2  # noise, (cos, sin)


@pytest.mark.parametrize(
    "override,message",
    [
        ({"suite": "walker-vel"}, "--suite 'walker-vel': unknown suite"),
        ({"task_ids": (0, 40)}, "--task-ids 40: outside suite 'cheetah-vel'"),
        ({"task_ids": (3, 3)}, "--task-ids .*repeated"),
        ({"save_after": 950}, "--save-after 950: .* step 1550"),
        ({"save_every": 0}, "--save-every 0: expected an integer >= 1"),
        ({"alpha": 0.0}, "--alpha 0.0: expected a number > 0"),
        ({"policy_lr": -3e-4}, "--policy-lr -0.0003: expected a number > 0"),
        ({"q_lr": 0.0}, "--q-lr 0.0: expected a number > 0"),
        ({"gamma": 1.5}, r"--gamma 1.5: expected a number in \[0, 1\]"),
        ({"learning_starts": 1000}, "--learning-starts 1000: expected fewer than --total-timesteps 1000"),
        ({"learning_starts": -1}, "--learning-starts -1: expected an integer >= 0"),
        ({"out": "/proc/genhyper"}, "--out /proc/genhyper/cheetah-vel/task_00.pt: cannot write in /proc"),
        ({"cudagraphs": True}, "--cudagraphs: needs --compile"),
        ({"cudagraphs": True, "compile": True, "cuda": False}, "--cudagraphs: needs a CUDA device"),
    ],
)
def test_bad_arguments_fail_before_training(tmp_path, override, message):
    base = dict(task_ids=(0,), total_timesteps=1000, learning_starts=200, save_after=500, save_every=100, num_checkpoints=7,
                out=str(tmp_path / "data"), runs_dir=str(tmp_path / "runs"))  # fmt: skip
    args = Args(**{**base, **override})
    with pytest.raises(SystemExit, match=message):
        main(args)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "data").exists()


def test_output_folder_of_another_actor_size_or_suite_is_refused(tmp_path, run):
    folder = tmp_path / "data" / "cheetah-vel"
    folder.mkdir(parents=True)
    save_atomic(fake_policies("cheetah-vel", 1, hidden=64), str(folder / "task_01.pt"))
    proc = run("sac_collect.py", "--task-ids", "0", "--hidden", "32", "--out", "data", cwd=tmp_path, check=False)
    one_line_error(proc, "sac_collect: --out data: data/cheetah-vel/task_01.pt has actor hidden=64, not --hidden 32")
    save_atomic(fake_policies("ant-dir", 1, hidden=32), str(folder / "task_01.pt"))
    with pytest.raises(SystemExit, match="is from suite 'ant-dir'"):
        main(Args(task_ids=(0,), hidden=32, out=str(tmp_path / "data")))
    save_atomic(fake_policies("cheetah-vel", 4, hidden=32), str(folder / "task_01.pt"))  # misnamed: holds task 4
    with pytest.raises(SystemExit, match="task_01.pt: the file is named for task 1 but holds task 4"):
        main(Args(task_ids=(0,), hidden=32, out=str(tmp_path / "data")))


def test_fan_out_over_jobs_gathers_one_collection(tmp_path, run):
    """launch_collect.py with submitit's local executor: the path a Slurm array takes, one job per group of tasks."""
    tiny = "--hidden 16 --total-timesteps 300 --learning-starts 100 --save-after 200 --save-every 50 --num-checkpoints 3"
    proc = run("tools/launch_collect.py", *"--task-ids 0 5 9 --tasks-per-job 2 --cluster local --logs logs --".split(),
               *tiny.split(), "--eval-episodes", "1", "--out", "data", cwd=tmp_path)  # fmt: skip
    assert "2 local jobs for tasks [[0, 5], [9]]" in proc.stdout and "FAILED" not in proc.stdout
    collection = load_collection(str(tmp_path / "data" / "cheetah-vel"), "test")  # the jobs' files are one collection
    assert sorted(collection) == [0, 5, 9] and all(len(c["params"]) == 3 for c in collection.values())
    assert len(glob.glob(str(tmp_path / "logs" / "*_result.pkl"))) == 2
    for argv, message in [
        ("--task-ids 1 --cluster local -- --hidden 16", "name the shared collection folder after `--`"),
        ("--task-ids 40 --cluster local -- --out other", "--task-ids 40: outside suite 'cheetah-vel'"),
        ("--task-ids 1 --cluster local -- --out data", "data/cheetah-vel/task_00.pt has actor hidden=16, not --hidden 128"),
        ("--task-ids 1 --tasks-per-job 0 --cluster local -- --out data", "--tasks-per-job 0: expected an integer >= 1"),
        ("--task-ids 1 door-open --cluster local -- --suite metaworld --out x", "expected distinct tasks of metaworld"),
        ("--task-ids 1 2 --cluster local -- --out=x --task_ids=3", "--task_ids=3: the launcher sets it"),
        ("--task-ids 1 --cluster local -- --out x --bogus 3", "refuse: Unrecognized options; Unrecognized options: --bogus"),
        ("--task-ids 1 --logs data/cheetah-vel/task_00.pt -- --out x", "task_00.pt is a file, not a folder"),
    ]:  # fmt: skip
        one_line_error(run("tools/launch_collect.py", *argv.split(), cwd=tmp_path, check=False), "launch_collect: ", message)
    written = sorted(os.listdir(tmp_path / "data" / "cheetah-vel"))  # one report per job, nothing half-written
    assert written == ["collect_0-5.json", "collect_9.json", "task_00.pt", "task_05.pt", "task_09.pt"]


def test_compiled_update_trains_like_the_plain_one(tmp_path):
    """--compile runs the same sac_update through torch.compile: after 30 updates the checkpoint matches the plain run's
    up to the rounding of fused kernels."""
    shared = dict(task_ids=(3, 30), hidden=16, total_timesteps=130, learning_starts=100, batch_size=16, save_after=130,
                  num_checkpoints=1, eval_episodes=1, runs_dir=str(tmp_path / "runs"))  # fmt: skip
    plain = main(Args(out=str(tmp_path / "plain"), **shared))
    compiled = main(Args(out=str(tmp_path / "compiled"), compile=True, **shared))
    for a, b in zip(plain["files"], compiled["files"]):
        pa, pb = load_policies(a, "test")["params"], load_policies(b, "test")["params"]
        assert torch.allclose(pa, pb, atol=1e-4), (pa - pb).abs().max()
    assert compiled["update_sps"] > 0


def test_bf16_update_multiplies_hidden_layers_in_bfloat16_and_keeps_heads_and_losses_float32():
    """Under --bf16's autocast the hidden layers run in bfloat16 while the actor's heads, Q-values and losses stay
    float32; one update's losses and the direction it moves the actor are the float32 update's up to bfloat16's
    rounding (close, not equal)."""
    args = Args(hidden=32)
    batch = [torch.randn(2, 16, 17), torch.randn(2, 16, 17), torch.rand(2, 16, 6) * 2 - 1, -torch.rand(2, 16),
             torch.zeros(2, 16)]  # fmt: skip
    moved, losses = {}, {}
    for bf16 in (False, True):
        torch.manual_seed(0)
        sac, log_alpha = build_sac(Actor(17, 6, 32, num_tasks=2), 17, 6, args, num_tasks=2)
        before = flatten_params(sac["actor"]).clone()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16, cache_enabled=False):  # as sac_collect.py --bf16
            hidden = sac["qf1"].fc2(torch.relu(sac["qf1"].fc1(torch.cat(batch[:1] + batch[2:3], -1))))
            mean, log_std = sac["actor"](batch[0])
            q = sac["qf1"](batch[0], batch[2])
            losses[bf16] = sac_update(0, batch, sac, log_alpha, args)
        assert hidden.dtype == (torch.bfloat16 if bf16 else torch.float32)
        assert {mean.dtype, log_std.dtype, q.dtype, *(v.dtype for v in losses[bf16].values())} == {torch.float32}
        moved[bf16] = (flatten_params(sac["actor"]) - before).flatten()
    for name in ("qf1_loss", "qf2_loss", "actor_loss"):
        assert not torch.equal(losses[True][name], losses[False][name])
        assert torch.allclose(losses[True][name], losses[False][name], rtol=0.05), name
    assert torch.nn.functional.cosine_similarity(moved[True], moved[False], dim=0) > 0.9


def test_bf16_collection_is_repeatable_and_differs_from_float32(tmp_path):
    """--bf16 is a seeded run like any other (twice the same checkpoints, bit for bit), and a different one from the
    float32 run; experiments/bf16_compare.py pairs the two runs task by task."""
    import bf16_compare

    shared = dict(task_ids=(3, 30), hidden=16, total_timesteps=160, learning_starts=100, batch_size=16, save_after=160,
                  num_checkpoints=1, eval_episodes=1, runs_dir=str(tmp_path / "runs"))  # fmt: skip
    params = [
        load_policies(main(Args(out=str(tmp_path / name), bf16=bf16, **shared))["files"][0], "test")["params"]
        for name, bf16 in (("bf16_seed1", True), ("again", True), ("fp32_seed1", False))
    ]
    assert torch.equal(params[0], params[1]) and not torch.equal(params[0], params[2])
    assert torch.isfinite(params[0]).all()
    result = bf16_compare.main(bf16_compare.Args(runs=str(tmp_path), ci_reps=200, out=str(tmp_path / "compare.md")))
    assert result["pairs"] == 2 and result["interval"][0] <= result["diff"] <= result["interval"][1]
    assert "| all 2 pairs |" in (tmp_path / "compare.md").read_text()
    report = glob.glob(str(tmp_path / "fp32_seed1" / "*" / "collect_*.json"))[0]
    for override, message in [
        (dict(ci=1.5), "--ci 1.5: expected a coverage in"),
        (dict(runs=str(tmp_path / "missing")), "missing: no such folder"),
        (dict(runs=str(tmp_path / "runs")), "no seed with both fp32_seed<s> and bf16_seed<s>"),
        (dict(out=report), "--out .*collect_.*json: is one of this stage's inputs"),
    ]:
        with pytest.raises(SystemExit, match=message):
            bf16_compare.main(bf16_compare.Args(**{"runs": str(tmp_path), **override}))


@pytest.mark.parametrize(
    "suite, task_ids, steps",
    [("cheetah-vel", (0, 12, 30), dict(total_timesteps=500, learning_starts=150, save_after=250, save_every=125)),
     ("metaworld", (5, 8, 9), dict(total_timesteps=260, learning_starts=150, save_after=200, save_every=30,
                                   success_threshold=0.0))],
)  # fmt: skip
def test_environment_and_evaluation_workers_collect_the_same_experts(tmp_path, suite, task_ids, steps):
    """Stepping the environments and scoring checkpoints in worker processes (3 tasks over 2 of each: unequal shares)
    gives every checkpoint, return, temperature and behaviour piece of the one-process run, bit for bit; episodes end
    (Cheetah-Vel's 200 steps) and a resume state is saved mid-run; the report says where the time went."""
    shared = dict(suite=suite, task_ids=task_ids, hidden=16, batch_size=16, num_checkpoints=3, eval_episodes=2,
                  state_every=200, runs_dir=str(tmp_path / "runs"), **steps)  # fmt: skip
    alone = main(Args(out=str(tmp_path / "alone"), env_workers=0, eval_workers=0, **shared))
    workers = main(Args(out=str(tmp_path / "workers"), env_workers=2, eval_workers=2, **shared))
    assert len(alone["files"]) == len(workers["files"]) == 3
    for a, b in zip(alone["files"], workers["files"]):
        a, b = load_policies(a, "test"), load_policies(b, "test")
        for key in ("params", "episode_returns", "alpha", "steps", "success", "trajectory", "success_states"):
            assert (key in a) == (key in b) and (key not in a or torch.equal(a[key], b[key])), key
        assert "trajectory" in a or suite == "cheetah-vel"
    for result in (alone, workers):
        seconds = result["report"]["seconds"]
        assert set(seconds) == {"environment", "update", "evaluation", "other"} and seconds["update"] > 0
        assert result["report"]["timed_steps"] == steps["total_timesteps"] - steps["learning_starts"] - 10


def test_worker_processes_save_and_replay_the_episodes_of_one_process():
    """A resume state's episodes mean the same with or without --env-workers (a plumbing flag a resume may change):
    episodes saved by worker processes replay in this process, and this process's in workers, bit for bit."""
    tasks = [get_task("cheetah-vel", i) for i in (0, 12, 30)]
    here, there = ReplayableEnvs(tasks), EnvironmentWorkers(2, tasks)  # worker shares of 2 tasks and 1
    space, rng = here.single_action_space, np.random.default_rng(0)
    actions = rng.uniform(space.low, space.high, (330, 3, *space.shape)).astype(space.dtype)
    there.reset(seed=5)
    for a in actions[:230]:  # past the 200-step episode end
        obs = there.step(a)[0]
    here.reset(seed=1)
    assert np.array_equal(here.replay(there.episodes()), obs)
    for a in actions[230:]:
        steps = here.step(a), there.step(a)
        for x, y in zip(steps[0][:4], steps[1][:4]):
            assert np.array_equal(x, y)
    again = EnvironmentWorkers(2, tasks)
    again.reset(seed=1)
    assert np.array_equal(again.replay(here.episodes()), steps[0][0])
    for envs in (here, there, again):
        envs.close()
