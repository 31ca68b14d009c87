"""The shared module: task suites, their rewards, the actor, flattening, evaluation, artifact I/O."""
import math

import numpy as np
import pytest
import torch

import common
from common import Actor, actor_layout, evaluate, flatten_params, get_task, load_artifact, load_flat_params, make_env, save_atomic


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
        assert r == pytest.approx(-abs(info["x_velocity"] - 0.6) - 0.05 * float(np.sum(a.astype(np.float64) ** 2)))
        assert not terminated


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
        expected = info["x_velocity"] * math.cos(g) + info["y_velocity"] * math.sin(g) - 0.5 * float(np.sum(a.astype(np.float64) ** 2)) + 1.0
        assert r == pytest.approx(expected)
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
    ref = (torch.distributions.Normal(mean, log_std.exp()).log_prob(x_t) - torch.log(1 - torch.tanh(x_t) ** 2 + 1e-6)).sum(-1, keepdim=True)
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


def test_training_state_resumes_only_with_the_same_arguments(tmp_path):
    from dataclasses import dataclass, replace

    @dataclass
    class A:
        lr: float = 1e-3
        log_every: int = 10

    path = str(tmp_path / "state.pt")
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    common.save_training_state(path, A(), 7, {"model": model, "optimizer": optimizer}, run_name="r")
    expected_draw = torch.rand(3)

    fresh = torch.nn.Linear(3, 2)
    fresh_opt = torch.optim.Adam(fresh.parameters())
    assert common.resume_training_state(str(tmp_path / "none.pt"), A(), {"model": fresh}, "t") is None
    state = common.resume_training_state(path, replace(A(), log_every=99), {"model": fresh, "optimizer": fresh_opt}, "t")
    assert state["step"] == 7 and state["run_name"] == "r"
    assert torch.equal(fresh.weight, model.weight) and fresh_opt.state_dict()["state"][0]["step"] == 1
    assert torch.equal(torch.rand(3), expected_draw), "the RNG was not restored"
    with pytest.raises(SystemExit, match=r"state.pt: resume state from other arguments \(lr\)"):
        common.resume_training_state(path, A(lr=0.1), {"model": fresh}, "t")
