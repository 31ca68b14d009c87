"""ae_train.py and hyplatent_train.py: the pieces with real math, toy runs whose answer is known, the chained
scripts on a tiny config, and one test per class of bad input."""

import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import time

import compare_recipes
import expert_table
import numpy as np
import plot_gait
import plot_zeroshot
import pytest
import torch
import torch.nn.functional as F
from conftest import ROOT, fake_policies, one_line_error

import ae_train
import common
import hypformer_train
import hyplatent_train
import zeroshot_eval
from ae_train import chunk_sizes_of
from common import Actor, ParamAutoencoder, actor_layout, load_artifact, load_policies, save_atomic
from hyplatent_train import Discriminator, Generator, build_models, encode_condition, generate
from zeroshot_eval import task_distance


def test_normalizer_round_trip_and_range():
    params = torch.randn(50, 30) * torch.linspace(0.01, 5, 30)
    params[:, 3] = 0.7  # a constant feature must not divide by zero
    model = ParamAutoencoder([10, 20], latent_dim=8)
    model.x_min.copy_(params.min(0).values)
    model.x_max.copy_(params.max(0).values)
    x = model.normalize(params)
    assert x.min() >= -1 - 1e-6 and x.max() <= 1 + 1e-6 and torch.isfinite(x).all()
    assert torch.allclose(model.denormalize(x), params, atol=1e-5)


def test_chunks_are_first_layer_and_rest():
    assert chunk_sizes_of(actor_layout(Actor(17, 6, 128))) == [17 * 128 + 128, 20_364 - (17 * 128 + 128)]


def test_autoencoder_shapes_clamp_and_loss_falls():
    torch.manual_seed(0)
    basis = torch.randn(4, 40)
    x = torch.tanh(torch.randn(256, 4) @ basis)  # structured data in [-1, 1]
    model = ParamAutoencoder([10, 30], latent_dim=16)
    z = model.encode(x)
    assert z.shape == (256, 2, 16) and z.abs().max() <= 1 and model(x).shape == (256, 40)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=5e-3)
    losses = []
    for _ in range(300):
        loss = ((model(x) - x) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]
    model.eval()  # no noise at evaluation: encoding is deterministic
    assert torch.equal(model.encode(x[:4]), model.encode(x[:4]))


def test_generator_and_discriminator_shapes():
    g = Generator(in_dim=4 + 2, out_dim=2 * 16)
    z = g(torch.randn(8, 6))
    assert z.shape == (8, 32)
    for projection in (False, True):
        logit, cond = Discriminator(32, 2, projection)(z, torch.randn(8, 2))
        assert logit.shape == (8,) and cond.shape == (8, 2)
    assert Generator(6, 32, widths=(64, 32, 16))(torch.randn(8, 6)).shape == (8, 32)


def test_projection_discriminator_tells_a_latent_at_the_wrong_condition():
    """Two tasks' latent clusters at their conditions (real) against the same latents at the other task's condition
    (fake): the marginals over latents are equal, so only a discriminator that sees the condition can tell them apart."""
    torch.manual_seed(0)  # the clusters, then each discriminator's init and batches (seeded again below)
    centers, conditions = torch.randn(2, 32), torch.tensor([[0.3], [2.1]])

    def pairs(n: int):
        k = torch.randint(0, 2, (n,))
        return centers[k] + 0.05 * torch.randn(n, 32), conditions[k], conditions[1 - k]

    for projection, expected in ((False, (0.4, 0.6)), (True, (0.95, 1.0))):
        torch.manual_seed(0)
        disc = Discriminator(32, 1, projection)
        opt = torch.optim.Adam(disc.parameters(), lr=2e-4, betas=(0.5, 0.999))
        for _ in range(100):
            z, right, wrong = pairs(64)
            real, fake = disc(z, right)[0], disc(z, wrong)[0]
            loss = F.binary_cross_entropy_with_logits(real, torch.ones_like(real)) + F.binary_cross_entropy_with_logits(
                fake, torch.zeros_like(fake)
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
        z, right, wrong = pairs(256)
        with torch.no_grad():
            accuracy = float(((disc(z, right)[0] > 0).float().mean() + (disc(z, wrong)[0] < 0).float().mean()) / 2)
        assert expected[0] <= accuracy <= expected[1], f"projection={projection}: accuracy {accuracy:.2f}"


def test_condition_encoding():
    g = torch.tensor([[0.0], [math.pi / 2], [2 * math.pi - 1e-3]])
    assert torch.equal(encode_condition(g, "raw"), g)
    cs = encode_condition(g, "cossin")
    assert cs.shape == (3, 2) and torch.allclose(cs[1], torch.tensor([0.0, 1.0]), atol=1e-6)
    # (cos, sin) puts 0 and 2pi - eps next to each other; raw radians puts them 2pi apart
    assert (cs[0] - cs[2]).norm() < 1e-2 and (g[0] - g[2]).abs() > 6
    assert task_distance("ant-dir", 0.1, 2 * math.pi - 0.1) == pytest.approx(0.2)
    assert task_distance("cheetah-vel", 0.3, 1.2) == pytest.approx(0.9)


# ----------------------------------------------------------------------------------------------
# Toy runs: two training tasks whose checkpoints are one policy each (plus a little noise), so every
# latent of a task is (nearly) the same point and the answer for each condition is known
# ----------------------------------------------------------------------------------------------
TOY_TASKS = {"cheetah-vel": (0, 30), "ant-dir": (3, 33)}


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """{suite: (folder, autoencoder path)} for a toy collection of each suite."""
    made = {}
    for suite, (a, b) in TOY_TASKS.items():
        folder = tmp_path_factory.mktemp(suite)
        for seed, index in enumerate((a, b)):
            data = fake_policies(suite, index, num=1, seed=seed)
            params = data["params"].expand(12, -1) + 0.001 * torch.randn(12, data["params"].shape[1])
            save_atomic({**data, "params": params, "returns": torch.zeros(12), "episode_returns": torch.zeros(12, 1),
                         "steps": torch.arange(12)}, str(folder / "data" / f"task_{index:02d}.pt"))  # fmt: skip
        ae_train.main(ae_train.Args(data=str(folder / "data"), out=str(folder / "ae.pt"), latent_dim=16, steps=150,
                                    batch_size=24, eval_episodes=1, runs_dir=str(folder / "runs")))  # fmt: skip
        made[suite] = folder
    return made


def toy_hyplatent(folder, tmp_path, **override) -> dict:
    args = dict(ae=str(folder / "ae.pt"), out=str(tmp_path / "hl.pt"), generator_widths=(64, 32, 16), iterations=300,
                batch_size=16, eval_samples=2, eval_episodes=1, test_task_ids=(), runs_dir=str(tmp_path / "runs"))  # fmt: skip
    hyplatent_train.main(hyplatent_train.Args(**{**args, **override}))
    return load_artifact(str(tmp_path / "hl.pt"), "hyplatent")


@pytest.mark.parametrize("suite,recon,condition,extra", [
    ("cheetah-vel", "latent", "raw", {}), ("cheetah-vel", "param", "raw", {}), ("ant-dir", "latent", "cossin", {}),
    ("cheetah-vel", "latent", "raw", {"condition_noise": 0.1}),  # condition augmentation: still each task's own latent
    ("cheetah-vel", "param", "raw", {"projection_discriminator": True}),  # and with a conditional discriminator
    ("cheetah-vel", "param", "raw", {"bf16": True}),  # and with training's forward passes in bfloat16
])  # fmt: skip
def test_generator_reproduces_the_paired_latents_per_condition(toy, tmp_path, suite, recon, condition, extra):
    ae = load_artifact(str(toy[suite] / "ae.pt"), "autoencoder")
    ckpt = toy_hyplatent(toy[suite], tmp_path, recon=recon, condition=condition,
                         test_task_ids=(6,) if suite == "ant-dir" else (), **extra)  # fmt: skip
    assert all(ckpt["args"][name] == value for name, value in extra.items())
    assert ("embed.0.weight" in ckpt["discriminator"]) == extra.get("projection_discriminator", False)
    generator, decoder = build_models(ckpt)
    target = {i: ae["latents"][ae["task_index"] == i].flatten(1).mean(0) for i in TOY_TASKS[suite]}
    spread = (target[TOY_TASKS[suite][0]] - target[TOY_TASKS[suite][1]]).norm()
    for i, other in (TOY_TASKS[suite], TOY_TASKS[suite][::-1]):
        condition_of = encode_condition(ae["task_params"][ae["task_index"] == i][:1].expand(32, -1), condition)
        with torch.no_grad():
            z = generator(torch.cat([torch.randn(32, ckpt["noise_dim"]), condition_of], -1))  # (32, 2 * latent)
        if recon == "latent":  # the generator regresses the paired latent
            own, away = (z - target[i]).norm(dim=1), (z - target[other]).norm(dim=1)
        else:  # eq. (2): the decoded policy regresses the paired parameters (normalized)
            x = decoder.decode(z.view(32, 2, -1))
            with torch.no_grad():
                paired = {k: decoder.decode(target[k].view(1, 2, -1)) for k in (i, other)}
            own, away = (x - paired[i]).norm(dim=1), (x - paired[other]).norm(dim=1)
        assert (own < 0.5 * away).all(), f"task {i}: generated {own.mean():.3f} from its own, {away.mean():.3f} from the other"
        if recon == "latent":
            assert own.mean() < 0.25 * spread


def test_decoder_moves_only_when_trained(toy, tmp_path):
    ae = load_artifact(str(toy["cheetah-vel"] / "ae.pt"), "autoencoder")
    decoder_weights = {k: v for k, v in ae["state_dict"].items() if k.startswith("decoders")}

    def moved(**override) -> bool:
        ckpt = toy_hyplatent(toy["cheetah-vel"], tmp_path, iterations=5, **override)
        return any(not torch.equal(ckpt["decoder"][k], v) for k, v in decoder_weights.items())

    assert moved(recon="param", train_decoder=True), "eq. (2) did not train the decoder"
    assert not moved(recon="param", train_decoder=False)
    assert not moved(recon="latent", train_decoder=True), "latent regression cannot reach the decoder"


def test_encoder_moves_with_the_discriminator_only_when_asked(toy, tmp_path):
    ae = load_artifact(str(toy["cheetah-vel"] / "ae.pt"), "autoencoder")
    encoder_keys = [k for k in ae["state_dict"] if k.startswith(("encoders", "norm"))]
    fixed = toy_hyplatent(toy["cheetah-vel"], tmp_path, iterations=30)
    assert all(torch.equal(fixed["decoder"][k], ae["state_dict"][k]) for k in encoder_keys) and "latents" not in fixed
    ckpt = toy_hyplatent(toy["cheetah-vel"], tmp_path, iterations=30, train_encoder=True)
    assert ckpt["train_encoder"] and any(not torch.equal(ckpt["decoder"][k], ae["state_dict"][k]) for k in encoder_keys)
    # its latents (HypFormer's Z_gt) are the moved encoder's, of every autoencoder row, and decode as well (eq. 1)
    collection = common.load_collection(str(toy["cheetah-vel"] / "data"), "test")
    recon = {}
    for name, c in (("fixed", fixed), ("moved", ckpt)):
        autoencoder = ParamAutoencoder(**c["decoder_args"])
        autoencoder.load_state_dict(c["decoder"])
        autoencoder.eval()
        x = autoencoder.normalize(torch.cat([collection[i]["params"] for i in ae["train_task_ids"]]))
        with torch.no_grad():
            recon[name] = ((autoencoder(x) - x) ** 2).mean()
    with torch.no_grad():
        assert torch.allclose(ckpt["latents"], autoencoder.encode(x), atol=1e-6)
    assert ckpt["latents"].shape == ae["latents"].shape and not torch.allclose(ckpt["latents"], ae["latents"])
    assert recon["moved"] < 1.5 * recon["fixed"], recon
    assert hypformer_train.ground_truth_latents(ckpt, ae) is ckpt["latents"]
    assert hypformer_train.ground_truth_latents(fixed, ae) is ae["latents"]


def test_own_task_latents_counts_generated_latents_in_their_own_tasks_cluster():
    z_real = torch.tensor([[0.0, 0.0], [0.2, 0.0], [10.0, 10.0], [10.2, 10.0]])  # task 3's cluster, then task 7's
    task_of_rows, cond = torch.tensor([3, 3, 7, 7]), torch.tensor([[0.0], [0.0], [1.0], [1.0]])

    class Fake(torch.nn.Module):  # ignores the noise: latent = scale * (cond, cond)
        def __init__(self, scale: float):
            super().__init__()
            self.scale = scale

        def forward(self, x):
            return self.scale * x[:, -1:].repeat(1, 2)

    faithful = hyplatent_train.own_task_latents(Fake(10.0), z_real, cond, task_of_rows, noise=4, seed=0)
    collapsed = hyplatent_train.own_task_latents(Fake(0.0), z_real, cond, task_of_rows, noise=4, seed=0)
    assert faithful == {3: 1.0, 7: 1.0} and collapsed == {3: 1.0, 7: 0.0}  # both tasks folded onto task 3's cluster


def test_condition_noise_is_per_dimension_and_absent_at_zero():
    cond = torch.tensor([[1.0, -2.0, 5.0]]).expand(20000, -1)
    cond_std = torch.tensor([2.0, 0.5, 0.0])  # the last dimension never varies in training: it stays as it is
    state = torch.get_rng_state()
    assert hyplatent_train.perturb_condition(cond, cond_std, 0.0) is cond  # off: the same tensor, no draw
    assert torch.equal(torch.get_rng_state(), state), "scale 0 drew random numbers (it would change every run)"
    noisy = hyplatent_train.perturb_condition(cond, cond_std, 0.5)
    assert torch.allclose(noisy.mean(0), cond[0], atol=0.03)
    assert torch.allclose(noisy.std(0), 0.5 * cond_std, atol=0.02)


def test_best_checkpoints_are_each_tasks_highest_returns():
    ae = {"train_task_ids": [3, 5], "task_index": torch.tensor([3, 3, 3, 3, 5, 5, 5])}
    collection = {3: {"returns": torch.tensor([-5.0, -1.0, -9.0, -2.0])}, 5: {"returns": torch.tensor([7.0, 9.0, 8.0])}}
    rows = torch.arange(7)
    assert hyplatent_train.best_rows(ae, collection, rows, 2).tolist() == [1, 3, 5, 6]
    assert hyplatent_train.best_rows(ae, collection, rows, 9).tolist() == list(range(7))  # fewer than n: all
    subset = torch.tensor([0, 2, 4, 5])  # e.g. the embedding's training split: ranked among these rows only
    assert hyplatent_train.best_rows(ae, collection, subset, 1).tolist() == [0, 3]  # rows 0 (-5.0) and 5 (9.0)


def test_generator_trains_on_the_best_checkpoints_only(toy, tmp_path, capsys):
    ckpt = toy_hyplatent(toy["cheetah-vel"], tmp_path, iterations=5, best_checkpoints=3)
    assert ckpt["args"]["best_checkpoints"] == 3
    assert "2 tasks, 6 latents" in capsys.readouterr().out  # 12 checkpoints per task in the toy collection


def test_quality_is_each_checkpoints_return_rank_within_its_task():
    ae = {"train_task_ids": [3, 5], "task_index": torch.tensor([3, 3, 3, 5, 5])}
    collection = {3: {"returns": torch.tensor([-5.0, -1.0, -9.0])}, 5: {"returns": torch.tensor([70.0, 90.0])}}
    quality = hyplatent_train.checkpoint_quality(ae, collection, torch.tensor([0, 1, 2, 3, 4]))
    assert quality.squeeze(1).tolist() == [0.5, 1.0, 0.0, 0.0, 1.0]  # ranks, not returns: comparable across tasks
    assert hyplatent_train.checkpoint_quality(ae, collection, torch.tensor([4, 1])).squeeze(1).tolist() == [1.0, 1.0]


def test_a_quality_conditioned_generator_gives_the_best_checkpoints_when_asked(tmp_path):
    """Each toy task has two kinds of checkpoint, 6 weak and 6 strong ones; conditioned on quality, the generator asked
    for the best writes the strong kind, asked for the worst the weak kind; without it, the paper's condition cannot
    tell them apart."""
    folder = tmp_path / "data"
    for seed, index in enumerate((0, 30)):
        weak, strong = (fake_policies("cheetah-vel", index, num=1, seed=10 * seed + s)["params"] for s in (1, 2))
        params = torch.cat([weak.expand(6, -1), strong.expand(6, -1)]) + 0.001 * torch.randn(12, weak.shape[1])
        returns = torch.cat([torch.arange(6.0) - 100, torch.arange(6.0)])  # the strong half holds the best returns
        data = fake_policies("cheetah-vel", index, num=1, seed=seed)
        save_atomic({**data, "params": params, "returns": returns, "episode_returns": returns[:, None],
                     "steps": torch.arange(12)}, str(folder / f"task_{index:02d}.pt"))  # fmt: skip
    ae_train.main(ae_train.Args(data=str(folder), out=str(tmp_path / "ae.pt"), latent_dim=16, steps=150, batch_size=24,
                                eval_episodes=1, runs_dir=str(tmp_path / "runs")))  # fmt: skip
    ckpt = toy_hyplatent(tmp_path, tmp_path, recon="latent", quality_condition=True, test_task_ids=(6,))
    assert ckpt["quality_condition"] and ckpt["generator_args"]["in_dim"] == ckpt["noise_dim"] + 2
    ae = load_artifact(str(tmp_path / "ae.pt"), "autoencoder")
    autoencoder = ParamAutoencoder(**ae["model_args"])
    autoencoder.load_state_dict(ae["state_dict"])
    for i in (0, 30):
        rows = ae["task_index"] == i
        kinds = {"weak": ae["latents"][rows][:6].flatten(1).mean(0), "strong": ae["latents"][rows][6:].flatten(1).mean(0)}
        for quality, kind, other in ((1.0, "strong", "weak"), (0.0, "weak", "strong")):
            params = generate(ckpt, ae["task_params"][rows][:1].expand(16, -1), seed=1, quality=quality)
            with torch.no_grad():
                z = autoencoder.encode(autoencoder.normalize(params)).flatten(1)
            own, away = (z - kinds[kind]).norm(dim=1), (z - kinds[other]).norm(dim=1)
            assert (own < away).all(), f"task {i}, quality {quality}: {own.mean():.3f} from {kind}, {away.mean():.3f}"
    files = load_policies(str(tmp_path / "hl_generated" / "task_06.pt"), "test")
    assert files["origin"]["quality"] == 1.0  # what the generated policies were asked for
    unconditioned = toy_hyplatent(tmp_path, tmp_path / "plain", iterations=5, test_task_ids=(6,))
    assert not unconditioned["quality_condition"] and unconditioned["generator_args"]["in_dim"] == ckpt["noise_dim"] + 1
    condition = torch.tensor([[0.3]])
    assert torch.equal(generate(unconditioned, condition, quality=0.0), generate(unconditioned, condition, quality=1.0))


def test_behavior_actions_are_each_policys_own_and_can_be_learned():
    """deterministic_actions runs B flat policies at once, each as the plain Actor it decodes to, and its gradient
    reaches the parameters: fitting one policy's actions to another's closes the gap."""
    torch.manual_seed(0)
    actor_args = dict(obs_dim=5, act_dim=2, hidden=8)
    policies = [Actor(**actor_args) for _ in range(3)]
    layout = actor_layout(policies[0])
    params = torch.stack([common.flatten_params(p) for p in policies])
    states = torch.randn(3, 7, 5)
    lender = Actor(**actor_args, num_tasks=3)
    actions = hyplatent_train.deterministic_actions(lender, layout, params, states)
    for k, policy in enumerate(policies):
        with torch.no_grad():
            assert torch.allclose(actions[k], torch.tanh(policy(states[k])[0]), atol=1e-6)
    student = params[1:2].clone().requires_grad_(True)
    optimizer = torch.optim.Adam([student], lr=1e-2)
    one = Actor(**actor_args, num_tasks=1)
    gaps = []
    for _ in range(200):
        gap = F.mse_loss(hyplatent_train.deterministic_actions(one, layout, student, states[:1]), actions[:1].detach())
        optimizer.zero_grad()
        gap.backward()
        optimizer.step()
        gaps.append(gap.item())
    assert gaps[-1] < 0.1 * gaps[0], gaps[::50]


def test_behavior_term_reads_the_best_checkpoints_states_and_is_off_by_default(toy, tmp_path, capsys):
    """The states come from each task's best checkpoint's deterministic episodes (no torch draw); with the term off the
    run is the paper's bit for bit, with it on the generator moves differently; it trains in bfloat16 on Ant-Dir too."""
    ae = load_artifact(str(toy["cheetah-vel"] / "ae.pt"), "autoencoder")
    collection = common.load_collection(str(toy["cheetah-vel"] / "data"), "test")
    state = torch.get_rng_state()
    states = hyplatent_train.rollout_states(ae, collection, [0, 30], episodes=2)
    assert torch.equal(torch.get_rng_state(), state)
    assert [s.shape for s in states] == [(400, 17)] * 2  # 2 episodes of 200 steps, HalfCheetah's observations
    assert torch.equal(states[0], hyplatent_train.rollout_states(ae, collection, [0], episodes=2)[0])
    short = dict(iterations=6, test_task_ids=(6,))
    default = toy_hyplatent(toy["cheetah-vel"], tmp_path / "default", **short)
    off = toy_hyplatent(toy["cheetah-vel"], tmp_path / "off", lambda_behavior=0.0, behavior_states=3, **short)
    on = toy_hyplatent(toy["cheetah-vel"], tmp_path / "on", lambda_behavior=100.0, **short)
    assert "behaviour term on 800 states" in capsys.readouterr().out
    assert all(torch.equal(off["generator"][k], v) for k, v in default["generator"].items())
    assert any(not torch.equal(on["generator"][k], v) for k, v in default["generator"].items() if v.is_floating_point())
    ant = toy_hyplatent(toy["ant-dir"], tmp_path / "ant", lambda_behavior=1.0, bf16=True, condition="cossin", **short)
    assert "behaviour term on 800 states" in capsys.readouterr().out and ant["args"]["bf16"]  # ant-dir-15's recipe


def test_ema_saves_the_averaged_weights_and_resumes_to_them(toy, tmp_path, monkeypatch, capsys):
    """--ema-decay saves the moving average of the generator and the trained decoder, not the last iterate (a decay
    near 0 averages nothing: the last iterate, key for key); killed after a state, the run ends where an unbroken one does."""
    short = dict(iterations=12, test_task_ids=(6,))  # one target: the evaluation is not what is tested here
    last = toy_hyplatent(toy["cheetah-vel"], tmp_path / "last", **short)
    nearly_none = toy_hyplatent(toy["cheetah-vel"], tmp_path / "none", ema_decay=1e-9, **short)
    averaged = toy_hyplatent(toy["cheetah-vel"], tmp_path / "ema", ema_decay=0.8, **short)
    for name in ("generator", "decoder"):
        for key, value in last[name].items():
            if value.is_floating_point():
                assert torch.allclose(nearly_none[name][key], value, atol=1e-6), (name, key)
        assert any(not torch.equal(averaged[name][k], v) for k, v in last[name].items() if v.is_floating_point()), name
    assert averaged["args"]["ema_decay"] == 0.8
    saved = hyplatent_train.save_training_state

    def save_then_die(*a, **k):
        saved(*a, **k)
        raise KeyboardInterrupt

    monkeypatch.setattr(hyplatent_train, "save_training_state", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        toy_hyplatent(toy["cheetah-vel"], tmp_path / "cut", ema_decay=0.8, state_every=5, **short)
    monkeypatch.setattr(hyplatent_train, "save_training_state", saved)
    capsys.readouterr()
    resumed = toy_hyplatent(toy["cheetah-vel"], tmp_path / "cut", ema_decay=0.8, state_every=5, **short)
    assert "hl.pt.state.pt at step 5" in capsys.readouterr().out
    for name in ("generator", "decoder"):
        for key, value in averaged[name].items():
            assert torch.allclose(resumed[name][key], value, atol=1e-5), (name, key)


# ----------------------------------------------------------------------------------------------
# The chained scripts (conftest.chain)
# ----------------------------------------------------------------------------------------------
def test_autoencoder_artifact(chain):
    tmp, stdout, _ = chain
    ae = load_artifact(str(tmp / "artifacts" / "ae.pt"), "autoencoder")
    assert ae["train_task_ids"] == [0, 4], "test task 2 entered training"
    assert ae["latents"].shape == (6, 2, 32) and ae["latents"].abs().max() <= 1
    assert ae["task_index"].tolist() == [0, 0, 0, 4, 4, 4]
    assert torch.allclose(ae["task_params"].squeeze(-1), torch.tensor([0.075] * 3 + [0.375] * 3))
    assert "decoded return" in stdout and len(ae["eval"]["decoded_return"]) == 2
    assert ae["data"] == str(tmp / "data" / "cheetah-vel"), "the collection path must not depend on the working folder"
    model = ParamAutoencoder(**ae["model_args"])
    model.load_state_dict(ae["state_dict"])  # self-describing: rebuilds from the file alone


def test_hyplatent_artifact_generates_policies(chain):
    tmp, _, _ = chain
    ckpt = load_artifact(str(tmp / "artifacts" / "hl.pt"), "hyplatent")
    flat = generate(ckpt, torch.tensor([[0.6]] * 3), seed=0)
    assert flat.shape == (3, 17 * 32 + 32 + 32 * 32 + 32 + 2 * (32 * 6 + 6)) and torch.isfinite(flat).all()
    assert torch.equal(flat, generate(ckpt, torch.tensor([[0.6]] * 3), seed=0))
    assert not torch.allclose(flat[0], flat[1]), "noise does not change the generated policy"
    assert set(ckpt["own_task_latents"]) == {0, 4} and all(0 <= f <= 1 for f in ckpt["own_task_latents"].values())
    mode = generate(ckpt, torch.tensor([[0.6]] * 3), seed=0, noise_scale=0.0)  # truncated to zero: G(0, M), one policy
    assert torch.equal(mode[0], mode[1]) and torch.equal(mode[0], mode[2])
    half = generate(ckpt, torch.tensor([[0.6]] * 3), seed=0, noise_scale=0.5)  # the same draws, scaled: between the two
    assert not torch.equal(half, flat) and not torch.allclose(half[0], half[1])


def test_zero_shot_table_generated_policy_files_and_eval_only_agree(chain, tmp_path, monkeypatch):
    tmp, _, stdout = chain
    text = (tmp / "artifacts" / "hl_zeroshot.json").read_text()
    result = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert result["targets"] == ["2", "7"]
    assert set(result["per_task"]["2"]) >= {
        "generated",
        "nearest expert",
        "interpolated experts",
        "random actor",
        "own expert",
    }
    assert "own expert" not in result["per_task"]["7"]  # task 7 was never collected
    assert result["per_task"]["7"]["nearest"] == [4, 0] and len(result["per_task"]["2"]["generated per sample"]) == 2
    assert "| **mean** |" in stdout and "generated vs nearest expert:" in stdout
    for row in ("generated", "nearest expert", "random actor"):  # every mean carries its interval
        low, high = result["overall_ci"][row]
        assert low <= result["overall"][row] <= high
        assert (
            result["per_task"]["2"][f"{row} ci"][0] <= result["per_task"]["2"][row] <= result["per_task"]["2"][f"{row} ci"][1]
        )
    for test_id in (2, 7):  # the generated policies, in the one policy format, with their zero-shot returns
        policies = load_policies(str(tmp / "artifacts" / "hl_generated" / f"task_{test_id:02d}.pt"), "test")
        ckpt = load_artifact(str(tmp / "artifacts" / "hl.pt"), "hyplatent")
        assert torch.equal(policies["params"], generate(ckpt, torch.tensor([policies["task"]["params"]] * 2), seed=test_id))
        assert policies["returns"].tolist() == pytest.approx(result["per_task"][str(test_id)]["generated per sample"])
        assert policies["origin"]["stage"] == "hyplatent_train" and policies["origin"]["noise_seed"] == test_id
    monkeypatch.chdir(tmp_path)  # another working folder: the collection is found from the checkpoint's absolute path
    again = hyplatent_train.main(hyplatent_train.Args(out=str(tmp / "artifacts" / "hl.pt"), eval_only=True,
                                                      test_task_ids=(2, 7), eval_samples=2, eval_episodes=2))  # fmt: skip
    assert again["overall"] == pytest.approx(result["overall"])


def test_zeroshot_eval_scores_generated_policy_files_by_hand(chain, tmp_path, run):
    """zeroshot_eval.py, the one place Table I is made: run by hand on the generated policy files, it writes the table
    the generator stage wrote; it refuses files no generator made, and files of two generators in one table."""
    tmp, _, _ = chain
    files = [str(tmp / "artifacts" / "hl_generated" / f"task_{t:02d}.pt") for t in (2, 7)]
    proc = run("zeroshot_eval.py", *files, "--out", "again.json", cwd=tmp_path)
    assert "| **mean** |" in proc.stdout
    assert (tmp_path / "again.json").read_text() == (tmp / "artifacts" / "hl_zeroshot.json").read_text()
    expert = str(tmp / "data" / "cheetah-vel" / "task_00.pt")
    one_line_error(run("zeroshot_eval.py", expert, cwd=tmp_path, check=False), expert, "not a generated policy file")
    other = load_policies(files[1], "test")
    other["origin"] = {**other["origin"], "hyplatent": str(tmp_path / "other.pt")}
    save_atomic(other, str(tmp_path / "task_07.pt"), "test")
    one_line_error(run("zeroshot_eval.py", files[0], str(tmp_path / "task_07.pt"), cwd=tmp_path, check=False),
                   "one generator per table")  # fmt: skip
    one_line_error(run("zeroshot_eval.py", files[0], files[0], cwd=tmp_path, check=False), "repeat")
    proc = run("zeroshot_eval.py", *files, "--ci-reps", str(10**13), cwd=tmp_path, check=False)
    one_line_error(proc, "--ci-reps 10000000000000: needs about")
    assert not (tmp_path / "artifacts").exists()  # nothing written by a refusal


def test_eval_only_draws_noise_from_the_checkpoints_seed_unless_given(chain, tmp_path):
    tmp, _, _ = chain
    ckpt = load_artifact(str(tmp / "artifacts" / "hl.pt"), "hyplatent")
    ckpt["args"]["seed"] = 3  # as if trained with --seed 3: the same weights, another training seed on record
    hl = str(tmp_path / "hl_seed3.pt")
    save_atomic(ckpt, hl, "test")
    table = str(tmp_path / "t.json")
    own = dict(out=hl, eval_only=True, test_task_ids=(2,), eval_samples=2, eval_episodes=1, table=table)
    hyplatent_train.main(hyplatent_train.Args(**own))
    policies = load_policies(str(tmp_path / "t_generated" / "task_02.pt"), "test")
    assert policies["origin"]["noise_seed"] == 3 + 2  # the checkpoint's seed + the task's id
    assert torch.equal(policies["params"], generate(ckpt, torch.tensor([[0.225]] * 2), seed=5))
    hyplatent_train.main(hyplatent_train.Args(**own, seed=0))  # an explicit --seed still wins
    assert load_policies(str(tmp_path / "t_generated" / "task_02.pt"), "test")["origin"]["noise_seed"] == 2


def test_any_parameter_value_is_evaluated_and_written_as_policy_files(chain, tmp_path):
    tmp, _, _ = chain
    hl = str(tmp / "artifacts" / "hl.pt")
    result = hyplatent_train.main(hyplatent_train.Args(out=hl, eval_only=True, params=("0.3", "2.9"), eval_samples=2,
                                                       eval_episodes=1))  # fmt: skip
    assert result["targets"] == ["velocity=0.3", "velocity=2.9"]
    # trained on v = 0.075 and 0.375: 0.3 lies between them, 2.9 beyond
    assert [result["per_task"][k]["extrapolation"] for k in result["targets"]] == [False, True]
    assert "2.900 (extrapolation)" in result["markdown"] and (tmp / "artifacts" / "hl_zeroshot.json").exists()
    policies = load_policies(str(tmp / "artifacts" / "hl_generated" / "velocity_2.9.pt"), "test")
    assert policies["task"]["index"] is None and policies["task"]["params"] == [2.9] and len(policies["params"]) == 2
    assert policies["returns"].tolist() == pytest.approx(result["per_task"]["velocity=2.9"]["generated per sample"])
    ckpt = load_artifact(hl, "hyplatent")
    assert torch.equal(policies["params"], generate(ckpt, torch.tensor([[2.9]] * 2), seed=policies["origin"]["noise_seed"]))
    bad = [(("3.5",), r"--params 3.5: outside the velocity range of cheetah-vel, expected 0..3"),
           (("fast",), "--params 'fast': expected a number"),
           (("nan",), "--params nan: outside the velocity range")]  # fmt: skip
    for params, message in bad:
        with pytest.raises(SystemExit, match=message):
            hyplatent_train.main(hyplatent_train.Args(out=hl, eval_only=True, params=params))
    with pytest.raises(SystemExit, match="--params and --test-task-ids: give one of them"):
        hyplatent_train.main(hyplatent_train.Args(out=hl, eval_only=True, params=("1.0",), test_task_ids=(2,)))
    with pytest.raises(SystemExit, match="--table near.txt: expected a path ending in .json"):
        hyplatent_train.main(hyplatent_train.Args(out=hl, eval_only=True, params=("1.0",), table="near.txt"))


def test_truncated_noise_is_evaluated_and_recorded(chain, tmp_path):
    tmp, _, _ = chain
    hl, table = str(tmp / "artifacts" / "hl.pt"), str(tmp_path / "truncated.json")
    args = hyplatent_train.Args(out=hl, eval_only=True, params=("0.3",), eval_samples=2, eval_episodes=1, table=table)
    result = hyplatent_train.main(dataclasses.replace(args, noise_scale=0.0))
    assert result["noise_scale"] == 0.0 and json.loads(open(table).read())["noise_scale"] == 0.0
    returns = result["per_task"]["velocity=0.3"]["generated per sample"]
    assert returns[0] == pytest.approx(returns[1])  # every sample is G(0, M): one policy, deterministic episodes
    policies = load_policies(str(tmp_path / "truncated_generated" / "velocity_0.3.pt"), "test")  # beside its table
    assert policies["origin"]["noise_scale"] == 0.0 and torch.equal(policies["params"][0], policies["params"][1])
    with pytest.raises(SystemExit, match="--noise-scale -0.5: expected"):
        hyplatent_train.main(dataclasses.replace(args, noise_scale=-0.5))
    (tmp_path / "folder.json").mkdir()
    with pytest.raises(SystemExit, match="--table .*folder.json: is a folder, expected a file path"):
        hyplatent_train.main(
            hyplatent_train.Args(out=hl, eval_only=True, params=("1.0",), table=str(tmp_path / "folder.json"))
        )
    # --table: a second sweep of the same checkpoint gets its own file and leaves the first one as it was
    first = (tmp / "artifacts" / "hl_zeroshot_params.json").read_bytes()
    near = tmp_path / "near.json"
    hyplatent_train.main(hyplatent_train.Args(out=hl, eval_only=True, params=("1.0",), table=str(near), eval_samples=1,
                                              eval_episodes=1))  # fmt: skip
    assert (
        json.loads(near.read_text())["targets"] == ["velocity=1"] and (tmp_path / "near_generated" / "velocity_1.pt").exists()
    )
    assert (tmp / "artifacts" / "hl_zeroshot_params.json").read_bytes() == first
    assert not (tmp / "artifacts" / "hl_generated" / "velocity_1.pt").exists()  # nor the first one's policies


def test_a_moved_collection_is_given_with_data_and_recorded(chain, tmp_path):
    tmp, _, _ = chain
    moved = tmp_path / "moved"
    moved.mkdir()
    for name in ("task_00.pt", "task_02.pt", "task_04.pt"):
        (moved / name).write_bytes((tmp / "data" / "cheetah-vel" / name).read_bytes())
    tiny = dict(
        iterations=2, batch_size=6, test_task_ids=(2,), eval_samples=1, eval_episodes=1, runs_dir=str(tmp_path / "runs")
    )
    args = hyplatent_train.Args(ae=str(tmp / "artifacts" / "ae.pt"), data=str(moved), out=str(tmp_path / "hl.pt"), **tiny)
    hyplatent_train.main(args)
    assert load_artifact(args.out, "hyplatent")["data"] == str(moved), "the checkpoint must name the collection it read"


def test_sweep_figure_from_the_zero_shot_tables(chain, tmp_path):
    tmp, _, _ = chain
    hl = str(tmp / "artifacts" / "hl.pt")
    hyplatent_train.main(hyplatent_train.Args(out=hl, eval_only=True, params=("0.1", "0.6", "2.0"), eval_samples=2,
                                              eval_episodes=1))  # fmt: skip
    tables = (str(tmp / "artifacts" / "hl_zeroshot_params.json"), str(tmp / "artifacts" / "hl_zeroshot.json"))
    summary = plot_zeroshot.main(plot_zeroshot.Args(tables=tables, out=str(tmp_path / "fig" / "sweep.png")))
    png = (tmp_path / "fig" / "sweep.png").read_bytes()
    assert (
        png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000 and "5 parameter values" in summary
    )  # 3 swept + 2 test tasks (0.6 twice: task 7)
    (tmp_path / "other.json").write_text(
        json.dumps({"suite": "ant-dir", "train_task_ids": [1], "targets": [], "per_task": {}})
    )
    (tmp_path / "broken.json").write_text("{")
    truncated = {**json.loads(open(tables[1]).read()), "noise_scale": 0.5}
    (tmp_path / "truncated.json").write_text(json.dumps(truncated))
    before = open(tables[0]).read()
    for override, message in [
        (dict(out=tables[0]), "is one of this stage's inputs"),
        (dict(tables=(*tables, str(tmp_path / "other.json"))), "other.json: from another generator"),
        (dict(tables=(str(tmp_path / "broken.json"),)), "broken.json: not a readable zero-shot JSON"),
        (
            dict(tables=(tables[0], str(tmp_path / "truncated.json"))),
            "truncated.json: evaluated with noise std 0.5, .* with 1",
        ),
        (dict(tables=(str(tmp / "artifacts" / "hl.pt"),)), "hl.pt: not a readable zero-shot JSON"),
    ]:
        with pytest.raises(SystemExit, match=message):
            plot_zeroshot.main(plot_zeroshot.Args(**{"tables": tables, "out": str(tmp_path / "new.png"), **override}))
    assert open(tables[0]).read() == before and not (tmp_path / "new.png").exists()


def test_gait_split_is_the_return_and_runs_the_stored_episodes(chain, tmp_path, run):
    """plot_gait.py: speed error + control cost is each policy's return, the return of the episode its file stored,
    and the settled speed counts the steps after --settle; the script writes its figure and table; bad input fails."""
    tmp, _, _ = chain
    generated = load_policies(str(tmp / "artifacts" / "hl_generated" / "task_07.pt"), "test")
    point = plot_gait.run(generated, generated["params"], plot_gait.Args(policies=(), episodes=1))
    assert point["param"] == 0.6 and point["return"] == pytest.approx(generated["episode_returns"][:, 0].numpy(), abs=1e-4)
    assert point["speed"] + point["control"] == pytest.approx(point["return"], abs=1e-6) and (point["control"] < 0).all()
    env = plot_gait.RewardTerms(common.make_env(common.get_task("cheetah-vel", 7)), settle=150)
    env.reset(seed=0)
    rewards = [env.step(env.action_space.sample())[1] for _ in range(200)]
    episode = env.episodes[0]
    assert sum(episode["terms"].values()) == pytest.approx(sum(rewards)) and set(episode["terms"]) == {"speed", "control"}
    assert env.settled(episode)[0] == pytest.approx(np.mean([v[0] for v in episode["velocities"][150:]]))
    (tmp_path / "gen").mkdir()
    for name in os.listdir(tmp / "artifacts" / "hl_generated"):
        (tmp_path / "gen" / name).write_bytes((tmp / "artifacts" / "hl_generated" / name).read_bytes())
    (tmp_path / "gen" / ".resume_7.pt").write_bytes(b"a resume state, not a policy file")  # skipped, as in a collection
    argv = (str(tmp_path / "gen"), "--experts", "data/cheetah-vel", "--out", str(tmp_path / "gait.png"))
    proc = run("tools/plot_gait.py", *argv, cwd=tmp)
    png, table = (tmp_path / "gait.png").read_bytes(), (tmp_path / "gait.png.md").read_text()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000 and "experts (best checkpoint): 3 tasks" in proc.stdout
    assert table.count(f"| {tmp_path / 'gen'} | ") == len(os.listdir(tmp / "artifacts" / "hl_generated"))
    labelled = plot_gait.Args(policies=(str(tmp_path / "gen"),), labels=("generated",), out=str(tmp_path / "labelled.png"))
    assert list(plot_gait.validate(labelled)[0]) == ["generated"]  # the legend's and the table's name for the curve
    torch.save(fake_policies("ant-dir", 6), tmp_path / "task_06.pt")
    (tmp_path / "empty").mkdir()
    for bad, fragments in [
        (("--episodes", "0"), ("--episodes 0", "at least 1")),
        (("--settle", "200"), ("--settle 200", "0..199")),
        (("artifacts/hl_generated", str(tmp_path / "task_06.pt")), ("task_06.pt: a policy of ant-dir", "one suite")),
        (("artifacts/hl_generated", "artifacts/hl_generated/"), ("hl_generated/: given twice",)),
        (("artifacts/hl_generated", "--labels", "a", "b"), ("--labels", "2 given", "one per policies argument (1)")),
        ((str(tmp_path / "gen"), "artifacts/hl_generated", "--labels", "a", "a"), ("--labels a a", "distinct")),
        (("artifacts/hl_generated", "--labels", plot_gait.EXPERTS), ("--labels", "none 'experts (best checkpoint)'")),
        ((str(tmp_path / "empty"),), ("empty", "without policy files")),
        (("artifacts/hl_generated", "--out", "artifacts/hl_generated/task_07.pt"), ("--out", "inputs")),
    ]:
        one_line_error(run("tools/plot_gait.py", *bad, cwd=tmp, check=False), *fragments)


def test_expert_table_reads_each_task_in_step_order(tmp_path, chain, run):
    """expert_table.py: best, last and halves of a task's checkpoints in step order (not file order), one row per task
    of the collection with the mean over them, Ant-Dir's goal in degrees; bad input fails in one line."""
    data = fake_policies("ant-dir", 23, num=4, steps=torch.tensor([300, 100, 400, 200]))
    data["returns"] = torch.tensor([30.0, 10.0, 5.0, 20.0])  # by step: 10, 20, 30, 5
    r = expert_table.row(data)
    assert (r["best"], r["last"], r["first"], r["second"], r["steps"]) == (30.0, 5.0, 15.0, 17.5, (100, 400))
    assert expert_table.condition(data["task"]) == "51.8 deg"
    tmp, _, _ = chain
    proc = run("tools/expert_table.py", "data/cheetah-vel", "--task-ids", "4", "0", "--out", str(tmp_path / "t.md"), cwd=tmp)
    table = (tmp_path / "t.md").read_text()
    assert table == proc.stdout and table.index("| 4 | 0.375 |") < table.index("| 0 | 0.075 |")
    best = [load_policies(str(tmp / "data" / "cheetah-vel" / f"task_{i:02d}.pt"), "test")["returns"].max() for i in (4, 0)]
    assert f"| **mean of 2** | | | **{np.mean([float(b) for b in best]):.1f}** |" in table
    torch.save(fake_policies("ant-dir", 6), tmp_path / "task_06.pt")
    for bad, fragments in [
        (("data/cheetah-vel", str(tmp_path / "task_06.pt")), ("task_06.pt: a task of ant-dir",)),
        (("data/cheetah-vel", "--task-ids", "9"), ("--task-ids [9]", "not in the collections")),
        (("data/cheetah-vel", "data/cheetah-vel/task_04.pt", "--task-ids", "4"), ("--task-ids 4: held twice",)),
        (("artifacts/hl_generated/task_07.pt",), ("task_07.pt", "not a collection's task file")),
        (("artifacts",), ("artifacts", "without task files")),
        (("data/cheetah-vel", "--out", "data/cheetah-vel/task_00.pt"), ("--out", "inputs")),
    ]:
        one_line_error(run("tools/expert_table.py", *bad, cwd=tmp, check=False), *fragments)


def test_ant_gait_is_the_direction_walked_against_the_goal(tmp_path, run):
    """Ant-Dir: forward + control + alive is the return, the walked direction is the settled velocity's angle, and the
    figure and table show it against the goal."""
    data = fake_policies("ant-dir", 23, num=2, hidden=16)  # goal 51.8 degrees
    episodes = torch.tensor(common.evaluate(load_policies_of(data), [common.Task.from_dict(data["task"])] * 2, 1, 10_000))
    save_atomic(
        {**data, "episode_returns": episodes.float(), "returns": episodes.float().mean(1)}, str(tmp_path / "task_23.pt")
    )
    point = plot_gait.run(data, data["params"], plot_gait.Args(policies=(), episodes=1, settle=20))
    assert point["param"] == pytest.approx(math.degrees(common.ANT_DIR_GOALS[23]))
    assert point["forward"] + point["control"] + point["alive"] == pytest.approx(point["return"], abs=1e-5)
    assert point["return"] == pytest.approx(episodes[:, 0].numpy(), abs=1e-4)
    assert ((0 <= point["walked direction"]) & (point["walked direction"] < 360)).all()
    assert plot_gait.direction_error([350.0, 10.0, 180.0], 5.0).tolist() == [15.0, 5.0, 175.0]  # the short way round
    proc = run("tools/plot_gait.py", str(tmp_path / "task_23.pt"), "--out", str(tmp_path / "gait.png"), cwd=tmp_path)
    assert "|walked - goal|" in proc.stdout and "walked direction (deg)" in (tmp_path / "gait.png.md").read_text()
    assert (tmp_path / "gait.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def load_policies_of(data: dict) -> Actor:
    """The file's policies as one task-batched actor."""
    return common.load_flat_params(Actor(**data["actor_args"], num_tasks=len(data["params"])), data["params"])


def test_recipes_compare_on_the_same_targets(chain, tmp_path):
    tmp, _, _ = chain
    real = json.loads((tmp / "artifacts" / "hl_zeroshot.json").read_text())
    ahead = {**real, "overall": {**real["overall"], "generated": real["overall"]["nearest expert"] + 50.0}}
    low = max(real["overall_ci"]["nearest expert"][1], real["overall_ci"]["generated"][1]) + 1.0  # above both
    ahead["overall_ci"] = {**real["overall_ci"], "generated": [low, low + 98.0]}
    ahead["distinguishable"] = True  # as hyplatent_train.py would write it for intervals apart
    paths = [str(tmp_path / "hyplatent_default_zeroshot.json"), str(tmp_path / "hyplatent_wide_near.json")]
    for path, table in zip(paths, (real, ahead)):
        open(path, "w").write(json.dumps(table))
    markdown = compare_recipes.main(compare_recipes.Args(tables=tuple(paths), out=str(tmp_path / "cmp" / "held_out.md")))
    rows = {line.split(" | ")[0].strip("| "): line for line in markdown.splitlines() if line.startswith("| ")}
    assert set(rows) == {"recipe", "default", "wide"} and "own expert" not in rows["recipe"]  # not collected here
    assert rows["wide"].endswith("| +50.0 | yes |")
    gap = real["overall"]["generated"] - real["overall"]["nearest expert"]
    assert f"| {gap:+.1f} |" in rows["default"]
    assert (tmp_path / "cmp" / "held_out.md").read_text() == markdown + "\n"
    # the preset's rule: the best generated mean if its interval lies wholly above the defaults', else the defaults,
    # on the tables it names as ant_dir15.sh's validate stage does (hyplatent_<recipe>_between.json)
    betweens = [str(tmp_path / f"hyplatent_{name}_between.json") for name in ("default", "wide")]
    for path, table in zip(betweens, (real, ahead)):
        open(path, "w").write(json.dumps(table))
    picked = compare_recipes.main(compare_recipes.Args(tables=tuple(betweens), pick_against="default"))
    assert picked.startswith(markdown) and picked.splitlines()[-1].startswith(
        "pick: wide (rule: the highest generated mean, wide,"
    )
    touching = {**ahead, "overall_ci": {**ahead["overall_ci"], "generated": [real["overall_ci"]["generated"][1], low + 98]}}
    (tmp_path / "hyplatent_touching_zeroshot.json").write_text(json.dumps(touching))  # its mean is higher, not its interval
    picked = compare_recipes.main(
        compare_recipes.Args(tables=(paths[0], str(tmp_path / "hyplatent_touching_zeroshot.json")), pick_against="default")
    )
    assert picked.splitlines()[-1].startswith("pick: default (rule: the highest generated mean, touching,")
    unknown = {**real, "overall": {**real["overall"], "generated": None}}  # a non-finite mean, as the writers store it
    unknown["overall_ci"] = {**real["overall_ci"], "generated": None}
    (tmp_path / "hyplatent_unknown_zeroshot.json").write_text(json.dumps(unknown))
    rows = compare_recipes.main(compare_recipes.Args(tables=(str(tmp_path / "hyplatent_unknown_zeroshot.json"),)))
    assert "| unknown | n/a [no interval] |" in rows and rows.splitlines()[-1].endswith("| n/a | no |")
    (tmp_path / "bare_nan.json").write_text(json.dumps(real).replace(str(real["overall"]["generated"]), "NaN"))
    other = {**real, "targets": ["velocity=0.3"]}
    (tmp_path / "other.json").write_text(json.dumps(other))
    for tables, message in [
        ((paths[0], str(tmp_path / "other.json")), r"other.json: scored on targets \['velocity=0.3'\]"),
        ((str(tmp / "artifacts" / "hl.pt"),), "hl.pt: not a readable zero-shot JSON"),
        ((str(tmp_path / "bare_nan.json"),), r"bare_nan.json: not a readable zero-shot JSON \(holds a bare NaN\)"),
        ((), "tables: expected at least one zero-shot JSON file"),
    ]:
        with pytest.raises(SystemExit, match=message):
            compare_recipes.main(compare_recipes.Args(tables=tables))
    with pytest.raises(
        SystemExit, match=r"--pick-against raw: expected one of the tables' recipes, each once: \['default', 'wide'\]"
    ):
        compare_recipes.main(compare_recipes.Args(tables=tuple(paths), pick_against="raw"))


def test_bootstrap_interval_is_stratified_and_covers_the_mean():
    args = hyplatent_train.Args(ci=0.95, ci_reps=2000, seed=0)
    assert zeroshot_eval.interval(np.full((10, 2), 3.0), args) == pytest.approx([3.0, 3.0])  # no spread, no width
    rng = np.random.default_rng(0)
    scores = rng.normal(0.0, 1.0, size=(400, 1))
    low, high = zeroshot_eval.interval(scores, args)
    assert low < scores.mean() < high and 0.1 < high - low < 0.3  # about 2 x 1.96 / sqrt(400) = 0.196 wide
    outside = np.random.get_state()[1].copy()
    assert zeroshot_eval.interval(scores, args) == [low, high], "the same seed must give the same interval"
    assert np.array_equal(np.random.get_state()[1], outside), "numpy's global RNG was left changed"
    assert zeroshot_eval.interval(scores, hyplatent_train.Args(ci_reps=2000, seed=1)) != [low, high]
    # targets far apart: resampling within each target keeps the spread between them out of the interval
    two = np.concatenate([rng.normal(0, 1, (400, 1)), rng.normal(100, 1, (400, 1))], axis=1)
    low, high = zeroshot_eval.interval(two, args)
    assert high - low < 0.3 and low < two.mean() < high


# ----------------------------------------------------------------------------------------------
# Bad input: one line naming the argument or file, before any training, nothing overwritten or left behind
# ----------------------------------------------------------------------------------------------
def test_ae_train_bad_input(chain, tmp_path, run):
    tmp, _, _ = chain
    data = str(tmp / "data" / "cheetah-vel")
    task0 = tmp / "data" / "cheetah-vel" / "task_00.pt"
    before = task0.read_bytes()
    cases = [
        (dict(data=str(tmp_path)), "no task files"),
        (dict(train_task_ids=(0, 2)), "--train-task-ids 2: is a test task"),
        (dict(train_task_ids=(0, 8)), "--train-task-ids 8: not collected"),
        (dict(out=str(task0)), "task_00.pt: is one of this stage's inputs"),
        (dict(out=str(tmp_path)), "is a folder, expected a file path"),
        (dict(out="/proc/genhyper/ae.pt"), "cannot write in /proc"),
        (dict(steps=0), "--steps 0: expected an integer >= 1"),
        (dict(batch_size=0), "--batch-size 0: expected an integer >= 1"),
        (dict(latent_dim=0), "--latent-dim 0: expected an integer >= 1"),
        (dict(eval_episodes=0), "--eval-episodes 0: expected an integer >= 1"),
        (dict(lr=-1e-3), "--lr -0.001: expected a number > 0"),
        (dict(input_noise=2.0), r"--input-noise 2.0: expected a number in \[0, 1\]"),
        (dict(latent_dim=10**10), "--latent-dim 10000000000: needs about .* GiB, this machine has"),
        (dict(batch_size=10**13), "--batch-size 10000000000000: needs about"),
        (dict(seed=-3), "--seed -3: expected a seed in 0..4294967295"),
    ]
    for override, message in cases:
        args = {"data": data, "out": str(tmp_path / "ae.pt"), "runs_dir": str(tmp_path / "runs"), **override}
        with pytest.raises(SystemExit, match=message):
            ae_train.main(ae_train.Args(**args))
    assert task0.read_bytes() == before and not (tmp_path / "runs").exists() and not (tmp_path / "ae.pt").exists()
    proc = run("ae_train.py", "--data", data, "--out", str(task0), cwd=tmp_path, check=False)
    one_line_error(proc, "ae_train: --out", "is one of this stage's inputs")
    assert task0.read_bytes() == before


@pytest.mark.parametrize("damage,message", [
    (lambda d: {**d, "params": d["params"] * float("nan")}, "task_00.pt: params holds NaN or inf"),
    (lambda d: {**d, "episode_returns": d["episode_returns"] + float("inf")}, "task_00.pt: episode_returns holds NaN or inf"),
])  # fmt: skip
def test_non_finite_collection_is_refused(chain, tmp_path, damage, message):
    tmp, _, _ = chain
    folder = tmp_path / "data"
    folder.mkdir()
    for name in ("task_00.pt", "task_04.pt"):
        data = dict(load_policies(str(tmp / "data" / "cheetah-vel" / name), "test"))
        torch.save(damage(data) if name == "task_00.pt" else data, str(folder / name))  # planted: save_atomic refuses NaN
    with pytest.raises(SystemExit, match=message):
        ae_train.main(ae_train.Args(data=str(folder), out=str(tmp_path / "ae.pt")))
    ae = dict(load_artifact(str(tmp / "artifacts" / "ae.pt"), "autoencoder"))  # the same damage downstream
    torch.save({**ae, "latents": ae["latents"] * float("nan")}, str(tmp_path / "nan_ae.pt"))  # planted
    with pytest.raises(SystemExit, match="nan_ae.pt: latents holds NaN or inf"):
        hyplatent_train.main(hyplatent_train.Args(ae=str(tmp_path / "nan_ae.pt"), out=str(tmp_path / "hl.pt")))
    assert not (tmp_path / "ae.pt").exists() and not (tmp_path / "hl.pt").exists()


def test_resumed_autoencoder_refuses_a_changed_collection(chain, tmp_path):
    tmp, _, _ = chain
    folder = tmp_path / "data"
    folder.mkdir()
    for name in ("task_00.pt", "task_04.pt"):
        (folder / name).write_bytes((tmp / "data" / "cheetah-vel" / name).read_bytes())
    cmd = [sys.executable, os.path.join(ROOT, "ae_train.py"), "--data", "data", "--out", "ae.pt", "--latent-dim", "8",
           "--steps", "1000000", "--batch-size", "4", "--state-every", "5"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (tmp_path / "ae.pt.state.pt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (tmp_path / "ae.pt.state.pt").exists() and not (tmp_path / "ae.pt").exists()
    data = dict(load_policies(str(folder / "task_04.pt"), "test"))
    save_atomic({**data, "params": data["params"][:2], "returns": data["returns"][:2],
                 "episode_returns": data["episode_returns"][:2]}, str(folder / "task_04.pt"))  # fmt: skip
    again = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    one_line_error(again, "ae_train: ae.pt.state.pt: resume state made from other inputs", "task_04.pt")


def test_hyplatent_bad_input(chain, tmp_path, run):
    tmp, _, _ = chain
    ae_path = tmp / "artifacts" / "ae.pt"
    before = ae_path.read_bytes()
    cases = [
        (dict(ae=str(tmp / "data" / "cheetah-vel" / "task_00.pt")), "expected a 'autoencoder' artifact, found 'policies'"),
        (dict(out=str(ae_path)), "ae.pt: is one of this stage's inputs"),
        (dict(out=str(tmp / "data" / "cheetah-vel" / "task_00.pt")), "is one of this stage's inputs"),
        (dict(out=str(tmp_path)), "is a folder"),
        (dict(out="/proc/genhyper/hl.pt"), "cannot write in /proc"),
        (dict(train_task_ids=(2,)), r"--train-task-ids 2: not among the autoencoder's training tasks \[0, 4\]"),
        (dict(test_task_ids=(4,)), "--test-task-ids 4: is a training task"),
        (dict(condition="cossin"), "--condition cossin: only for directions"),
        (dict(iterations=-3), "--iterations -3: expected an integer >= 1"),
        (dict(g_steps=0), "--g-steps 0: expected an integer >= 1"),
        (dict(batch_size=1), "--batch-size 1: expected an integer >= 2"),
        (dict(noise_dim=0), "--noise-dim 0: expected an integer >= 1"),
        (dict(state_every=0), "--state-every 0: expected an integer >= 1"),
        (dict(log_every=0), "--log-every 0: expected an integer >= 1"),
        (dict(eval_samples=0), "--eval-samples 0: expected an integer >= 1"),
        (dict(best_checkpoints=-1), "--best-checkpoints -1: expected an integer >= 0"),
        (dict(eval_episodes=0), "--eval-episodes 0: expected an integer >= 1"),
        (dict(lr=0.0), "--lr 0.0: expected a number > 0"),
        (dict(condition_noise=-0.1), "--condition-noise -0.1: expected a number >= 0"),
        (dict(ema_decay=1.0), r"--ema-decay 1.0: expected a number in \[0, 1\)"),
        (dict(ask_quality=1.5), r"--ask-quality 1.5: expected a number in \[0, 1\]"),
        (dict(lambda_behavior=-1.0), "--lambda-behavior -1.0: expected a number >= 0"),
        (dict(behavior_states=0), "--behavior-states 0: expected an integer >= 1"),
        (dict(data=str(tmp_path)), "--data .*: no task files"),
        (dict(test_task_ids=(7, 7)), "--test-task-ids: target 7 is asked twice"),
        (dict(params=(1.3, 1.3000001)), "--params: target velocity=1.3 is asked twice"),  # one name, one file
        (dict(eval_samples=10**9), "--eval-samples 1000000000: needs about .* GiB, this machine has"),
        (dict(generator_widths=(10**9, 16)), r"--generator-widths \[1000000000, 16\]: needs about .* GiB"),
        (dict(lr=float("inf")), "--lr inf: expected a finite number"),
        (dict(seed=2**32), "--seed 4294967296: expected a seed in 0..4294967295"),
        (dict(runs_dir=str(ae_path)), "--runs-dir .*ae.pt: .*ae.pt is a file, not a folder"),
    ]
    for override, message in cases:
        args = {"ae": str(ae_path), "out": str(tmp_path / "hl.pt"), "runs_dir": str(tmp_path / "runs"), **override}
        with pytest.raises(SystemExit, match=message):
            hyplatent_train.main(hyplatent_train.Args(**args))
    other = tmp_path / "other"  # a collection whose checkpoints are not the autoencoder's
    other.mkdir()
    for index in (0, 4):
        save_atomic(fake_policies("cheetah-vel", index, num=3, hidden=32), str(other / f"task_{index:02d}.pt"))
    with pytest.raises(SystemExit, match="--data .*other: its checkpoints differ from those the autoencoder was trained on"):
        hyplatent_train.main(hyplatent_train.Args(ae=str(ae_path), data=str(other), out=str(tmp_path / "hl.pt")))
    assert ae_path.read_bytes() == before and not (tmp_path / "runs").exists()
    assert sorted(os.listdir(tmp_path)) == ["other"], "a refused run left files behind"
    proc = run("hyplatent_train.py", "--ae", str(ae_path), "--out", str(ae_path), cwd=tmp_path, check=False)
    one_line_error(proc, "hyplatent_train: --out (checkpoint)", "is one of this stage's inputs")
    proc = run("hyplatent_train.py", "--ae", str(ae_path), "--train-task-ids", "2", cwd=tmp_path, check=False)
    one_line_error(proc, "--train-task-ids 2")
    assert ae_path.read_bytes() == before


def test_collection_folders_that_mix_are_refused(tmp_path):
    mixed = tmp_path / "mixed"
    save_atomic(fake_policies("cheetah-vel", 0), str(mixed / "task_00.pt"))
    save_atomic(fake_policies("ant-dir", 1), str(mixed / "task_01.pt"))
    with pytest.raises(SystemExit, match="mixes suites"):
        ae_train.main(ae_train.Args(data=str(mixed), out=str(tmp_path / "ae.pt")))
    save_atomic(fake_policies("cheetah-vel", 1, hidden=16), str(mixed / "task_01.pt"))
    with pytest.raises(SystemExit, match="mixes actor layouts"):
        ae_train.main(ae_train.Args(data=str(mixed), out=str(tmp_path / "ae.pt")))
    save_atomic(fake_policies("cheetah-vel", 4), str(mixed / "task_01.pt"))
    with pytest.raises(SystemExit, match="task_01.pt: the file is named for task 1 but holds task 4"):
        ae_train.main(ae_train.Args(data=str(mixed), out=str(tmp_path / "ae.pt")))


def test_blend_probe_runs_two_experts_and_their_blend(chain, tmp_path, run):
    """experiments/blend_probe.py: the two best checkpoints and their 50/50 blend on the same episodes at one velocity."""
    tmp, _, _ = chain
    data = tmp / "data" / "cheetah-vel"
    proc = run("experiments/blend_probe.py", str(data / "task_00.pt"), str(data / "task_04.pt"), "--param", "0.2",
               "--episodes", "2", "--ci-reps", "200", cwd=tmp_path)  # fmt: skip
    assert "blend" in proc.stdout and "L2 distance" in proc.stdout
    one_line_error(run("experiments/blend_probe.py", str(data / "task_00.pt"), str(data / "task_04.pt"), "--param", "9",
                       cwd=tmp_path, check=False), "--param 9.0", "outside")  # fmt: skip


def test_anchored_probe_puts_the_library_under_the_generator(chain, tmp_path, run):
    """experiments/anchored_probe.py: at a training velocity the policies anchored at the nearest expert are that
    expert's best checkpoint exactly; elsewhere each is the generated policy moved by best - D(G(eps, c_a)) with the
    same noise; the blend anchors at the two nearest with inverse-distance weights; zeroshot_eval.py scores the files."""
    tmp, _, _ = chain
    hl = str(tmp / "artifacts" / "hl.pt")
    run("hyplatent_train.py", "--out", hl, "--eval-only", "--params", "0.075", "--eval-samples", "2", "--eval-episodes", "1",
        "--table", str(tmp_path / "at0.json"), cwd=tmp_path)  # fmt: skip
    expert = load_policies(str(tmp / "data" / "cheetah-vel" / "task_00.pt"), "test")  # v = 0.075
    best = expert["params"][expert["returns"].argmax()]
    run("experiments/anchored_probe.py", str(tmp_path / "at0_generated" / "velocity_0.075.pt"), "--out-dir", "a", cwd=tmp_path)
    anchored = load_policies(str(tmp_path / "a" / "velocity_0.075.pt"), "test")
    assert torch.allclose(anchored["params"], best.expand(2, -1), atol=1e-5)
    assert anchored["origin"]["anchor_tasks"] == [0] and anchored["returns"].shape == (2,)

    source = str(tmp / "artifacts" / "hl_generated" / "task_07.pt")  # v = 0.6: nearest task 4 (0.375), then 0 (0.075)
    generated = load_policies(source, "test")
    ckpt = load_artifact(hl, "hyplatent")
    noise = (generated["origin"]["noise_seed"], generated["origin"]["noise_scale"])
    for mode, tasks, weights in (("nearest", [4], [1.0]), ("blend", [4, 0], [0.525 / 0.75, 0.225 / 0.75])):
        run("experiments/anchored_probe.py", source, "--mode", mode, "--out-dir", mode, cwd=tmp_path)
        anchored = load_policies(str(tmp_path / mode / "task_07.pt"), "test")
        assert anchored["origin"]["anchor_tasks"] == tasks and anchored["origin"]["anchor"] == mode
        assert np.allclose(anchored["origin"]["anchor_weights"], weights)
        expected = generated["params"].clone()
        for i, w in zip(tasks, weights):
            data = load_policies(str(tmp / "data" / "cheetah-vel" / f"task_{i:02d}.pt"), "test")
            at_anchor = generate(ckpt, torch.tensor([[0.075 * (i + 1)]] * 2), *noise)
            expected += w * (data["params"][data["returns"].argmax()] - at_anchor)
        assert torch.allclose(anchored["params"], expected, atol=1e-5)
        assert not torch.allclose(anchored["params"], generated["params"], atol=1e-3)
    run("zeroshot_eval.py", str(tmp_path / "blend" / "task_07.pt"), "--out", "t.json", "--ci-reps", "200", cwd=tmp_path)
    table = json.loads((tmp_path / "t.json").read_text())
    assert table["targets"] == ["7"] and np.isfinite(table["overall"]["generated"])
    one_line_error(run("experiments/anchored_probe.py", str(tmp / "data" / "cheetah-vel" / "task_00.pt"), cwd=tmp_path,
                       check=False), "task_00.pt: not a HypLatent policy file")  # fmt: skip
    before = (tmp / "artifacts" / "hl_generated" / "task_07.pt").read_bytes()
    one_line_error(run("experiments/anchored_probe.py", source, "--out-dir", str(tmp / "artifacts" / "hl_generated"),
                       cwd=tmp_path, check=False), "--out-dir", "is one of this stage's inputs")  # fmt: skip
    one_line_error(run("experiments/anchored_probe.py", source, str(tmp_path / "nearest" / "task_07.pt"), "--out-dir", "twice",
                       cwd=tmp_path, check=False), "two files of one name")  # fmt: skip
    assert (tmp / "artifacts" / "hl_generated" / "task_07.pt").read_bytes() == before and not (tmp_path / "twice").exists()
