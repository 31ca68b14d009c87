"""finetune_tdreg.py and plot_finetune.py: the ramp, eq. (6)'s TD term, every init mode, the zero-shot start, bad input."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

import finetune_tdreg
import plot_finetune
from common import Actor, evaluate, get_task, load_artifact, load_flat_params, save_atomic
from conftest import ROOT
from finetune_tdreg import Args, actor_loss_fn, actor_lr
from hyplatent_train import generate
from sac_collect import SoftQNetwork

# tiny, yet past --learning-starts, through the whole ramp, with evaluations and a resume state
TINY = dict(hidden=32, total_timesteps=400, learning_starts=100, lr_ramp_steps=200, batch_size=32, eval_every=100,
            eval_episodes=1, state_every=150, log_every=200)


def tiny_args(tmp_path, **override) -> Args:
    return Args(**{**TINY, "out": str(tmp_path / "ft.pt"), "runs_dir": str(tmp_path / "runs"), **override})


def test_lr_ramp_is_geometric_from_lr_start_to_policy_lr():
    args = Args(learning_starts=1000, lr_ramp_steps=10_000, lr_start=3e-6, policy_lr=3e-4)
    assert actor_lr(args, 0) == pytest.approx(3e-6) and actor_lr(args, 1000) == pytest.approx(3e-6)
    assert actor_lr(args, 6000) == pytest.approx(3e-5)  # halfway through the ramp: one decade of two
    assert actor_lr(args, 11_000) == pytest.approx(3e-4) and actor_lr(args, 50_000) == pytest.approx(3e-4)
    lrs = [actor_lr(args, s) for s in range(0, 12_000, 500)]
    assert all(b >= a for a, b in zip(lrs, lrs[1:]))
    assert actor_lr(Args(lr_ramp_steps=0), 0) == 3e-4  # ramp off: the constant rate from the first update


def critics(seed=0):
    torch.manual_seed(seed)
    return [SoftQNetwork(5, 2, 16) for _ in range(4)]


def test_td_term_is_eq6_and_changes_only_the_actor_gradient():
    torch.manual_seed(0)
    actor = Actor(5, 2, 16)
    qf1, qf2, qf1_t, qf2_t = critics()
    batch = [torch.randn(1, 8, 5), torch.randn(1, 8, 5), torch.rand(1, 8, 2) * 2 - 1, torch.randn(1, 8),
             torch.tensor([[0.0] * 7 + [1.0]])]
    alpha, gamma = torch.tensor(0.2), 0.9

    def grads(lambda_td):
        actor.zero_grad()
        torch.manual_seed(1)  # the same reparameterized samples in both calls
        loss, delta = actor_loss_fn(actor, qf1, qf2, qf1_t, qf2_t, batch, alpha, gamma, lambda_td)
        loss.backward()
        return loss, delta, [p.grad.clone() for p in actor.parameters()]

    loss0, delta0, g0 = grads(0.0)
    loss1, delta1, g1 = grads(1.0)
    assert delta0 is None
    assert any(not torch.allclose(a, b) for a, b in zip(g0, g1)), "the TD term does not reach the actor"
    # delta by hand, from the same samples: a ~ pi(.|s), then a' ~ pi(.|s'); the done mask cuts the bootstrap
    torch.manual_seed(1)
    b_obs, b_next, _, r, d = batch
    a, log_pi, _ = actor.get_action(b_obs)
    a_next, _, _ = actor.get_action(b_next)
    with torch.no_grad():
        q = torch.min(qf1(b_obs, a), qf2(b_obs, a))
        expected = r + gamma * (1 - d) * torch.min(qf1_t(b_next, a_next), qf2_t(b_next, a_next)) - q
    assert torch.allclose(delta1, expected, atol=1e-6)
    assert loss1.item() == pytest.approx(loss0.item() + 0.5 * (expected**2).mean().item(), rel=1e-5)


def test_generated_init_starts_at_its_zero_shot_return(chain, tmp_path):
    """Step 0 of the curve is the generated policy's return: the same number hyplatent_train.py reports."""
    tmp, _, _ = chain
    hl = str(tmp / "artifacts" / "hl.pt")
    zero_shot = json.loads((tmp / "artifacts" / "hl_zeroshot.json").read_text())
    # hyplatent_train drew task 2's samples with noise seed (its --seed 0) + 2 and ran 2 episodes from the checkpoint's eval seed
    ckpt = load_artifact(hl, "hyplatent")
    result = finetune_tdreg.main(tiny_args(tmp_path, task_id=2, hyplatent=hl, gen_seed=2, eval_episodes=2,
                                           eval_seed=ckpt["eval_seed"]))
    assert result["returns"][0].item() == pytest.approx(zero_shot["per_task"]["2"]["generated per sample"][0], rel=1e-6)
    actor = load_flat_params(Actor(**ckpt["actor_args"]), generate(ckpt, (0.225,), 1, seed=2)[0])
    assert result["episode_returns"][0].tolist() == pytest.approx(evaluate(actor, [get_task("cheetah-vel", 2)], 2, ckpt["eval_seed"])[0].tolist())
    assert result["origin"] == {"init": "generated", "hyplatent": hl, "gen_seed": 2}


@pytest.mark.parametrize("init", ["generated", "expert", "scratch"])
def test_each_init_mode_runs_and_writes_its_curve(chain, tmp_path, init):
    tmp, _, _ = chain
    args = tiny_args(tmp_path, task_id=7, init=init, hyplatent=str(tmp / "artifacts" / "hl.pt"),
                     expert=str(tmp / "data" / "cheetah-vel" / "task_04.pt"))
    result = finetune_tdreg.main(args)
    saved = load_artifact(args.out, "finetune", ("steps", "returns", "actor_lr", "params", "actor_args", "args", "label"))
    assert saved["steps"].tolist() == [0, 100, 200, 300, 400] and torch.isfinite(saved["returns"]).all()
    assert saved["episode_returns"].shape == (5, 1) and saved["label"] == f"{init} + TD reg + lr ramp"
    # the optimizer's rate at each evaluation is the ramp's at the last actor update (every 2nd step)
    assert saved["actor_lr"].tolist() == pytest.approx([actor_lr(args, max(s - 2, 0)) for s in (0, 100, 200, 300, 400)])
    assert saved["actor_lr"][0] == pytest.approx(3e-6) and saved["actor_lr"][-1] == pytest.approx(3e-4)
    actor = load_flat_params(Actor(**saved["actor_args"]), saved["params"])  # self-describing: the final actor rebuilds
    assert evaluate(actor, [get_task("cheetah-vel", 7)], 1, args.eval_seed)[0, 0] == pytest.approx(saved["returns"][-1].item())
    assert not os.path.exists(args.out + ".state.pt") and os.listdir(tmp_path / "runs")
    if init == "expert":
        expert = load_artifact(args.expert, "sac_collect")
        assert result["origin"]["expert_checkpoint"] == int(expert["returns"].argmax())


def test_ablations_are_one_flag_away_and_labelled(tmp_path):
    args = tiny_args(tmp_path, init="scratch", lambda_td=0.0, lr_ramp_steps=0, total_timesteps=200, eval_every=200)
    result = finetune_tdreg.main(args)
    assert result["label"] == "scratch" and result["actor_lr"].tolist() == pytest.approx([3e-4, 3e-4])
    assert finetune_tdreg.default_out(args).endswith("cheetah-vel_task23_scratch_notd_noramp_seed1.pt")


def test_script_resumes_after_a_kill_and_plots(chain, tmp_path):
    """As a user runs it: killed mid-run, started again, it resumes; plot_finetune.py draws and scores the curves."""
    tmp, _, _ = chain
    cmd = [sys.executable, os.path.join(ROOT, "finetune_tdreg.py"), "--task-id", "7", "--hidden", "32", "--total-timesteps", "1200",
           "--learning-starts", "100", "--lr-ramp-steps", "300", "--batch-size", "32", "--eval-every", "200",
           "--eval-episodes", "1", "--state-every", "100", "--hyplatent", str(tmp / "artifacts" / "hl.pt"), "--out", "gen.pt"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not (tmp_path / "gen.pt.state.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (tmp_path / "gen.pt.state.pt").exists() and not (tmp_path / "gen.pt").exists()
    again = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "resuming from gen.pt.state.pt" in again.stdout and "steps/s" in again.stdout
    gen = load_artifact(str(tmp_path / "gen.pt"), "finetune")
    assert gen["steps"].tolist() == list(range(0, 1201, 200)) and not (tmp_path / "gen.pt.state.pt").exists()

    # synthetic curves on task 23 whose score is known: R_random = -400, R_scratch = -100, 90% line at -130
    for name, seed, label, returns in [("s1", 1, "scratch", [-400, -300, -100]), ("s2", 2, "scratch", [-400, -200, -100]),
                                       ("g1", 1, "generated + TD reg + lr ramp", [-150, -120, -110]),
                                       ("g2", 2, "generated + TD reg + lr ramp", [-125, -200, -100])]:
        save_atomic({"kind": "finetune", "task": get_task("cheetah-vel", 23).to_dict(), "label": label, "args": {"seed": seed},
                     "steps": torch.tensor([0, 1000, 2000]), "returns": torch.tensor(returns, dtype=torch.float32)},
                    str(tmp_path / f"{name}.pt"))
    (tmp_path / "g3.pt.state.pt").write_bytes(b"")  # a run still going: its resume state is skipped, not read
    runs = tuple(str(tmp_path / f"{n}.pt") for n in ("gen", "s1", "s2", "g1", "g2", "g3.pt.state"))
    table = plot_finetune.main(plot_finetune.Args(runs=runs, out=str(tmp_path / "fig" / "ft.png")))
    png = (tmp_path / "fig" / "ft.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert (tmp_path / "fig" / "ft.md").read_text().strip() == table
    with pytest.raises(SystemExit, match="--hold 0: expected a positive"):
        plot_finetune.main(plot_finetune.Args(runs=runs, hold=0))
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()[2:]]
    # task | runs | seeds | step-0 | final | held steps per seed | mean | ratio | first touch | worst dip
    # scores: s1 0 .33 1; s2 0 .67 1; g1 .83 .93 .97; g2 .92 .67 1. Held: over the line, and so is the mean of the
    # rest of the curve (shorter than --hold here): g1 at 1000; g2 touches at 0 but its mean there is .86, so 2000
    assert rows[0][:2] == ["7", "generated + TD reg + lr ramp"] and rows[0][5:9] == ["–"] * 4  # no scratch runs on task 7
    assert rows[1] == ["23", "scratch", "1 2", "-400.0", "-100.0 ± 0.0", "2000, 2000", "2000", "1.00", "2000", "0.0"]
    assert rows[2] == ["23", "generated + TD reg + lr ramp", "1 2", "-137.5", "-105.0 ± 5.0", "1000, 2000", "1500", "0.75", "500", "-75.0"]


def test_bad_input_fails_in_one_line_before_any_env_step(chain, tmp_path):
    tmp, _, _ = chain
    hl = str(tmp / "artifacts" / "hl.pt")
    ckpt = dict(load_artifact(hl, "hyplatent"))
    save_atomic({**ckpt, "suite": "ant-dir"}, str(tmp_path / "ant.pt"))
    save_atomic({**ckpt, "actor_args": {**ckpt["actor_args"], "obs_dim": 27}}, str(tmp_path / "wide.pt"))
    cases = [
        (dict(hyplatent=str(tmp_path / "ant.pt")), "--hyplatent .*ant.pt: is for suite 'ant-dir', not --suite 'cheetah-vel'"),
        (dict(hyplatent=str(tmp_path / "wide.pt")), "wide.pt: actor layout .* does not fit task 23"),
        (dict(hyplatent=str(tmp_path / "missing.pt")), "missing.pt: no such file"),
        (dict(task_id=40, hyplatent=hl), "--task-id 40: outside suite 'cheetah-vel'"),
        (dict(init="expert"), "--init expert: give --expert"),
        (dict(init="expert", expert=hl), "expected a 'sac_collect' artifact, found 'hyplatent'"),
        (dict(init="expert", expert=str(tmp / "data" / "cheetah-vel" / "task_04.pt"), expert_checkpoint=3), "--expert-checkpoint 3: .* has 3"),
        (dict(lambda_td=-1.0), "--lambda-td -1.0: expected >= 0"),
    ]
    for override, message in cases:
        with pytest.raises(SystemExit, match=message):
            finetune_tdreg.main(tiny_args(tmp_path, **override))
    assert not (tmp_path / "runs").exists() and not (tmp_path / "ft.pt").exists()
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "finetune_tdreg.py"), "--hyplatent", str(tmp_path / "ant.pt")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1 and "ant-dir" in proc.stderr
