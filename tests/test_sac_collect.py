"""sac_collect.py: batched SAC is K independent SACs; the script collects, evaluates, resumes, refuses bad input."""
import glob
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from common import Actor, evaluate, get_task, load_artifact, load_flat_params
from conftest import ROOT
from sac_collect import Args, ReplayBuffer, SoftQNetwork, main

# a tiny Cheetah-Vel config that still reaches updates (learning_starts < total), checkpoints and evaluation
TINY = ["--suite", "cheetah-vel", "--task-ids", "0", "30", "--hidden", "32", "--total-timesteps", "1000",
        "--learning-starts", "200", "--save-after", "300", "--save-every", "100", "--num-checkpoints", "7",
        "--eval-episodes", "2", "--state-every", "250", "--log-every", "250", "--out", "data"]


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
    args = Args(task_ids=(0, 30), hidden=16, total_timesteps=20, learning_starts=10, save_after=1, save_every=1,
                num_checkpoints=1, eval_episodes=1, out=str(tmp_path / f"shared{shared_init}"),
                runs_dir=str(tmp_path / "runs"), shared_init=shared_init)
    files = main(args)["files"]
    return [load_artifact(f, "sac_collect")["params"][0] for f in files]


def test_shared_init_starts_every_task_from_one_point(tmp_path):
    a, b = _first_checkpoint(tmp_path, shared_init=True)  # step 1 is before any update
    assert torch.equal(a, b)
    a, b = _first_checkpoint(tmp_path, shared_init=False)
    assert not torch.allclose(a, b)


def test_collect_kill_resume_and_artifact(tmp_path):
    state = tmp_path / "data" / "cheetah-vel" / ".resume_0-30.pt"
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "sac_collect.py"), *TINY], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 300
    while not state.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)  # as hard a crash as there is
    proc.wait()
    assert state.exists(), "the run ended before its first resume state was saved"
    assert not glob.glob(str(tmp_path / "data" / "cheetah-vel" / "task_*.pt*")), "a killed run left task files"

    proc = subprocess.run([sys.executable, os.path.join(ROOT, "sac_collect.py"), *TINY], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    resumed_at = int(proc.stdout.split("at step ")[1].split()[0])
    assert "resuming from" in proc.stdout and 250 <= resumed_at < 1000
    assert "ETA" in proc.stdout and "steps/s" in proc.stdout
    assert not state.exists(), "the resume state outlived a finished run"

    for index in (0, 30):
        data = load_artifact(str(tmp_path / "data" / "cheetah-vel" / f"task_{index:02d}.pt"), "sac_collect")
        assert data["task"] == {"suite": "cheetah-vel", "index": index, "params": [0.075 * (index + 1)],
                                "param_names": ["velocity"]}
        assert data["params"].shape == (7, 17 * 32 + 32 + 32 * 32 + 32 + 2 * (32 * 6 + 6)) and data["params"].dtype == torch.float32
        assert data["steps"].tolist() == [300, 400, 500, 600, 700, 800, 900]
        assert data["returns"].shape == (7,) and data["episode_returns"].shape == (7, 2)
        assert data["args"]["total_timesteps"] == 1000 and data["obs_dim"] == 17 and data["act_dim"] == 6
        assert not torch.equal(data["params"][0], data["params"][-1]), "no update happened between checkpoints"
        # the stored return is reproducible from the stored parameters alone
        actor = load_flat_params(Actor(**data["actor_args"]), data["params"][-1])
        again = evaluate(actor, [get_task("cheetah-vel", index)], 2, data["args"]["eval_seed"])[0]
        assert np.allclose(again, data["episode_returns"][-1].numpy(), atol=1e-3)
    assert len(glob.glob(str(tmp_path / "runs" / "*" / "task_30" / "events.*"))) >= 1

    # started again: finished tasks are skipped, files untouched
    before = os.path.getmtime(tmp_path / "data" / "cheetah-vel" / "task_00.pt")
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "sac_collect.py"), *TINY], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "skipping finished tasks [0, 30]" in proc.stdout
    assert os.path.getmtime(tmp_path / "data" / "cheetah-vel" / "task_00.pt") == before


def test_ant_dir_end_to_end_tiny(tmp_path, run):
    run("sac_collect.py", "--suite", "ant-dir", "--task-ids", "6", "--hidden", "32", "--total-timesteps", "400",
        "--learning-starts", "100", "--save-after", "300", "--save-every", "100", "--num-checkpoints", "2",
        "--eval-episodes", "1", "--out", "data", cwd=tmp_path)
    data = load_artifact(str(tmp_path / "data" / "ant-dir" / "task_06.pt"), "sac_collect")
    assert data["params"].shape == (2, 27 * 32 + 32 + 32 * 32 + 32 + 2 * (32 * 8 + 8))
    assert data["task"]["params"] == [0.2454395410534735] and torch.isfinite(data["returns"]).all()


@pytest.mark.parametrize("override,message", [
    ({"suite": "walker-vel"}, "--suite 'walker-vel': unknown suite"),
    ({"task_ids": (0, 40)}, "--task-ids 40: outside suite 'cheetah-vel'"),
    ({"task_ids": (3, 3)}, "--task-ids .*repeated"),
    ({"save_after": 950}, "--save-after 950: .* step 1550"),
    ({"save_every": 0}, "--save-every 0: expected a positive integer"),
])
def test_bad_arguments_fail_before_training(tmp_path, override, message):
    args = Args(**{**dict(task_ids=(0,), total_timesteps=1000, save_after=500, save_every=100, num_checkpoints=7,
                          out=str(tmp_path / "data"), runs_dir=str(tmp_path / "runs")), **override})
    with pytest.raises(SystemExit, match=message):
        main(args)
    assert not (tmp_path / "runs").exists()


def test_output_folder_of_another_actor_size_is_refused(tmp_path, run):
    folder = tmp_path / "data" / "cheetah-vel"
    folder.mkdir(parents=True)
    torch.save({"kind": "sac_collect", "task": {"suite": "cheetah-vel", "index": 1}, "actor_args": {"hidden": 64}},
               folder / "task_01.pt")
    proc = run("sac_collect.py", "--task-ids", "0", "--hidden", "32", "--out", "data", cwd=tmp_path, check=False)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [f"sac_collect: --out data: data/cheetah-vel/task_01.pt has actor hidden=64, not --hidden 32"]
    torch.save({"kind": "sac_collect", "task": {"suite": "ant-dir", "index": 1}, "actor_args": {"hidden": 32}},
               folder / "task_01.pt")
    with pytest.raises(SystemExit, match="is from suite 'ant-dir'"):
        main(Args(task_ids=(0,), hidden=32, out=str(tmp_path / "data")))
