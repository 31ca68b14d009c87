"""The MetaWorld half: the suite and its fixed goals, the behaviour pieces, success-gated collection, eq. (7), and
the chain sac_collect -> ae_train -> behavior_embed -> hyplatent_train --condition behavior -> MTRL table."""

import dataclasses
import importlib
import json
import math
import os

import gymnasium as gym
import numpy as np
import plot_seen_count
import pool_folds
import pytest
import torch
from conftest import fake_policies, one_line_error, run_script

import behavior_embed
import common
import hypformer_train
import sac_collect
from common import (
    SUCCESS_STATES,
    Actor,
    behavior_pieces,
    evaluate,
    get_suite,
    get_task,
    load_artifact,
    load_collection,
    load_policies,
    make_env,
    save_atomic,
)

OBS, ACT = 39, 4
TRAJ, STATES = 20 * OBS + 60 * ACT, SUCCESS_STATES * OBS


def test_tasks_by_name_and_id():
    assert get_task("metaworld", "door-open").index == 1 and get_task("metaworld", "8").name == "drawer-close"
    assert get_task("metaworld", 15).goals == (720, 920)  # Make-An-Agent's fixed goals by default
    with pytest.raises(SystemExit, match="'door-close': not a task of metaworld"):
        get_task("metaworld", "door-close")
    with pytest.raises(SystemExit, match="expected an integer id"):
        get_task("cheetah-vel", "door-open")
    for script, arg in (("finetune_tdreg", "task_id"), ("hyplatent_train", "test_task_ids"), ("ae_train", "train_task_ids")):
        annotation = importlib.import_module(script).Args.__annotations__[arg]  # every task argument takes names too
        assert "str" in str(annotation), (script, arg)


def test_episode_e_runs_on_goal_e():
    """GoalCycle: evaluation episode e starts where gym.make(..., seed=goal e) starts, whatever the reset seed."""
    task = get_task("metaworld", "button-press")
    starts = [gym.make("Meta-World/goal_observable", env_name="button-press-v3", seed=g, disable_env_checker=True).reset()[0]
              for g in task.goals]  # fmt: skip
    assert not np.allclose(starts[0][36:39], starts[1][36:39]), "the two goals must differ"
    torch.manual_seed(0)
    result = evaluate(Actor(OBS, ACT, 16), [task], episodes=2, seed=123, behavior=True)
    for e in range(2):
        assert np.allclose(result["trajectory"][0, e, :OBS], starts[e], atol=1e-6)  # s_0 of episode e


def test_behavior_pieces_of_a_hand_built_episode():
    """Trajectory = s_0, a_0, a_1, a_2, s_3, a_3, ... over 60 steps; success states = s_m, s_m+1, s_m+2."""
    T = 100
    states = np.arange(T + 1, dtype=np.float32)[:, None].repeat(OBS, 1)  # s_t = t everywhere
    actions = (1000 + np.arange(T, dtype=np.float32))[:, None].repeat(ACT, 1)  # a_t = 1000 + t
    trajectory, success = behavior_pieces(states, actions, first_success=7)
    assert trajectory.shape == (TRAJ,) and success.shape == (STATES,)
    expected = []
    for t in range(60):
        expected += ([t] * OBS if t % 3 == 0 else []) + [1000 + t] * ACT
    assert np.array_equal(trajectory, np.array(expected, dtype=np.float32))
    assert np.array_equal(success, np.repeat([7, 8, 9], OBS).astype(np.float32))
    _, never = behavior_pieces(states, actions, first_success=-1)  # no success: the last 3 states stand in
    assert np.array_equal(never, np.repeat([98, 99, 100], OBS).astype(np.float32))
    _, late = behavior_pieces(states, actions, first_success=100)  # past the end: the last state repeats
    assert np.array_equal(late, np.repeat([100, 100, 100], OBS).astype(np.float32))


def test_contrastive_loss_on_a_known_batch():
    """Eq. (7) as cross-entropy over each row: logits [[2, 0], [0, 2]] give log(1 + e^-2); rows are max-shifted."""
    model = behavior_embed.BehaviorEmbedding(traj_dim=3, states_dim=3, hidden=4, psi_hidden=4, embed_dim=2)
    with torch.no_grad():
        model.W.copy_(torch.eye(2))
    h, v = torch.eye(2), 2 * torch.eye(2)
    logits = model.logits(h, v)
    assert torch.allclose(logits, torch.tensor([[0.0, -2.0], [-2.0, 0.0]]))
    assert behavior_embed.contrastive_loss(logits).item() == pytest.approx(math.log(1 + math.exp(-2)))
    swapped = model.logits(h, v.flip(0))  # every trajectory scored highest against the wrong success states
    assert behavior_embed.contrastive_loss(swapped).item() == pytest.approx(math.log(1 + math.exp(2)))


def test_embedding_report_with_a_single_unseen_task():
    """One unseen task has no other unseen task to be told apart from: its cell says so instead of failing."""
    metrics = {"per_task": {0: {"retrieval": 0.5, "task_id": 1.0}}, "retrieval": 0.5, "retrieval_chance": 0.25,
               "task_id": 1.0, "task_id_chance": 1.0}  # fmt: skip
    collection = {0: {"task": {"name": "window-open"}}, 8: {"task": {"name": "drawer-close"}}}
    table = behavior_embed.report(metrics, collection, [0], [8])
    assert "| 8 | drawer-close | – (unseen) | – (one unseen task) |" in table and "**unseen**" not in table


def test_a_task_keeps_checkpoints_from_its_first_success(tmp_path, monkeypatch):
    """Success bookkeeping with a scripted evaluation: task 0 first succeeds at the 2nd evaluation, task 1 never.
    Task 0 keeps checkpoints from then on, task 1 gets no file but a line in the report."""
    calls = []

    def fake_evaluate(actor, tasks, episodes, seed, behavior=False, pool=None):
        calls.append(len(calls))
        success = np.zeros((len(tasks), episodes), dtype=np.float32)
        success[0] = 1.0 if len(calls) >= 2 else 0.0
        return {"returns": np.full((len(tasks), episodes), float(len(calls))), "success": success,
                "first_success": np.where(success > 0, 5, -1), "trajectory": np.zeros((len(tasks), episodes, TRAJ)),
                "success_states": np.zeros((len(tasks), episodes, STATES))}  # fmt: skip

    monkeypatch.setattr(sac_collect, "evaluate", fake_evaluate)  # in this process: no evaluation workers
    args = sac_collect.Args(suite="metaworld", task_ids=("button-press", "window-open"), hidden=8, total_timesteps=600,
                            learning_starts=100, batch_size=8, save_after=200, save_every=100, num_checkpoints=3,
                            eval_workers=0, out=str(tmp_path / "data"), runs_dir=str(tmp_path / "runs"))  # fmt: skip
    out = sac_collect.main(args)
    report = out["report"]["tasks"]
    assert report["button-press"] == {"index": 5, "steps_to_success": 300, "checkpoints": 3, "success_last": [1.0, 1.0],
                                      "return_best": 4.0, "return_last": 4.0, "return_mean": 3.0,
                                      "return_std": pytest.approx(np.std([2, 3, 4])), "return_first_half": 2.5,
                                      "return_second_half": 4.0}  # fmt: skip
    assert report["window-open"] == {"index": 0, "steps_to_success": -1, "checkpoints": 0}
    data = load_policies(str(tmp_path / "data" / "metaworld" / "task_05.pt"), "test")
    assert data["steps"].tolist() == [300, 400, 500] and data["steps_to_success"] == 300
    assert data["returns"].tolist() == [2.0, 3.0, 4.0]  # the 2nd, 3rd and 4th evaluations
    assert data["success"].shape == (3, 2) and data["trajectory"].shape == (3, 2, TRAJ)
    assert data["success_states"].shape == (3, 2, STATES)
    assert out["files"] == [str(tmp_path / "data" / "metaworld" / "task_05.pt")]
    saved = json.loads((tmp_path / "data" / "metaworld" / "collect_5-0.json").read_text())
    assert saved["tasks"]["window-open"]["checkpoints"] == 0

    # --keep successful: only the evaluations that reach the threshold (here the 3rd fails again)
    calls.clear()
    monkeypatch.setattr(sac_collect, "evaluate", lambda *a, **k: {**fake_evaluate(*a, **k), "success": np.array(
        [[1.0, 1.0] if len(calls) in (2, 4, 5) else [0.0, 0.0], [0.0, 0.0]], dtype=np.float32)})  # fmt: skip
    only = sac_collect.main(dataclasses.replace(args, keep="successful", out=str(tmp_path / "only")))
    data = load_policies(only["files"][0], "test")
    assert data["steps"].tolist() == [300, 500, 600] and data["success"].min().item() == 1.0


def test_scripted_policies_solve_every_task_through_our_env():
    """Scripted seeding needs MetaWorld's scripted expert of each task, run through make_env (the 16 of the paper's
    split and the 4 more seen ones)."""
    assert get_suite("metaworld").train_ids == (*range(8), 16, 17, 18, 19)
    for i in range(20):
        task = get_task("metaworld", i, goals=(720,))
        env, policy = make_env(task), sac_collect.scripted_policy(task)
        obs, _ = env.reset()
        succeeded = False
        for _ in range(500):
            obs, _, terminated, truncated, info = env.step(policy.get_action(obs))
            succeeded |= info["success"] >= 1
            if succeeded or terminated or truncated:
                break
        assert succeeded, task.name


@pytest.fixture(scope="module")
def mw_chain(tmp_path_factory):
    """The MetaWorld chain as a user runs it, tiny: 2 seen + 2 unseen tasks, scripted seeding, threshold 0."""
    tmp = tmp_path_factory.mktemp("mw")
    collect = ("--suite metaworld --task-ids window-open button-press drawer-close reach-wall --hidden 16 "
               "--total-timesteps 700 --learning-starts 300 --scripted-steps 400 --save-after 500 --save-every 50 "
               "--num-checkpoints 4 --success-threshold 0 --batch-size 32 --out data")  # fmt: skip
    run_script("sac_collect.py", *collect.split(), cwd=tmp)
    run_script("ae_train.py", *"--data data/metaworld --out artifacts/ae.pt --latent-dim 32 --steps 40 --batch-size 8".split(),
               cwd=tmp)  # fmt: skip
    embed = run_script("behavior_embed.py", *"--data data/metaworld --out artifacts/embed.pt --epochs 6".split(),
                       *"--holdout-every 2 --hidden 32 --psi-hidden 16 --embed-dim 8".split(), "--state-every", "3",
                       cwd=tmp)  # fmt: skip
    hl = run_script("hyplatent_train.py", *"--ae artifacts/ae.pt --condition behavior --embedding artifacts/embed.pt".split(),
                    *"--out artifacts/hl.pt --iterations 6 --batch-size 4 --generator-widths 32 16 --noise-dim 8".split(),
                    *"--eval-samples 5 --ci-reps 200".split(), cwd=tmp)  # fmt: skip
    return tmp, embed.stdout, hl.stdout


def test_chain_collection_holds_the_behaviour_pieces(mw_chain):
    tmp, _, _ = mw_chain
    collection = load_collection(str(tmp / "data" / "metaworld"), "test")
    assert sorted(collection) == [0, 5, 8, 12]
    for c in collection.values():
        assert c["task"]["goals"] == [720, 920] and c["episode_returns"].shape == (4, 2)
        assert c["trajectory"].shape == (4, 2, TRAJ) and c["success_states"].shape == (4, 2, STATES)
        assert c["steps"].tolist() == [500, 550, 600, 650]  # threshold 0: kept from --save-after on


def test_chain_embedding_splits_and_embeds_every_checkpoint(mw_chain):
    tmp, stdout, _ = mw_chain
    emb = load_artifact(str(tmp / "artifacts" / "embed.pt"), "behavior_embedding", who="test")
    assert emb["seen_ids"] == [0, 5] and sorted(emb["tau_e"]) == [0, 5, 8, 12]
    for i in (0, 5, 8, 12):
        assert emb["tau_e"][i].shape == (4, 16) and torch.isfinite(emb["tau_e"][i]).all()
        assert emb["train"][i] == [0, 2] and emb["holdout"][i] == [1, 3]
    assert 0 <= emb["metrics"]["retrieval"] <= 1 and emb["metrics"]["task_id_chance"] == 0.5
    assert "held-out retrieval" in stdout and "leave one out among unseen" in stdout
    assert not (tmp / "artifacts" / "embed.pt.state.pt").exists()


def test_chain_mtrl_table_and_generated_policies(mw_chain):
    tmp, _, stdout = mw_chain
    assert "4 latents" in stdout  # 2 seen tasks x 4 checkpoints, minus the 2 held out of each
    table = json.loads((tmp / "artifacts" / "hl_mtrl.json").read_text())
    assert table["targets"] == ["0", "5", "8", "12"] and set(table["overall"]) == {"seen", "unseen"}
    for key, row in table["per_task"].items():
        for name in ("generated", "retrieval", "random actor", "conditioning experts"):
            assert 0 <= row[name]["avg"] <= row[name]["top-5"] <= 1 and row[name]["top-10"] <= row[name]["top-5"]
        assert row["conditioning checkpoints"] == ([1, 3] if row["seen"] else [0, 1, 2, 3])
        policies = load_policies(str(tmp / "artifacts" / "hl_generated" / f"task_{int(key):02d}.pt"), "test")
        assert policies["params"].shape[0] == 5 and policies["success"].shape == (5, 2)
        assert row["generated"]["avg"] == pytest.approx(policies["success"].mean().item())
    assert "**seen tasks**" in stdout and "**unseen tasks**" in stdout


def test_bad_metaworld_input_fails_before_work(tmp_path, mw_chain):
    tmp, _, _ = mw_chain
    cases = [
        ("sac_collect.py", "--suite metaworld --task-ids door-close", "--task-ids 'door-close': not a task of metaworld"),
        ("sac_collect.py", "--suite metaworld --task-ids 5 --goal-seeds", "--goal-seeds: give at least one goal seed"),
        ("sac_collect.py", "--suite cheetah-vel --task-ids 5 --scripted-steps 10", "--scripted-steps: only metaworld"),
        ("hyplatent_train.py", f"--ae {tmp}/artifacts/ae.pt --out hl.pt", "metaworld tasks have no MDP parameters"),
        ("hyplatent_train.py", f"--ae {tmp}/artifacts/ae.pt --condition behavior --out hl.pt",
         "--embedding: --condition behavior needs"),
        ("hyplatent_train.py", f"--ae {tmp}/artifacts/ae.pt --condition behavior --embedding x.pt --quality-condition",
         "--quality-condition: not with --condition behavior"),
    ]  # fmt: skip
    for script, argv, message in cases:
        one_line_error(run_script(script, *argv.split(), cwd=tmp_path, check=False), message)

    mixed = tmp_path / "mixed"  # a MetaWorld collection with a Cheetah-Vel file in it
    mixed.mkdir()
    for name in ("task_00.pt", "task_05.pt"):
        (mixed / name).write_bytes((tmp / "data" / "metaworld" / name).read_bytes())
    save_atomic(fake_policies("cheetah-vel", 3), str(mixed / "task_03.pt"))
    proc = run_script("behavior_embed.py", "--data", str(mixed), "--out", "e.pt", cwd=tmp_path, check=False)
    one_line_error(proc, "mixes suites")
    broken = tmp_path / "broken"  # behaviour pieces with an inf in them: refused as the parameters would be
    broken.mkdir()
    for name in ("task_00.pt", "task_05.pt"):
        data = load_policies(str(tmp / "data" / "metaworld" / name), "test")
        torch.save({**data, "trajectory": data["trajectory"] * (float("inf") if name == "task_05.pt" else 1)}, broken / name)
    proc = run_script("behavior_embed.py", "--data", str(broken), "--out", "e.pt", cwd=tmp_path, check=False)
    one_line_error(proc, "task_05.pt: trajectory holds NaN or inf values")
    argv = f"--data {tmp}/data/metaworld --out e.pt --hidden 1000000000 --holdout-every 2".split()
    one_line_error(run_script("behavior_embed.py", *argv, cwd=tmp_path, check=False), "--hidden 1000000000: needs about")
    assert not (tmp_path / "e.pt").exists()

    other = tmp_path / "other"  # the seen tasks as the autoencoder saw them, the unseen ones one checkpoint short
    other.mkdir()
    fields = ("params", "returns", "episode_returns", "steps", "success", "first_success", "trajectory", "success_states")
    for i in (0, 5, 8, 12):
        data = load_policies(str(tmp / "data" / "metaworld" / f"task_{i:02d}.pt"), "test")
        save_atomic({**data, **{f: data[f][:3] for f in fields}} if i >= 8 else data, str(other / f"task_{i:02d}.pt"))
    argv = f"--ae {tmp}/artifacts/ae.pt --condition behavior --embedding {tmp}/artifacts/embed.pt --data {other} --out hl.pt"
    proc = run_script("hyplatent_train.py", *argv.split(), cwd=tmp_path, check=False)
    one_line_error(proc, "--embedding", "embed.pt: its checkpoints do not match the collection")

    cheetah = tmp_path / "cheetah"
    cheetah.mkdir()
    save_atomic(fake_policies("cheetah-vel", 0, num=3), str(cheetah / "task_00.pt"))
    ae = run_script("ae_train.py", *f"--data {cheetah} --out ae_cv.pt --latent-dim 8 --steps 2 --eval-episodes 1".split(),
                    cwd=tmp_path)  # fmt: skip
    assert ae.returncode == 0
    argv = f"--ae ae_cv.pt --condition behavior --embedding {tmp}/artifacts/embed.pt --out hl.pt"
    one_line_error(run_script("hyplatent_train.py", *argv.split(), cwd=tmp_path, check=False), "only for metaworld")


def test_embedding_resumes_to_the_uninterrupted_result(mw_chain, tmp_path, monkeypatch, capsys):
    """Killed after its epoch-2 state, behavior_embed continues from it (weights, optimizer, warm-restart schedule,
    batch order) and ends where a run without the stop ends."""
    tmp, _, _ = mw_chain
    common = dict(data=str(tmp / "data" / "metaworld"), holdout_every=2, hidden=16, psi_hidden=8, embed_dim=4, epochs=5,
                  batch_size=4, state_every=2, runs_dir=str(tmp_path / "runs"))  # fmt: skip
    whole = behavior_embed.main(behavior_embed.Args(out=str(tmp_path / "whole.pt"), **common))
    saved = behavior_embed.save_training_state

    def save_then_die(*a, **k):
        saved(*a, **k)
        raise KeyboardInterrupt

    monkeypatch.setattr(behavior_embed, "save_training_state", save_then_die)
    args = behavior_embed.Args(out=str(tmp_path / "cut.pt"), **common)
    with pytest.raises(KeyboardInterrupt):
        behavior_embed.main(args)
    assert (tmp_path / "cut.pt.state.pt").exists() and not (tmp_path / "cut.pt").exists()
    monkeypatch.setattr(behavior_embed, "save_training_state", saved)
    capsys.readouterr()
    resumed = behavior_embed.main(args)
    assert "cut.pt.state.pt at step 2" in capsys.readouterr().out  # it resumed, it did not start over
    for name, value in whole["state_dict"].items():
        assert torch.allclose(value, resumed["state_dict"][name], atol=1e-6), name
    assert not (tmp_path / "cut.pt.state.pt").exists()


def test_a_fold_holds_seen_tasks_out_of_the_embedding(mw_chain, tmp_path):
    """--seen-task-ids: the embedding trains on those seen tasks only and embeds the other collected seen task as it
    embeds the unseen ones; a task that is not a collected seen task is refused in one line."""
    tmp, _, _ = mw_chain
    common = dict(data=str(tmp / "data" / "metaworld"), holdout_every=2, hidden=16, psi_hidden=8, embed_dim=4, epochs=2,
                  batch_size=4, runs_dir=str(tmp_path / "runs"))  # fmt: skip
    fold = behavior_embed.main(behavior_embed.Args(out=str(tmp_path / "fold.pt"), seen_task_ids=("button-press",), **common))
    assert fold["seen_ids"] == [5] and sorted(fold["tau_e"]) == [0, 5, 8, 12]  # window-open (0) embedded, not trained on
    whole = load_artifact(str(tmp / "artifacts" / "embed.pt"), "behavior_embedding")
    assert whole["seen_ids"] == [0, 5]
    for bad, message in (("drawer-close", "--seen-task-ids 8: not a collected seen task"), ("17", "--seen-task-ids 17")):
        with pytest.raises(SystemExit, match=message):
            behavior_embed.main(behavior_embed.Args(out=str(tmp_path / "bad.pt"), seen_task_ids=(bad,), **common))


# ----------------------------------------------------------------------------------------------
# HypFormer (hypformer_train.py)
# ----------------------------------------------------------------------------------------------
def test_hypformer_attends_within_each_example():
    """The reference code's bug, absent: one example's prediction does not depend on the other examples of its batch."""
    torch.manual_seed(0)
    model = hypformer_train.HypFormer(latent_dim=6, cond_dim=4, d_model=8, nhead=4, mlp_hidden=8).eval()
    samples, tau = torch.randn(3, 5, 6), torch.randn(3, 4)
    alone = model(samples[:1], tau[:1])
    for other in (1, 2):
        together = model(samples[[0, other]], tau[[0, other]])
        for a, b in zip(alone, together):
            assert torch.allclose(a[0], b[0], atol=1e-6)
    shuffled = model(samples[:1, torch.randperm(5)], tau[:1])  # no positional encoding: the L samples are a set
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(alone, shuffled))


def test_hypformer_loss_terms_on_hand_made_cases():
    z_gt = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    exact = hypformer_train.losses(z_gt.clone(), torch.zeros(2, 2), z_gt)
    assert all(v.item() == pytest.approx(0.0, abs=1e-7) for v in exact.values())
    orthogonal = hypformer_train.losses(torch.tensor([[0.0, 3.0], [5.0, 0.0]]), torch.zeros(2, 2), z_gt)
    assert orthogonal["sim"].item() == pytest.approx(1.0)  # eq. (8): 1 - cos = 1 for orthogonal latents
    z_pred = torch.tensor([[0.5, 0.0], [0.0, 1.0]])  # right direction, half the length: L_sim 0, the residue is the rest
    half = hypformer_train.losses(z_pred, torch.zeros(2, 2), z_gt)
    assert half["sim"].item() == pytest.approx(0.0, abs=1e-7) and half["res"].item() == pytest.approx((0.25 + 1) / 4)
    fixed = hypformer_train.losses(z_pred, z_gt - z_pred, z_gt)  # a residue head that predicts the rest: eqs. (9), (10) vanish
    assert fixed["res"].item() == pytest.approx(0.0) and fixed["c"].item() == pytest.approx(0.0)


def test_hypformer_training_lowers_the_loss():
    torch.manual_seed(0)
    model = hypformer_train.HypFormer(latent_dim=6, cond_dim=4, d_model=8, nhead=4, mlp_hidden=16, dropout=0.0)
    samples, tau, z_gt = torch.randn(16, 4, 6), torch.randn(16, 4), torch.randn(16, 6)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)

    def total():
        return sum(hypformer_train.losses(*model(samples, tau), z_gt).values())

    first = total().item()
    for _ in range(200):
        loss = total()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert total().item() < 0.5 * first


@pytest.fixture(scope="module")
def hf_run(mw_chain, tmp_path_factory):
    """hypformer_train.py as a user runs it on the tiny MetaWorld chain."""
    tmp, _, _ = mw_chain
    out = tmp_path_factory.mktemp("hf")
    argv = (f"--hyplatent {tmp}/artifacts/hl.pt --out {out}/hf.pt --iterations 20 --batch-size 8 --d-model 16 "
            "--nhead 8 --mlp-hidden 16 --eval-samples 5 --ci-reps 200 --state-every 10 --pca-tasks button-press")  # fmt: skip
    return out, run_script("hypformer_train.py", *argv.split(), cwd=out)


def test_hypformer_runs_on_the_chain_and_fills_the_table(mw_chain, hf_run):
    tmp, _, _ = mw_chain
    tmp_path, proc = hf_run
    assert "4 (tau_e, Z_gt) pairs" in proc.stdout and (tmp_path / "hf_pca.png").stat().st_size > 10_000
    table = json.loads((tmp_path / "hf_mtrl.json").read_text())
    plain = json.loads((tmp / "artifacts" / "hl_mtrl.json").read_text())
    for key in ("0", "5", "8", "12"):
        row = table["per_task"][key]
        assert {"w/o HypFormer", "w/ HypFormer", "retrieval", "random actor"} <= set(row)
        # the same conditions, noise seeds and goals: HypLatent's row here is hyplatent_train's own
        assert row["w/o HypFormer"] == plain["per_task"][key]["generated"]
        assert row["retrieval"] == plain["per_task"][key]["retrieval"]
        policies = load_policies(str(tmp_path / "hf_generated" / f"task_{int(key):02d}.pt"), "test")
        assert policies["success"].mean().item() == pytest.approx(row["w/ HypFormer"]["avg"])
    assert load_artifact(str(tmp_path / "hf.pt"), "hypformer", who="test")["num_samples"] == 8
    assert not (tmp_path / "hf.pt.state.pt").exists()


def test_hypformer_eval_only_reproduces_the_policies_without_training(hf_run, tmp_path):
    out, _ = hf_run
    before = (out / "hf.pt").read_bytes()
    evaluation = ("--eval-samples", "5", "--ci-reps", "200", "--pca-tasks", "button-press")
    proc = run_script("hypformer_train.py", "--out", "hf.pt", "--eval-only", "--table", "again.json", *evaluation, cwd=out)
    assert "no checkpoint (--eval-only)" in proc.stdout and "iter " not in proc.stdout  # nothing trained
    assert (out / "hf.pt").read_bytes() == before and (out / "again_pca.png").stat().st_size > 10_000
    first, again = (json.loads((out / name).read_text()) for name in ("hf_mtrl.json", "again.json"))
    assert again["per_task"] == first["per_task"] and again["num_samples"] == 8
    for key in (0, 5, 8, 12):  # the same model, L and noise seeds: the very same weights
        policies = [load_policies(str(out / f"{stem}_generated" / f"task_{key:02d}.pt"), "test") for stem in ("hf", "again")]
        assert torch.equal(policies[0]["params"], policies[1]["params"])
    # noise from the checkpoint's own seed: one trained with --seed 3 draws with noise seed 3 + task id
    saved = load_artifact(str(out / "hf.pt"), "hypformer", who="test")
    assert all(os.path.isabs(saved[k]) and os.path.exists(saved[k]) for k in ("hyplatent", "ae", "embedding", "data"))
    save_atomic({**saved, "args": {**saved["args"], "seed": 3}}, str(tmp_path / "hf3.pt"))
    hypformer_train.main(hypformer_train.Args(out=str(tmp_path / "hf3.pt"), eval_only=True, eval_samples=2, ci_reps=200,
                                              pca_tasks=(), num_samples=4, table=str(tmp_path / "s3.json")))  # fmt: skip
    assert load_policies(str(tmp_path / "s3_generated" / "task_08.pt"), "test")["origin"]["noise_seed"] == 3 + 8
    s3 = json.loads((tmp_path / "s3.json").read_text())  # evaluated at L = 4, trained at 8: plot_tokens.py tells them apart
    assert (s3["num_samples"], s3["trained_num_samples"], first["trained_num_samples"]) == (4, 8, 8)
    for seed, drawn_with in ((None, 3), (0, 0)):  # the checkpoint's seed, unless --seed says otherwise (no evaluation)
        args = hypformer_train.Args(out=str(tmp_path / "hf3.pt"), eval_only=True, seed=seed, table=str(tmp_path / "v.json"))
        hypformer_train.validate(args)
        assert args.seed == drawn_with
    bad = {**saved, "model_args": {**saved["model_args"], "cond_dim": saved["model_args"]["cond_dim"] + 1}}
    save_atomic(bad, str(tmp_path / "bad.pt"))
    cases = [(str(tmp_path / "missing.pt"), "b.json", "missing.pt"),
             (str(out / "hf.pt"), "again.txt", "again.txt: expected a path ending in .json"),
             (str(tmp_path / "bad.pt"), "b.json", "a HypFormer of other latent or tau_e sizes")]  # fmt: skip
    for ckpt, table, message in cases:
        with pytest.raises(SystemExit, match=message):
            hypformer_train.main(hypformer_train.Args(out=ckpt, eval_only=True, table=str(tmp_path / table)))


def test_hypformer_refuses_bad_input(mw_chain, chain, tmp_path):
    tmp, _, _ = mw_chain
    cheetah, _, _ = chain
    cases = [
        (f"--hyplatent {cheetah}/artifacts/hl.pt", "conditioned on 'raw'; HypFormer refines a behaviour-conditioned"),
        (f"--hyplatent {tmp}/artifacts/hl.pt --num-samples 0", "--num-samples 0: expected an integer >= 1"),
        (f"--hyplatent {tmp}/artifacts/hl.pt --embedding {tmp_path}/other_embed.pt", "its checkpoints do not match"),
    ]
    other = tmp_path / "other"  # an embedding of another collection: the same tasks, one checkpoint fewer
    other.mkdir()
    fields = ("params", "returns", "episode_returns", "steps", "success", "first_success", "trajectory", "success_states")
    for i in (0, 5, 8, 12):
        data = load_policies(str(tmp / "data" / "metaworld" / f"task_{i:02d}.pt"), "test")
        save_atomic({**data, **{f: data[f][:3] for f in fields}}, str(other / f"task_{i:02d}.pt"))
    run_script("behavior_embed.py", "--data", str(other), "--out", "other_embed.pt", "--epochs", "1", "--holdout-every", "2",
               "--hidden", "8", cwd=tmp_path)  # fmt: skip
    embedding = torch.load(str(tmp / "artifacts" / "embed.pt"), weights_only=True)
    nan_tau = {**embedding["tau_e"], 0: embedding["tau_e"][0] * float("nan")}
    torch.save({**embedding, "tau_e": nan_tau}, str(tmp_path / "nan_embed.pt"))  # planted: save_atomic refuses NaN
    narrow = {i: t[:, :-1] for i, t in embedding["tau_e"].items()}
    torch.save({**embedding, "tau_e": narrow}, str(tmp_path / "narrow_embed.pt"))
    hyplatent = torch.load(str(tmp / "artifacts" / "hl.pt"), weights_only=True)
    first = next(iter(hyplatent["generator"]))
    torch.save({**hyplatent, "generator": {**hyplatent["generator"], first: hyplatent["generator"][first] * float("nan")}},
               str(tmp_path / "nan_hl.pt"))  # fmt: skip
    hl = f"--hyplatent {tmp}/artifacts/hl.pt"
    cases += [
        (f"{hl} --embedding {tmp_path}/nan_embed.pt", "nan_embed.pt: tau_e.0 holds NaN or inf values"),
        (f"{hl} --embedding {tmp_path}/narrow_embed.pt", "tau_e of other widths than the"),
        (f"--hyplatent {tmp_path}/nan_hl.pt", f"nan_hl.pt: generator.{first} holds NaN or inf values"),
        (f"{hl} --num-samples 1000000000", "--num-samples 1000000000: needs about"),
        (f"{hl} --d-model 1000000000 --nhead 1", "--d-model 1000000000 (with --mlp-hidden 512): needs about"),
        (f"{hl} --ci-reps 100000000000000", "--ci-reps 100000000000000: needs about"),
        (f"{hl} --lr inf", "--lr inf: expected a finite number"),
        (f"{hl} --seed -1", "--seed -1: expected a seed in 0..4294967295"),
    ]
    data = str(tmp / "data" / "metaworld")
    before = {name: open(os.path.join(data, name), "rb").read() for name in os.listdir(data)}
    for argv, message in cases:
        one_line_error(run_script("hypformer_train.py", *argv.split(), "--out", "hf.pt", cwd=tmp_path, check=False), message)
    assert not (tmp_path / "hf.pt").exists()
    # a table whose policy folder would be the collection itself: refused before any work, the collection untouched
    copy = tmp_path / "c_generated"
    copy.mkdir()
    for name, content in before.items():
        (copy / name).write_bytes(content)
    argv = f"{hl} --data {copy} --table {tmp_path}/c.json --out hf.pt".split()
    one_line_error(run_script("hypformer_train.py", *argv, cwd=tmp_path, check=False), "is one of this stage's inputs")
    assert {name: (copy / name).read_bytes() for name in before} == before


def test_token_sweep_figure(hf_run, mw_chain, tmp_path):
    """plot_tokens.py (paper Fig. 8): one bar per --num-samples; refuses two runs with one L, a table without L and one
    evaluated at another L than its HypFormer was trained at."""
    out, _ = hf_run
    tmp, _, _ = mw_chain
    table = json.loads((out / "hf_mtrl.json").read_text())
    (tmp_path / "l16.json").write_text(json.dumps({**table, "num_samples": 16, "trained_num_samples": 16}))
    proc = run_script("tools/plot_tokens.py", str(out / "hf_mtrl.json"), "l16.json", "--out", "tokens.png", cwd=tmp_path)
    assert "L = 8, 16" in proc.stdout and (tmp_path / "tokens.png").stat().st_size > 10_000
    same = run_script("tools/plot_tokens.py", str(out / "hf_mtrl.json"), str(out / "hf_mtrl.json"), cwd=tmp_path, check=False)
    one_line_error(same, "two tables share a --num-samples")
    plain = run_script("tools/plot_tokens.py", str(tmp / "artifacts" / "hl_mtrl.json"), cwd=tmp_path, check=False)
    one_line_error(plain, "not an MTRL table of hypformer_train.py")
    (tmp_path / "l16_eval.json").write_text(json.dumps({**table, "num_samples": 16, "trained_num_samples": 8}))
    moved = run_script("tools/plot_tokens.py", str(out / "hf_mtrl.json"), "l16_eval.json", cwd=tmp_path, check=False)
    one_line_error(moved, "evaluated at L = 16, trained at L = 8")
    seen = table["overall"]["seen"]  # a table whose interval is null (what the writer stores for a non-finite mean)
    nulled = {
        **table,
        "num_samples": 4,
        "trained_num_samples": 4,
        "overall": {**table["overall"], "seen": {**seen, "w/ HypFormer": {**seen["w/ HypFormer"], "avg ci": None}}},
    }
    (tmp_path / "l4.json").write_text(json.dumps(nulled))  # fmt: skip
    proc = run_script("tools/plot_tokens.py", "l4.json", str(out / "hf_mtrl.json"), "--out", "tokens4.png", cwd=tmp_path)
    assert "L = 4, 8" in proc.stdout
    mtrl = run_script("tools/plot_zeroshot.py", str(tmp / "artifacts" / "hl_mtrl.json"), "--out", "z.png", cwd=tmp_path,
                      check=False)  # fmt: skip
    one_line_error(mtrl, "its targets have no task parameters to plot against (an MTRL table?")


def test_evaluation_in_groups_reuses_environments_without_changing_a_number():
    """evaluate runs policies in lockstep groups and hands a task's environments on to the next group: goal e is
    still episode e's, and every number equals the one-group run's (MetaWorld and MuJoCo)."""
    torch.manual_seed(0)
    press, close = get_task("metaworld", "button-press"), get_task("metaworld", "drawer-close")
    actor = Actor(OBS, ACT, 16, num_tasks=5)
    tasks = [press, close, press, press, close]
    grouped = evaluate(actor, tasks, 2, 0, behavior=True, chunk=2)  # groups [0, 1], [2, 3], [4]: envs reused
    whole = evaluate(actor, tasks, 2, 0, behavior=True)
    for name in whole:
        assert np.array_equal(grouped[name], whole[name]), name
    pool = {}  # a caller's pool (sac_collect's evaluations): built by the first call, reused by the next
    first = evaluate(actor, tasks, 2, 0, pool=pool)
    built = [id(env) for envs in pool.values() for env in envs]
    assert len(built) == 5 and np.array_equal(evaluate(actor, tasks, 2, 0, pool=pool), first)
    assert [id(env) for envs in pool.values() for env in envs] == built and np.array_equal(first, whole["returns"])
    cheetah = get_task("cheetah-vel", 3)
    mujoco = Actor(17, 6, 16, num_tasks=3)
    assert np.array_equal(evaluate(mujoco, [cheetah] * 3, 2, 5, chunk=1), evaluate(mujoco, [cheetah] * 3, 2, 5))


def test_the_metaworld_experiment_scripts_run_on_the_tiny_chain(mw_chain, hf_run, tmp_path):
    """experiments/: the transfer matrix, where the latents land and the door-open clone, each on tiny inputs, each
    writing what its record reads."""
    tmp, _, _ = mw_chain
    hf_dir, _ = hf_run
    run_script("experiments/transfer_matrix.py", "--data", str(tmp / "data" / "metaworld"), "--embedding",
               str(tmp / "artifacts" / "embed.pt"), "--out", "transfer.json", cwd=tmp_path)  # fmt: skip
    matrix = json.loads((tmp_path / "transfer.json").read_text())["rows: experts of, columns: run on"]
    assert set(matrix) == {"window-open", "button-press"} and all(0 <= v <= 1 for r in matrix.values() for v in r.values())
    run_script("experiments/where_latents_land.py", "--hypformer", str(hf_dir / "hf.pt"), "--out", "latents.json",
               cwd=tmp_path)  # fmt: skip
    latents = json.loads((tmp_path / "latents.json").read_text())
    assert set(latents) == {"0", "5", "8", "12"} and latents["8"]["seen"] is False
    assert all(
        0 <= latents[k][row]["nearest its own task (fraction)"] <= 1
        for k in latents
        for row in ("w/o HypFormer", "w/ HypFormer")
    )
    proc = run_script("experiments/door_open_clone.py", "--init", str(tmp / "data" / "metaworld" / "task_00.pt"),
                      "--out", "clone.pt", "--episodes", "2", "--steps", "300", cwd=tmp_path)  # fmt: skip
    clone = load_policies(str(tmp_path / "clone.pt"), "test")
    assert clone["task"]["name"] == "door-open" and clone["params"].shape[0] == 1 and "success per goal" in proc.stdout


def test_door_open_spread_measures_the_distance_from_the_clone(tmp_path):
    """experiments/door_open_spread.py: each probe's kept steps, returns and parameter distances from the clone."""
    import door_open_spread

    clone = fake_policies("cheetah-vel", 1, num=1)  # the script reads only parameters, returns and steps
    save_atomic(clone, str(tmp_path / "clone.pt"))
    moved = clone["params"].repeat(2, 1)
    moved[0, 0] += 3.0
    moved[1, :4] += 1.0  # distance 2
    returns = torch.tensor([[5.0], [7.0]])
    save_atomic({**clone, "params": moved, "returns": returns[:, 0], "episode_returns": returns,
                 "steps": torch.tensor([30, 32])}, str(tmp_path / "task_01.pt"))  # fmt: skip
    rows = door_open_spread.main(door_open_spread.Args(str(tmp_path / "clone.pt"), (str(tmp_path / "task_01.pt"),),
                                                       out=str(tmp_path / "spread.md")))  # fmt: skip
    assert rows == [f"| {tmp_path / 'task_01.pt'} | [30, 32] | 5.0-7.0 | 2.00-3.00 |"]
    assert (tmp_path / "spread.md").read_text().splitlines()[-1] == rows[0]
    other = fake_policies("cheetah-vel", 1, num=1, hidden=16)
    save_atomic(other, str(tmp_path / "other.pt"))
    with pytest.raises(SystemExit, match="other.pt: another actor layout than the clone"):
        door_open_spread.main(door_open_spread.Args(str(tmp_path / "clone.pt"), (str(tmp_path / "other.pt"),)))


def test_door_open_experts_lists_each_checkpoint_and_their_spread(tmp_path):
    """experiments/door_open_experts.py: per checkpoint its step, returns, success and temperature; then the distances."""
    import door_open_experts

    data = fake_policies("cheetah-vel", 1, num=3)
    params = data["params"][:1].repeat(3, 1)
    params[1, 0] += 3.0
    params[2, 0] += 3.0
    params[2, 1] += 4.0  # consecutive 3 and 4, pairwise 3, 4 and 5
    episode_returns = torch.tensor([[4470.4, 4519.6], [2285.0, 2440.0], [1.0, 2.0]])
    save_atomic({**data, "params": params, "episode_returns": episode_returns, "returns": episode_returns.mean(1),
                 "steps": torch.tensor([230_000, 280_000, 290_000]), "alpha": torch.tensor([0.1624, 0.2, 0.25]),
                 "success": torch.tensor([[1.0, 1.0], [1.0, 0.0], [0.0, 0.0]])}, str(tmp_path / "task_01.pt"))  # fmt: skip
    text = door_open_experts.main(door_open_experts.Args(str(tmp_path / "task_01.pt"), out=str(tmp_path / "e.md")))
    lines = text.splitlines()
    assert lines[2:5] == ["| 230k | 4470 / 4520 | 1 / 1 | 0.162 |", "| 280k | 2285 / 2440 | 1 / 0 | 0.200 |",
                          "| 290k | 1 / 2 | 0 / 0 | 0.250 |"]  # fmt: skip
    assert lines[-1].startswith("consecutive distance 3.0-4.0; pairwise 3.0-5.0 (median 4.0)")
    assert (tmp_path / "e.md").read_text() == text + "\n"
    save_atomic({**data, "params": params[:1], "episode_returns": episode_returns[:1], "returns": episode_returns[:1, 0],
                 "steps": torch.tensor([1])}, str(tmp_path / "one.pt"))  # fmt: skip
    with pytest.raises(SystemExit, match="one.pt: 1 checkpoint; expected at least two"):
        door_open_experts.main(door_open_experts.Args(str(tmp_path / "one.pt")))


def test_folds_pool_each_recipes_held_out_tasks(tmp_path):
    """experiments/pool_folds.py: each recipe's success on every fold's held-out tasks, pooled over the folds."""
    paths = []
    for fold, held, trained in (("a", (0, 1), [2, 3]), ("b", (2, 3), [0, 1])):
        # held-out and training-task success: cn1 ties cn2 and cn3 held out, cn2 beats it on the training tasks and
        # ties cn3 there, so cn2 is the pick (given before cn3)
        for recipe, level, seen in (("cn0", 0.25, 1.0), ("cn1", 0.75, 0.5), ("cn2", 0.75, 1.0), ("cn3", 0.75, 1.0)):
            path = tmp_path / fold / f"hyplatent_{recipe}.pt"
            save_atomic({"kind": "hyplatent", "train_task_ids": trained, "condition": "behavior"}, str(path))
            for i in (*held, *trained):  # the seen tasks' policies are in the folder too, pooled apart
                success = torch.full((4, 2), level if i in held else seen)
                data = {
                    **fake_policies("cheetah-vel", 0, num=4),
                    "task": get_task("metaworld", i).to_dict(),
                    "success": success,
                }
                save_atomic(data, str(tmp_path / fold / f"hyplatent_{recipe}_generated" / f"task_{i:02d}.pt"))
            paths.append(str(path))
    table = pool_folds.main(pool_folds.Args(checkpoints=tuple(paths), out=str(tmp_path / "folds.md")))
    rows = {line.split("|")[1].strip(): line for line in table.splitlines()[2:] if line.startswith("|")}
    assert "**25.0** [25.0, 25.0] | 25.0 | 25.0 | 25.0 | 25.0 | 100.0 |" in rows["hyplatent_cn0.pt"]
    assert "**75.0**" in rows["hyplatent_cn1.pt"] and rows["hyplatent_cn1.pt"].endswith("| 50.0 |")
    assert table.endswith("pick: hyplatent_cn2.pt\n") and (tmp_path / "folds.md").read_text() == table
    with pytest.raises(SystemExit, match="task 0 is held out by two folds"):
        pool_folds.main(pool_folds.Args(checkpoints=(paths[0], paths[0])))


def test_unseen_success_against_the_number_of_seen_tasks(tmp_path):
    """experiments/plot_seen_count.py: one point per table and row, at the table's number of seen tasks."""
    paths = []
    for seen, level in (([0, 1, 2, 3], 0.1), ([0, 1, 2, 3, 4, 5], 0.2)):
        rows = {name: {"avg": level * k, "avg ci": [level * k - 0.05, level * k + 0.05]}
                for k, name in enumerate(("w/ HypFormer", "retrieval", "conditioning experts"), 1)}  # fmt: skip
        table = {"train_task_ids": seen, "targets": [str(i) for i in (*seen, 8, 9)], "overall": {"unseen": rows}}
        paths.append(str(tmp_path / f"seen{len(seen)}.json"))
        common.write_json_atomic(paths[-1], table)
    text = plot_seen_count.main(plot_seen_count.Args(tables=tuple(paths), out=str(tmp_path / "count.png")))
    assert "| w/ HypFormer | 4 | 10.0 [5.0, 15.0] |" in text and "| retrieval | 6 | 40.0 [35.0, 45.0] |" in text
    assert "conditioning experts" not in text and (tmp_path / "count.png").read_bytes()[:4] == b"\x89PNG"
    other = json.loads(open(paths[1]).read()) | {"targets": ["0", "1", "2", "3", "4", "5", "8", "10"]}
    common.write_json_atomic(str(tmp_path / "other.json"), other)
    with pytest.raises(SystemExit, match="unseen tasks"):
        plot_seen_count.main(
            plot_seen_count.Args(tables=(paths[0], str(tmp_path / "other.json")), out=str(tmp_path / "x.png"))
        )
