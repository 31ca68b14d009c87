"""The shared module: task suites, their rewards, the actor, flattening, evaluation, artifact I/O."""

import json
import math
import os

import numpy as np
import pytest
import torch
from conftest import fake_policies

import common
from common import (
    Actor,
    actor_layout,
    evaluate,
    flatten_params,
    get_task,
    load_artifact,
    load_flat_params,
    make_env,
    save_atomic,
)


def test_cheetah_vel_suite_and_split():
    suite = common.SUITES["cheetah-vel"]
    assert suite.num_tasks == 40 and suite.test_ids == (2, 7, 15, 23, 26)
    assert len(suite.train_ids) == 35 and not set(suite.train_ids) & set(suite.test_ids)
    assert [get_task("cheetah-vel", i).params[0] for i in (2, 7, 15, 23, 26)] == pytest.approx([0.225, 0.6, 1.2, 1.8, 2.025])
    assert get_task("cheetah-vel", 39).params == pytest.approx((3.0,))


def test_ant_dir_suite_and_split():
    suite = common.SUITES["ant-dir"]
    assert suite.num_tasks == 50 and suite.test_ids == (6, 17, 23, 30, 41)
    assert len(suite.train_ids) == 45 and not set(suite.train_ids) & set(suite.test_ids)
    assert get_task("ant-dir", 0).params == (1.2033605945679715,)
    assert get_task("ant-dir", 49).params == (0.1831988121347493,)
    assert all(0 <= g <= 2 * math.pi for g in common.ANT_DIR_GOALS)


@pytest.mark.parametrize("suite,index", [("cheetah-vel", "x"), ("nope", 0)])
def test_bad_suite_or_task_is_one_line_error(suite, index):
    with pytest.raises(SystemExit, match="--suite|--task-ids"):
        get_task(suite, 40 if index == "x" else index)


def test_cheetah_vel_reward_matches_formula():
    task = get_task("cheetah-vel", 7)
    env = make_env(task)
    env.reset(seed=0)
    assert env.observation_space.shape == (17,) and env.action_space.shape == (6,)
    rng = np.random.default_rng(0)
    for _ in range(5):
        a = rng.uniform(-1, 1, 6).astype(np.float32)
        _, r, terminated, _, info = env.step(a)
        speed, control = -abs(info["x_velocity"] - 0.6), -0.05 * float(np.sum(a.astype(np.float64) ** 2))
        assert r == pytest.approx(speed + control) and not terminated
        assert info["reward_terms"] == pytest.approx({"speed": speed, "control": control}) and r == sum(
            info["reward_terms"].values()
        )


def test_ant_dir_reward_matches_formula_and_episode_length():
    task = get_task("ant-dir", 17)
    g = task.params[0]
    env = make_env(task)
    env.reset(seed=0)
    assert env.observation_space.shape == (27,) and env.action_space.shape == (8,)
    rng = np.random.default_rng(0)
    steps, ended = 0, False
    while not ended:
        a = rng.uniform(-1, 1, 8).astype(np.float32) * 0.1
        _, r, terminated, truncated, info = env.step(a)
        expected = (
            info["x_velocity"] * math.cos(g)
            + info["y_velocity"] * math.sin(g)
            - 0.5 * float(np.sum(a.astype(np.float64) ** 2))
            + 1.0
        )
        assert r == pytest.approx(expected) and r == sum(info["reward_terms"].values())
        assert info["reward_terms"]["control"] == pytest.approx(-0.5 * float(np.sum(a.astype(np.float64) ** 2)))
        steps, ended = steps + 1, terminated or truncated
    assert steps == 200 and truncated  # gentle actions keep the torso in [0.2, 1.0]: the time limit ends it


@pytest.mark.parametrize("obs_dim,act_dim,expected", [(17, 6, 20_364), (27, 8, 22_160), (39, 4, 22_664)])
def test_flat_parameter_count_matches_design(obs_dim, act_dim, expected):
    actor = Actor(obs_dim, act_dim, 128)
    assert flatten_params(actor).shape == (expected,)
    assert sum(math.prod(shape) for _, shape in actor_layout(actor)) == expected
    assert [name for name, _ in actor_layout(actor)] == [k for k in actor.state_dict() if not k.startswith("action_")]


def test_flatten_round_trip_and_batched_slice_is_a_plain_actor():
    torch.manual_seed(0)
    batched = Actor(17, 6, 32, num_tasks=3)
    flat = flatten_params(batched)
    assert flat.shape == (3, flatten_params(Actor(17, 6, 32)).numel())
    single = load_flat_params(Actor(17, 6, 32), flat[2])
    assert torch.equal(flatten_params(single), flat[2])
    assert actor_layout(single) == actor_layout(batched)
    x = torch.randn(3, 5, 17)
    assert torch.allclose(batched.act(x)[2], single.act(x[2]), atol=1e-6)
    # the batched slices really are different policies
    assert not torch.allclose(batched.act(x)[0], batched.act(x)[2])


def test_load_flat_params_rejects_wrong_size():
    with pytest.raises(ValueError, match="shape"):
        load_flat_params(Actor(17, 6, 32), torch.zeros(10))


def test_get_action_log_prob_matches_torch_distribution():
    torch.manual_seed(0)
    actor = Actor(17, 6, 32)
    x = torch.randn(4, 17)
    torch.manual_seed(1)
    action, log_prob, det = actor.get_action(x)
    mean, log_std = actor(x)
    torch.manual_seed(1)
    x_t = torch.distributions.Normal(mean, log_std.exp()).rsample()
    assert torch.allclose(torch.tanh(x_t), action, atol=1e-6)
    ref = (torch.distributions.Normal(mean, log_std.exp()).log_prob(x_t) - torch.log(1 - torch.tanh(x_t) ** 2 + 1e-6)).sum(
        -1, keepdim=True
    )
    assert torch.allclose(log_prob, ref, atol=1e-4)
    assert torch.equal(det, actor.act(x)) and det.abs().max() <= 1


def test_evaluate_is_deterministic_and_batched():
    tasks = [get_task("cheetah-vel", 0), get_task("cheetah-vel", 30)]
    torch.manual_seed(0)
    actor = Actor(17, 6, 32)
    a = evaluate(actor, tasks, episodes=2, seed=3)
    b = evaluate(actor, tasks, episodes=2, seed=3)
    assert a.shape == (2, 2) and np.array_equal(a, b)
    # a standing-still-ish random actor is far worse at v = 2.325 than at v = 0.075
    assert a[1].mean() < a[0].mean() - 100
    # a batched actor runs policy k on task k: slice k evaluated alone gives the same returns
    batched = Actor(17, 6, 32, num_tasks=2)
    single = load_flat_params(Actor(17, 6, 32), flatten_params(batched)[1])
    assert np.allclose(evaluate(batched, tasks, 1, 5)[1], evaluate(single, tasks[1:], 1, 5)[0])
    # groups of `chunk` run only their own policies: chunk 1 gives the chunk-32 returns
    assert np.array_equal(evaluate(batched, tasks, 1, 5, chunk=1), evaluate(batched, tasks, 1, 5))


def test_policies_selects_slices_without_drawing_random_numbers():
    torch.manual_seed(0)
    batched = Actor(17, 6, 32, action_low=[-2.0] * 6, action_high=[2.0] * 6, num_tasks=5)
    rng = torch.random.get_rng_state()
    sub = common.policies(batched, [3, 0])
    assert torch.equal(rng, torch.random.get_rng_state())  # evaluation leaves a training run's random stream alone
    x = torch.randn(5, 4, 17)
    assert torch.equal(sub.act(x[[3, 0]]), batched.act(x)[[3, 0]])
    assert torch.equal(flatten_params(sub), flatten_params(batched)[[3, 0]])


def test_artifacts_are_atomic_and_checked(tmp_path):
    path = str(tmp_path / "x.pt")
    save_atomic({"kind": "thing", "value": torch.ones(3)}, path)
    assert not (tmp_path / "x.pt.tmp").exists()
    assert torch.equal(load_artifact(path, "thing", ("value",))["value"], torch.ones(3))
    with pytest.raises(SystemExit, match=r"x\.pt: expected a 'other' artifact, found 'thing'"):
        load_artifact(path, "other")
    with pytest.raises(SystemExit, match=r"lacks fields \['steps'\]"):
        load_artifact(path, "thing", ("steps",))
    with pytest.raises(SystemExit, match="no such file"):
        load_artifact(str(tmp_path / "missing.pt"), "thing")
    raw = (tmp_path / "x.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(SystemExit, match="cut.pt: not a readable"):
        load_artifact(str(tmp_path / "cut.pt"), "thing")


def test_artifact_that_would_run_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"kind": "thing", "payload": common.Task("cheetah-vel", 0, (0.075,))}, path)  # a pickled object
    with pytest.raises(SystemExit, match="not a readable"):
        load_artifact(str(path), "thing")


def test_training_state_resumes_only_with_the_same_arguments_and_inputs(tmp_path):
    from dataclasses import dataclass, replace

    @dataclass
    class A:
        lr: float = 1e-3
        log_every: int = 10

    path, data = str(tmp_path / "state.pt"), tmp_path / "input.pt"
    data.write_bytes(b"first")
    inputs = common.fingerprint([str(data)])
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    common.save_training_state(path, A(), 7, {"model": model, "optimizer": optimizer}, inputs, "t", run_name="r")
    expected_draw = torch.rand(3)

    fresh = torch.nn.Linear(3, 2)
    fresh_opt = torch.optim.Adam(fresh.parameters())
    assert common.resume_training_state(str(tmp_path / "none.pt"), A(), {"model": fresh}, inputs, "t") is None
    state = common.resume_training_state(
        path, replace(A(), log_every=99), {"model": fresh, "optimizer": fresh_opt}, inputs, "t"
    )
    assert state["step"] == 7 and state["run_name"] == "r"
    assert torch.equal(fresh.weight, model.weight) and fresh_opt.state_dict()["state"][0]["step"] == 1
    assert torch.equal(torch.rand(3), expected_draw), "the RNG was not restored"
    with pytest.raises(SystemExit, match=r"state.pt: resume state from other arguments \(lr\)"):
        common.resume_training_state(path, A(lr=0.1), {"model": fresh}, inputs, "t")

    @dataclass
    class Newer(A):  # a flag added after the state was saved
        cuda: bool = True

    assert common.resume_training_state(path, Newer(), {"model": fresh}, inputs, "t")["step"] == 7  # at its default
    with pytest.raises(SystemExit, match=r"resume state from other arguments \(cuda\)"):
        common.resume_training_state(path, Newer(cuda=False), {"model": fresh}, inputs, "t")
    data.write_bytes(b"second, longer")  # the input changed since the state was saved
    with pytest.raises(SystemExit, match=r"state.pt: resume state made from other inputs \(.*input.pt changed\)"):
        common.resume_training_state(path, A(), {"model": fresh}, common.fingerprint([str(data)]), "t")
    with pytest.raises(SystemExit, match=r"other inputs \(.*input.pt, .*other.pt changed\)"):
        common.resume_training_state(path, A(), {"model": fresh}, {str(tmp_path / "other.pt"): [1, 1]}, "t")
    with pytest.raises(SystemExit, match=r"state.pt: resume state of an older version \(no episodes\); delete it to start"):
        common.resume_training_state(path, A(), {"model": fresh}, inputs, "t", ("episodes",))  # a stage needs them back


@pytest.mark.parametrize(
    "suite, ids, before, after",
    [("ant-dir", (1, 34), 350, 400), ("cheetah-vel", (0, 5), 250, 250), ("metaworld", (0, 1), 1300, 700)],
)
def test_replayed_episodes_step_on_exactly_as_the_originals(suite, ids, before, after, tmp_path):
    """A resumed run's environments, rebuilt from episodes(), give the same transitions bit for bit: across Ant's early
    terminations, the 200-step time limit and MetaWorld's goal cycle (the state is saved at `before`)."""
    tasks = [get_task(suite, i) for i in ids]
    envs, rng = common.ReplayableEnvs(tasks), np.random.default_rng(0)
    obs = envs.reset(seed=5)[0]
    space = envs.single_action_space
    actions = rng.uniform(space.low, space.high, (before + after, len(ids), *space.shape)).astype(space.dtype)
    ends = 0
    for a in actions[:before]:
        obs, _, terminated, truncated, _ = envs.step(a)
        ends += (terminated | truncated).sum()
    save_atomic({"kind": "test", "episodes": envs.episodes()}, str(tmp_path / "s.pt"))  # as a resume state holds them
    episodes = load_artifact(str(tmp_path / "s.pt"), "test")["episodes"]
    assert ends >= len(ids) and all(0 < len(e["actions"]) < before for e in episodes)  # saved mid-episode, not the first
    again = common.ReplayableEnvs(tasks)
    again.reset(seed=99)  # as a resumed run: reset with its seed, then stepped back
    assert np.array_equal(again.replay(episodes), obs)
    for a in actions[before:]:
        for x, y in zip(envs.step(a)[:4], again.step(a)[:4]):
            assert np.array_equal(x, y)


def test_check_args_names_the_flag_and_the_range():
    from types import SimpleNamespace

    args = SimpleNamespace(steps=0, lr=-1e-3, weight=float("nan"), gamma=1.5, ok=3)
    with pytest.raises(SystemExit, match="^t: --steps 0: expected an integer >= 1$"):
        common.check_args("t", args, at_least={"ok": 1, "steps": 1})
    with pytest.raises(SystemExit, match="^t: --lr -0.001: expected a number > 0$"):
        common.check_args("t", args, positive=("lr",))
    with pytest.raises(SystemExit, match="^t: --weight nan: expected a number >= 0$"):
        common.check_args("t", args, non_negative=("weight",))
    with pytest.raises(SystemExit, match=r"^t: --gamma 1.5: expected a number in \[0, 1\]$"):
        common.check_args("t", args, unit=("gamma",))
    with pytest.raises(SystemExit, match=r"^t: --gamma 1.5: expected a coverage in \(0, 1\), e.g. 0.95$"):
        common.check_args("t", args, coverage=("gamma",))
    common.check_args("t", SimpleNamespace(ok=3, lr=1e-3, seed=0, goal_seeds=(720, 2**32 - 1)), at_least={"ok": 3})
    for name, value, message in [("lr", float("inf"), "--lr inf: expected a finite number"),
                                 ("seed", -1, "--seed -1: expected a seed in 0..4294967295"),
                                 ("init_seed", 2**64, "--init-seed 18446744073709551616: expected a seed in 0..4294967295"),
                                 ("goal_seeds", (720, -5), "--goal-seeds -5: expected a seed in 0..4294967295"),
                                 ("eval_episodes", 10**12, "--eval-episodes 1000000000000: needs about .* GiB, this machine "
                                  "has .* GiB")]:  # fmt: skip
        with pytest.raises(SystemExit, match=f"^t: {message}$"):
            common.check_args("t", SimpleNamespace(**{name: value}), positive=("lr",) if name == "lr" else ())


def test_a_folder_argument_must_be_a_writable_folder(tmp_path):
    from types import SimpleNamespace

    (tmp_path / "a_file").write_text("x")
    with pytest.raises(SystemExit, match=f"^t: --runs-dir {tmp_path}/a_file: {tmp_path}/a_file is a file, not a folder$"):
        common.check_args("t", SimpleNamespace(runs_dir=str(tmp_path / "a_file")))
    with pytest.raises(SystemExit, match="^t: --logs /proc/genhyper/logs: cannot write in /proc"):
        common.check_args("t", SimpleNamespace(logs="/proc/genhyper/logs"))
    common.check_args("t", SimpleNamespace(runs_dir=str(tmp_path / "runs" / "deeper")))
    assert not (tmp_path / "runs").exists(), "a check must not create folders"


def test_two_runs_cannot_write_one_output(tmp_path):
    """A live run's claim refuses a second run; a killed run's claim is taken over; the claiming process may claim again."""
    import subprocess
    import sys

    out = tmp_path / "out.pt"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / "out.pt.lock").write_text(str(other.pid))
        with pytest.raises(SystemExit, match=f"^t: --out {out}: another run \\(process {other.pid}\\) is writing it"):
            common.claim_output("t", "--out", str(out))
    finally:
        other.kill()
        other.wait()
    common.claim_output("t", "--out", str(out))  # that run is gone: its claim is taken over
    assert (tmp_path / "out.pt.lock").read_text() == str(os.getpid())
    common.claim_output("t", "--out", str(out))


def test_nan_is_never_written_and_stops_training(tmp_path):
    from types import SimpleNamespace

    path = tmp_path / "a.pt"
    common.save_atomic({"kind": "x", "w": torch.ones(2)}, str(path))
    before = path.read_bytes()
    with pytest.raises(SystemExit, match=r"^t: .*a.pt: w holds NaN or inf values; not written"):
        common.save_atomic({"kind": "x", "w": torch.tensor([1.0, float("nan")])}, str(path), "t")
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["a.pt"]
    model, state = torch.nn.Linear(2, 1), str(tmp_path / "state.pt")
    common.save_training_state(state, SimpleNamespace(lr=1.0), 10, {"model": model}, {}, "t")
    saved = open(state, "rb").read()
    with torch.no_grad():
        model.bias.fill_(float("inf"))
    with pytest.raises(
        SystemExit, match=f"^t: step 20: model.bias is NaN or inf, training diverged; stopped \\({state} keeps"
    ):
        common.save_training_state(state, SimpleNamespace(lr=1.0), 20, {"model": model}, {}, "t")
    assert open(state, "rb").read() == saved


def test_check_output_refuses_unusable_paths_before_work(tmp_path):
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "input.pt").write_text("x")
    cases = [
        (str(tmp_path), "is a folder, expected a file path"),
        (str(tmp_path / "a_file" / "out.pt"), "a_file is a file, not a folder"),
        (str(tmp_path / "sub" / ".." / "input.pt"), "is one of this stage's inputs"),
        ("/proc/genhyper/out.pt", "cannot write in /proc"),  # not writable, even for root
        ("", "expected a file path"),
    ]
    for path, message in cases:
        with pytest.raises(SystemExit, match=message):
            common.check_output("t", "--out", path, [str(tmp_path / "input.pt")])
    common.check_output("t", "--out", str(tmp_path / "new" / "deeper" / "out.pt"), [str(tmp_path / "input.pt")])
    assert not (tmp_path / "new").exists(), "a check must not create folders"
    assert sorted(os.listdir(tmp_path)) == ["a_file", "input.pt"], "the write probe was left behind"


def test_failed_write_names_the_file_and_leaves_no_tmp(tmp_path, monkeypatch):
    path = str(tmp_path / "x.pt")
    save_atomic({"kind": "thing", "value": torch.ones(3)}, path)

    def disk_full(obj, f):  # a real full disk: torch writes into /dev/full, which always answers ENOSPC
        with open(f, "wb") as tmp:
            tmp.write(b"partial")
        real_save(obj, "/dev/full")

    real_save = torch.save
    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(
        SystemExit, match=r"^who: .*x.pt: could not write it \(the write failed; \d+ MiB free on its disk\); nothing"
    ):
        save_atomic({"kind": "thing", "value": torch.zeros(3)}, path, "who")
    monkeypatch.undo()
    assert not os.path.exists(path + ".tmp") and torch.equal(load_artifact(path, "thing")["value"], torch.ones(3))

    def no_space(tmp):
        open(tmp, "w").write("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(SystemExit, match=r"x.json: could not write it \(No space left on device\)"):
        common.write_atomic(str(tmp_path / "x.json"), no_space, "who")
    assert os.listdir(tmp_path) == ["x.pt"]
    (tmp_path / "folder.pt").mkdir()  # os.replace onto a folder fails: the .tmp goes too
    with pytest.raises(SystemExit, match="folder.pt: could not write it"):
        save_atomic({"kind": "thing"}, str(tmp_path / "folder.pt"))
    assert sorted(os.listdir(tmp_path)) == ["folder.pt", "x.pt"]


def test_json_is_strict(tmp_path):
    path = tmp_path / "t.json"
    common.write_json_atomic(str(path), {"mean": float("nan"), "rows": [1.5, float("inf")], "n": 2})
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict constant {c}")) == {
        "mean": None, "rows": [1.5, None], "n": 2}  # fmt: skip


def test_policy_file_round_trip_and_checks(tmp_path):
    data = fake_policies("cheetah-vel", 4, num=3)
    save_atomic(data, str(tmp_path / "task_04.pt"))
    loaded = common.load_policies(str(tmp_path / "task_04.pt"), "t")
    assert loaded["params"].shape == (3, flatten_params(Actor(17, 6, 8)).numel()) and loaded["returns"].shape == (3,)
    assert torch.allclose(loaded["returns"], loaded["episode_returns"].mean(1))
    actor = load_flat_params(Actor(**loaded["actor_args"]), loaded["params"][1])  # rebuilds from the file alone
    assert torch.equal(flatten_params(actor), data["params"][1])
    bad_params = data["params"].clone()
    bad_params[1, 5] = float("nan")
    cases = [
        ("task_08.pt", data, "named for task 8 but holds task 4"),
        ("a.pt", {**data, "params": bad_params}, "params holds NaN or inf"),
        ("b.pt", {**data, "episode_returns": torch.full((3, 2), float("inf"))}, "returns holds NaN or inf"),
        ("c.pt", {**data, "params": data["params"][:, :-1]}, r"params have shape \[3, \d+\], its layout needs"),
        ("d.pt", {**data, "task": {**data["task"], "params": [9.0]}}, "has other MDP parameters"),
        ("e.pt", {k: v for k, v in data.items() if k != "origin"}, r"lacks fields \['origin'\]"),
    ]
    for name, content, message in cases:
        torch.save(content, str(tmp_path / name))  # planted: save_atomic would refuse the NaN ones
        with pytest.raises(SystemExit, match=message):
            common.load_policies(str(tmp_path / name), "t")


def test_pick_device_follows_cleanrl():
    assert common.pick_device(False) == torch.device("cpu")
    assert common.pick_device(True).type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert torch.backends.cudnn.deterministic
