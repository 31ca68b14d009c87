"""ae_train.py and hyplatent_train.py: the pieces with real math, and the chained scripts on a tiny config."""
import json
import math

import pytest
import torch

import ae_train
import hyplatent_train
from ae_train import ParamAutoencoder, chunk_sizes_of
from common import Actor, actor_layout, load_artifact
from hyplatent_train import Discriminator, Generator, encode_condition, generate, task_distance


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
    logit, cond = Discriminator(32, 2)(z)
    assert logit.shape == (8,) and cond.shape == (8, 2)


def test_condition_encoding():
    g = torch.tensor([[0.0], [math.pi / 2], [2 * math.pi - 1e-3]])
    assert torch.equal(encode_condition(g, "raw"), g)
    cs = encode_condition(g, "cossin")
    assert cs.shape == (3, 2) and torch.allclose(cs[1], torch.tensor([0.0, 1.0]), atol=1e-6)
    # (cos, sin) puts 0 and 2pi - eps next to each other; raw radians puts them 2pi apart
    assert (cs[0] - cs[2]).norm() < 1e-2 and (g[0] - g[2]).abs() > 6
    assert task_distance("ant-dir", 0.1, 2 * math.pi - 0.1) == pytest.approx(0.2)
    assert task_distance("cheetah-vel", 0.3, 1.2) == pytest.approx(0.9)


def test_autoencoder_artifact(chain):
    tmp, stdout, _ = chain
    ae = load_artifact(str(tmp / "artifacts" / "ae.pt"), "autoencoder")
    assert ae["train_task_ids"] == [0, 4], "test task 2 entered training"
    assert ae["latents"].shape == (6, 2, 32) and ae["latents"].abs().max() <= 1
    assert ae["task_index"].tolist() == [0, 0, 0, 4, 4, 4]
    assert torch.allclose(ae["task_params"].squeeze(-1), torch.tensor([0.075] * 3 + [0.375] * 3))
    assert "decoded return" in stdout and len(ae["eval"]["decoded_return"]) == 2
    model = ParamAutoencoder(**ae["model_args"])
    model.load_state_dict(ae["state_dict"])  # self-describing: rebuilds from the file alone


def test_hyplatent_artifact_generates_policies(chain):
    tmp, _, _ = chain
    ckpt = load_artifact(str(tmp / "artifacts" / "hl.pt"), "hyplatent")
    flat = generate(ckpt, (0.6,), num=3, seed=0)
    assert flat.shape == (3, 17 * 32 + 32 + 32 * 32 + 32 + 2 * (32 * 6 + 6)) and torch.isfinite(flat).all()
    assert torch.equal(flat, generate(ckpt, (0.6,), num=3, seed=0))
    assert not torch.allclose(flat[0], flat[1]), "noise does not change the generated policy"


def test_zero_shot_table_and_eval_only_agree(chain):
    tmp, _, stdout = chain
    result = json.loads((tmp / "artifacts" / "hl_zeroshot.json").read_text())
    assert result["test_task_ids"] == [2, 7]
    assert set(result["per_task"]["2"]) >= {"generated", "nearest expert", "interpolated experts", "random actor", "own expert"}
    assert "own expert" not in result["per_task"]["7"]  # task 7 was never collected
    assert result["per_task"]["7"]["nearest"] == [4, 0] and len(result["per_task"]["2"]["generated per sample"]) == 2
    assert "| **mean** |" in stdout
    again = hyplatent_train.main(hyplatent_train.Args(out=str(tmp / "artifacts" / "hl.pt"), eval_only=True,
                                                      test_task_ids=(2, 7), eval_samples=2, eval_episodes=2,
                                                      data=str(tmp / "data" / "cheetah-vel")))
    assert again["overall"] == pytest.approx(result["overall"])


def test_bad_inputs_are_one_line_errors(chain, tmp_path):
    tmp, _, _ = chain
    data = str(tmp / "data" / "cheetah-vel")
    with pytest.raises(SystemExit, match="no task files"):
        ae_train.main(ae_train.Args(data=str(tmp_path), out=str(tmp_path / "ae.pt")))
    with pytest.raises(SystemExit, match="--train-task-ids 2: is a test task"):
        ae_train.main(ae_train.Args(data=data, train_task_ids=(0, 2), out=str(tmp_path / "ae.pt")))
    with pytest.raises(SystemExit, match="--train-task-ids 8: not collected"):
        ae_train.main(ae_train.Args(data=data, train_task_ids=(0, 8), out=str(tmp_path / "ae.pt")))
    with pytest.raises(SystemExit, match="expected a 'autoencoder' artifact, found 'sac_collect'"):
        hyplatent_train.main(hyplatent_train.Args(ae=f"{data}/task_00.pt", out=str(tmp_path / "hl.pt")))
    with pytest.raises(SystemExit, match="--test-task-ids 4: is a training task"):
        hyplatent_train.main(hyplatent_train.Args(out=str(tmp / "artifacts" / "hl.pt"), eval_only=True, test_task_ids=(4,)))
    with pytest.raises(SystemExit, match="--condition cossin: only for directions"):
        hyplatent_train.main(hyplatent_train.Args(ae=str(tmp / "artifacts" / "ae.pt"), condition="cossin"))
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for name, suite in (("task_00.pt", "cheetah-vel"), ("task_01.pt", "ant-dir")):
        torch.save({"kind": "sac_collect", "task": {"suite": suite, "index": int(name[5:7])}, "actor_args": {},
                    "layout": [], "params": torch.zeros(1, 1), "returns": torch.zeros(1)}, mixed / name)
    with pytest.raises(SystemExit, match="mixes suites"):
        ae_train.main(ae_train.Args(data=str(mixed)))
    torch.save({"kind": "sac_collect", "task": {"suite": "cheetah-vel", "index": 1}, "actor_args": {"hidden": 64},
                "layout": [["fc1.weight", [64, 17]]], "params": torch.zeros(1, 1), "returns": torch.zeros(1)}, mixed / "task_01.pt")
    with pytest.raises(SystemExit, match="mixes actor layouts"):
        ae_train.main(ae_train.Args(data=str(mixed)))
