"""finetune_tdreg.py and plot_finetune.py: the ramp, eq. (6)'s TD term, one SAC with the collector, every start,
the zero-shot start, resume, the figure, bad input."""

import copy
import inspect
import json
import math
import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import plot_finetune
import pytest
import torch
from conftest import ROOT, one_line_error

import finetune_tdreg
import sac_collect
from common import (
    Actor,
    evaluate,
    flatten_params,
    get_task,
    load_artifact,
    load_flat_params,
    load_policies,
    policy_file,
    save_atomic,
)
from finetune_tdreg import Args, actor_lr, build_sac, sac_update, td_error

# tiny, yet past --learning-starts, through the whole ramp, with evaluations and a resume state
TINY = dict(hidden=32, total_timesteps=400, learning_starts=100, lr_ramp_steps=200, batch_size=32, eval_every=100,
            eval_episodes=1, state_every=150, log_every=200)  # fmt: skip


def tiny_args(tmp_path, **override) -> Args:
    return Args(**{**TINY, "out": str(tmp_path / "ft.pt"), "runs_dir": str(tmp_path / "runs"), **override})


def generated(tmp, task_id: int) -> str:
    return str(tmp / "artifacts" / "hl_generated" / f"task_{task_id:02d}.pt")


def test_lr_ramp_is_geometric_from_lr_start_to_policy_lr():
    args = Args(learning_starts=1000, lr_ramp_steps=10_000, lr_start=3e-6, policy_lr=3e-4)
    assert actor_lr(args, 0) == pytest.approx(3e-6) and actor_lr(args, 1000) == pytest.approx(3e-6)
    assert actor_lr(args, 6000) == pytest.approx(3e-5)  # halfway through the ramp: one decade of two
    assert actor_lr(args, 11_000) == pytest.approx(3e-4) and actor_lr(args, 50_000) == pytest.approx(3e-4)
    lrs = [actor_lr(args, s) for s in range(0, 12_000, 500)]
    assert all(b >= a for a, b in zip(lrs, lrs[1:]))
    assert actor_lr(Args(lr_ramp_steps=0), 0) == 3e-4  # ramp off: the constant rate from the first update


def test_td_term_is_eq6_and_changes_only_the_actor_update():
    sac_args = SimpleNamespace(hidden=16, q_lr=3e-4, policy_lr=3e-4, alpha=0.2, autotune=False, gamma=0.9, tau=0.005,
                               policy_frequency=1, target_network_frequency=1)  # fmt: skip
    batch = [torch.randn(1, 8, 5), torch.randn(1, 8, 5), torch.rand(1, 8, 2) * 2 - 1, torch.randn(1, 8),
             torch.tensor([[0.0] * 7 + [1.0]])]  # fmt: skip
    after, deltas = {}, []

    def td_regularizer(b, min_qf_pi, step):  # as finetune_tdreg.main builds it, lambda_td = 1
        delta = td_error(sac["actor"], sac["qf1_target"], sac["qf2_target"], b, min_qf_pi, sac_args.gamma)
        deltas.append((delta.detach(), min_qf_pi.detach()))
        return 0.5 * (delta**2).mean(1), {"td_error_mean": delta.detach().mean(1)}

    for penalty in (None, td_regularizer):
        torch.manual_seed(0)
        sac, log_alpha = build_sac(Actor(5, 2, 16), 5, 2, sac_args)
        torch.manual_seed(1)  # the same samples for both updates
        logs = sac_update(0, batch, sac, log_alpha, sac_args, penalty)
        after[penalty is None] = ({k: v.clone() for k, v in sac["actor"].state_dict().items()},
                                  {k: v.clone() for k, v in sac["qf1"].state_dict().items()}, logs)  # fmt: skip
    (actor_td, critic_td, logs_td), (actor_plain, critic_plain, logs_plain) = after[False], after[True]
    assert all(torch.equal(critic_td[k], critic_plain[k]) for k in critic_td), "the TD term reached the critic update"
    assert any(not torch.equal(actor_td[k], actor_plain[k]) for k in actor_td), "the TD term does not reach the actor"
    assert "td_error_mean" in logs_td and "td_error_mean" not in logs_plain
    # delta by hand, from the same samples: the critic target's a' ~ pi(.|s'), the actor's a ~ pi(.|s), then
    # the TD term's a' ~ pi(.|s'); the done mask cuts the bootstrap
    torch.manual_seed(0)
    sac, _ = build_sac(Actor(5, 2, 16), 5, 2, sac_args)
    b_obs, b_next, _, r, d = batch
    torch.manual_seed(1)
    sac["actor"].get_action(b_next)
    a, _, _ = sac["actor"].get_action(b_obs)
    a_next, _, _ = sac["actor"].get_action(b_next)
    with torch.no_grad():
        targets = torch.min(sac["qf1_target"](b_next, a_next), sac["qf2_target"](b_next, a_next))
    delta, min_qf_pi = deltas[0]
    expected = r + 0.9 * (1 - d) * targets - min_qf_pi
    assert torch.allclose(delta, expected, atol=1e-6)
    assert logs_td["actor_loss"].item() == pytest.approx(
        logs_plain["actor_loss"].item() + 0.5 * (expected**2).mean().item(), rel=1e-4
    )


def test_finetuning_without_its_additions_is_the_collectors_sac(tmp_path):
    """One SAC: from scratch, TD term and ramp off, fine-tuning takes the collector's steps on one task, same batches,
    same numbers (the batched and the plain layers round differently; bit-equal for the first updates)."""
    shared = dict(hidden=32, total_timesteps=230, learning_starts=200, batch_size=32, seed=5, runs_dir=str(tmp_path / "runs"))
    collected = sac_collect.main(sac_collect.Args(task_ids=(3,), init_seed=5, save_after=230, num_checkpoints=1,
                                                  eval_episodes=1, out=str(tmp_path / "data"), **shared))  # fmt: skip
    finetuned = finetune_tdreg.main(Args(task_id=3, init="scratch", lambda_td=0.0, lr_ramp_steps=0, eval_every=230,
                                         eval_episodes=1, out=str(tmp_path / "ft.pt"), **shared))  # fmt: skip
    expert = load_policies(collected["files"][0], "test")
    torch.manual_seed(5)
    initial = flatten_params(Actor(**expert["actor_args"]))
    assert (expert["params"][0] - initial).abs().max() > 1e-3, "no update ran"
    assert torch.allclose(finetuned["params"][0], expert["params"][0], atol=1e-6, rtol=0)
    assert finetuned["returns"].item() == pytest.approx(expert["returns"][0].item(), abs=1e-3)


def test_generated_policy_starts_at_its_zero_shot_return(chain, tmp_path):
    """Step 0 of the curve is the generated policy's return: the number hyplatent_train.py reports for that sample."""
    tmp, _, _ = chain
    zero_shot = json.loads((tmp / "artifacts" / "hl_zeroshot.json").read_text())
    ckpt = load_artifact(str(tmp / "artifacts" / "hl.pt"), "hyplatent")
    for index in (0, 1):  # hyplatent_train ran 2 episodes per sample from the checkpoint's eval seed
        result = finetune_tdreg.main(tiny_args(tmp_path, task_id=2, policy=generated(tmp, 2), policy_index=index,
                                               eval_episodes=2, eval_seed=ckpt["eval_seed"], total_timesteps=200))  # fmt: skip
        per_sample = zero_shot["per_task"]["2"]["generated per sample"][index]
        assert result["curve"]["returns"][0].item() == pytest.approx(per_sample, rel=1e-6)
        assert result["origin"]["init"] == "generated" and result["origin"]["policy_index"] == index
    actor = load_flat_params(Actor(**ckpt["actor_args"]), load_policies(generated(tmp, 2), "test")["params"][1])
    episodes = evaluate(actor, [get_task("cheetah-vel", 2)], 2, ckpt["eval_seed"])[0]
    assert result["curve"]["episode_returns"][0].tolist() == pytest.approx(episodes.tolist())


@pytest.mark.parametrize("start", ["generated", "expert", "finetuned", "scratch"])
def test_each_start_runs_and_writes_a_policy_file_with_its_curve(chain, tmp_path, start):
    tmp, _, _ = chain
    policy = {"generated": generated(tmp, 7), "expert": str(tmp / "data" / "cheetah-vel" / "task_04.pt"),
              "finetuned": str(tmp_path / "first.pt"), "scratch": ""}[start]  # fmt: skip
    if start == "finetuned":  # a fine-tuned actor is a policy file too: fine-tune it again
        finetune_tdreg.main(tiny_args(tmp_path, task_id=7, policy=generated(tmp, 7), out=policy, total_timesteps=200))
    args = tiny_args(tmp_path, task_id=7, init="scratch" if start == "scratch" else "policy", policy=policy)
    result = finetune_tdreg.main(args)
    saved = load_policies(args.out, "test")  # the one policy format: any stage that starts from a policy reads it
    curve = saved["curve"]
    assert curve["steps"].tolist() == [0, 100, 200, 300, 400] and torch.isfinite(curve["returns"]).all()
    assert curve["episode_returns"].shape == (5, 1) and saved["label"] == f"{start} + TD reg + lr ramp" + (
        "" if start == "scratch" else " + alpha 0.01" + (" + anchor 100 (floor 0.1)" if start == "generated" else "")
    )  # a policy starts at a low temperature, a generated one anchored too; scratch at 0.2
    # the optimizer's rate at each evaluation is the ramp's at the last actor update (every 2nd step)
    assert curve["actor_lr"].tolist() == pytest.approx([actor_lr(args, max(s - 2, 0)) for s in (0, 100, 200, 300, 400)])
    assert curve["actor_lr"][0] == pytest.approx(3e-6) and curve["actor_lr"][-1] == pytest.approx(3e-4)
    assert saved["params"].shape[0] == 1 and saved["returns"].item() == pytest.approx(curve["returns"][-1].item())
    actor = load_flat_params(Actor(**saved["actor_args"]), saved["params"][0])  # self-describing: the final actor rebuilds
    assert evaluate(actor, [get_task("cheetah-vel", 7)], 1, args.eval_seed)[0, 0] == pytest.approx(saved["returns"].item())
    assert not os.path.exists(args.out + ".state.pt") and os.listdir(tmp_path / "runs")
    assert saved["origin"]["stage"] == "finetune_tdreg" and saved["origin"]["init"] == start
    if start == "expert":  # by default the file's best checkpoint
        assert result["origin"]["policy_index"] == int(load_policies(policy, "test")["returns"].argmax())


def test_ablations_are_one_flag_away_and_labelled(tmp_path):
    args = tiny_args(tmp_path, init="scratch", lambda_td=0.0, lr_ramp_steps=0, total_timesteps=200, eval_every=200)
    result = finetune_tdreg.main(args)
    assert result["label"] == "scratch" and result["curve"]["actor_lr"].tolist() == pytest.approx([3e-4, 3e-4])
    assert finetune_tdreg.default_out(args, "scratch").endswith("cheetah-vel_task23_scratch_notd_noramp_seed1.pt")


def test_critic_warmup_holds_the_actor_then_starts_its_ramp(chain, tmp_path):
    """--critic-warmup N: after --learning-starts, N updates train only the critics; the actor (so its deterministic
    return) and the temperature stay as they start, and the ramp begins after them."""
    tmp, _, _ = chain
    args = tiny_args(tmp_path, task_id=7, policy=generated(tmp, 7), critic_warmup=200, alpha=0.01)
    assert actor_lr(args, 299) == pytest.approx(3e-6) and actor_lr(args, 400) == pytest.approx(3e-5)  # ramp after it
    result = finetune_tdreg.main(args)
    returns = result["curve"]["returns"].tolist()
    assert returns[0] == returns[1] == returns[2] == returns[3]  # steps 0-300: the starting actor, held
    start = load_policies(generated(tmp, 7), "test")["params"][result["origin"]["policy_index"]]
    assert not torch.equal(result["params"][0], start)  # and moved from step 300 on
    assert result["label"] == "generated + TD reg + lr ramp + critic warm-up 200 + alpha 0.01 + anchor 100 (floor 0.1)"
    assert finetune_tdreg.default_out(args, "generated").endswith("_generated_warmup200_alpha0.01_anchor100f0.1_seed1.pt")
    with pytest.raises(SystemExit, match="--critic-warmup 300: expected fewer than --total-timesteps 400"):
        finetune_tdreg.main(tiny_args(tmp_path, task_id=7, policy=generated(tmp, 7), critic_warmup=300))


def test_policy_alpha_starts_at_the_temperature_the_policy_file_records(chain, tmp_path):
    """--policy-alpha: the temperature starts at the chosen checkpoint's own (the collector records one per checkpoint),
    is saved as the run's --alpha and named in the label and file name; a file without one, or a clash, is refused."""
    tmp, _, _ = chain
    expert = str(tmp / "data" / "cheetah-vel" / "task_04.pt")
    source = load_policies(expert, "test")
    args = tiny_args(tmp_path, task_id=4, policy=expert, policy_index=1, policy_alpha=True, total_timesteps=200)
    result = finetune_tdreg.main(args)
    own = source["alpha"][1].item()
    assert own != 0.2 and own != 0.01 and load_policies(args.out, "test")["args"]["alpha"] == pytest.approx(own)
    assert result["label"] == f"expert + TD reg + lr ramp + alpha {own:.3g} (the policy's)"
    assert finetune_tdreg.default_out(args, "expert").endswith("cheetah-vel_task04_expert_policyalpha_seed1.pt")
    for override, message in [
        (dict(policy=generated(tmp, 7)), "--policy-alpha: .*task_07.pt records no usable temperature for policy"),
        (dict(policy=expert, alpha=0.05), "--policy-alpha: takes the temperature of --policy, expected --init policy"),
        (dict(init="scratch"), "--policy-alpha: takes the temperature of --policy, expected --init policy"),
    ]:
        with pytest.raises(SystemExit, match=message):
            finetune_tdreg.main(tiny_args(tmp_path, task_id=7, policy_alpha=True, out=str(tmp_path / "no.pt"), **override))
    assert not (tmp_path / "no.pt").exists()


def test_a_critic_only_update_moves_the_critics_alone():
    args = SimpleNamespace(hidden=16, policy_lr=3e-4, q_lr=3e-4, alpha=0.2, autotune=True, gamma=0.99, tau=0.005,
                           policy_frequency=1, target_network_frequency=1)  # fmt: skip
    torch.manual_seed(0)
    sac, log_alpha = build_sac(Actor(5, 2, 16), 5, 2, args)
    before = {
        k: torch.cat([p.detach().flatten().clone() for p in sac[k].parameters()]) for k in ("actor", "qf1", "qf1_target")
    }
    batch = [torch.randn(1, 8, 5), torch.randn(1, 8, 5), torch.rand(1, 8, 2) * 2 - 1, torch.randn(1, 8), torch.zeros(1, 8)]
    logs = sac_update(0, batch, sac, log_alpha, args, update_actor=False)
    after = {k: torch.cat([p.detach().flatten() for p in sac[k].parameters()]) for k in before}
    assert torch.equal(before["actor"], after["actor"]) and log_alpha.item() == pytest.approx(math.log(0.2))
    assert not torch.equal(before["qf1"], after["qf1"]) and not torch.equal(before["qf1_target"], after["qf1_target"])
    assert "actor_loss" not in logs


def fake_run(tmp_path, name: str, seed: int, label: str, returns: list) -> str:
    """A finished fine-tuning run on task 23 with a made-up curve (plot_finetune reads only its curve and label)."""
    curve = {"steps": torch.tensor([0, 1000, 2000]), "returns": torch.tensor(returns, dtype=torch.float32)}
    data = policy_file(get_task("cheetah-vel", 23), {}, [], torch.zeros(1, 0), torch.zeros(1, 1), 10_000,
                       {"stage": "finetune_tdreg"}, SimpleNamespace(seed=seed), label=label, curve=curve)  # fmt: skip
    save_atomic(data, str(tmp_path / name))
    return str(tmp_path / name)


def test_script_resumes_after_a_kill_and_plots(chain, tmp_path):
    """As a user runs it: killed mid-run, started again, it resumes; plot_finetune.py draws and scores the curves."""
    tmp, _, _ = chain
    cmd = [sys.executable, os.path.join(ROOT, "finetune_tdreg.py"), "--task-id", "7", "--policy", generated(tmp, 7),
           *"--hidden 32 --total-timesteps 1200 --learning-starts 100 --lr-ramp-steps 300 --batch-size 32".split(),
           *"--eval-every 200 --eval-episodes 1 --state-every 100 --out gen.pt".split()]  # fmt: skip
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
    gen = load_policies(str(tmp_path / "gen.pt"), "test")
    assert gen["curve"]["steps"].tolist() == list(range(0, 1201, 200)) and not (tmp_path / "gen.pt.state.pt").exists()
    whole = subprocess.run([*cmd[:-1], "whole.pt"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert whole.returncode == 0, whole.stderr  # the same run never stopped: the same actor and curve, bit for bit
    whole = load_policies(str(tmp_path / "whole.pt"), "test")
    assert torch.equal(gen["params"], whole["params"]) and torch.equal(gen["curve"]["returns"], whole["curve"]["returns"])

    # synthetic curves on task 23 whose score is known: R_random = -400, R_scratch = -100, 90% line at -130
    runs = (str(tmp_path / "gen.pt"), fake_run(tmp_path, "s1.pt", 1, "scratch", [-400, -300, -100]),
            fake_run(tmp_path, "s2.pt", 2, "scratch", [-400, -200, -100]),
            fake_run(tmp_path, "g1.pt", 1, "generated + TD reg + lr ramp", [-150, -120, -110]),
            fake_run(tmp_path, "g2.pt", 2, "generated + TD reg + lr ramp", [-125, -200, -100]),
            str(tmp_path / "g3.pt.state.pt"))  # fmt: skip
    (tmp_path / "g3.pt.state.pt").write_bytes(b"")  # a run still going: its resume state is skipped, not read
    table = plot_finetune.main(plot_finetune.Args(runs=runs, out=str(tmp_path / "fig" / "ft.png"), at=(1000, 2000, 5000)))
    png = (tmp_path / "fig" / "ft.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert (tmp_path / "fig" / "ft.md").read_text().strip() == table
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()[2:]]
    # task | runs | seeds | step-0 | final | held steps per seed | mean | ratio | first touch | worst dip | worst dip as
    # a fraction of start - R_random | return at 1000, 2000, 5000 (the runs end at 2000)
    # scores: s1 0 .33 1; s2 0 .67 1; g1 .83 .93 .97; g2 .92 .67 1. Held: over the line, and so is the mean of the
    # rest of the curve (shorter than --hold here): g1 at 1000; g2 touches at 0 but its mean there is .86, so 2000
    assert (
        rows[0][:2] == ["7", "generated + TD reg + lr ramp + alpha 0.01 + anchor 100 (floor 0.1)"]
        and rows[0][5:9] == ["–"] * 4
    )  # no scratch on 7
    assert rows[0][10] == "–" and rows[0][13] == "–"  # no R_random without scratch runs; no evaluation at 5000
    assert rows[1] == ["23", "scratch", "1 2", "-400.0", "-100.0 ± 0.0", "2000, 2000", "2000", "1.00", "2000", "0.0", "–",
                       "-250.0", "-100.0", "–"]  # fmt: skip
    assert rows[2] == ["23", "generated + TD reg + lr ramp", "1 2", "-137.5", "-105.0 ± 5.0", "1000, 2000", "1500", "0.75",
                       "500", "-75.0", "0.27", "-160.0", "-105.0", "–"]  # g2 falls 75 of its 275 above random  # fmt: skip

    before = (tmp_path / "s1.pt").read_bytes()
    for override, message in [(dict(hold=0), "--hold 0: expected an integer >= 1"),
                              (dict(out=runs[1]), "s1.pt: is one of this stage's inputs"),
                              (dict(out=str(tmp_path / "fig.md")), "fig.md: the table is written next to the figure as .md"),
                              (dict(threshold=0.0), "--threshold 0.0: expected a number > 0")]:  # fmt: skip
        with pytest.raises(SystemExit, match=message):
            plot_finetune.main(plot_finetune.Args(**{"runs": runs, "out": str(tmp_path / "new.png"), **override}))
    assert (tmp_path / "s1.pt").read_bytes() == before and not (tmp_path / "new.png").exists()


def test_bad_input_fails_in_one_line_before_any_env_step(chain, tmp_path, run):
    tmp, _, _ = chain
    policy = generated(tmp, 23 if os.path.exists(generated(tmp, 23)) else 7)
    data = dict(load_policies(policy, "test"))
    save_atomic({**data, "task": get_task("ant-dir", 7).to_dict()}, str(tmp_path / "ant.pt"))
    save_atomic({**data, "actor_args": {**data["actor_args"], "obs_dim": 27}}, str(tmp_path / "wide.pt"))
    torch.save({**data, "params": data["params"] * float("nan")}, str(tmp_path / "nan.pt"))  # planted
    before = open(policy, "rb").read()
    cases = [
        (dict(policy=str(tmp_path / "ant.pt")), "--policy .*ant.pt: is for suite 'ant-dir', not --suite 'cheetah-vel'"),
        (dict(policy=str(tmp_path / "wide.pt")), "wide.pt: actor layout .* does not fit task 23"),
        (dict(policy=str(tmp_path / "missing.pt")), "missing.pt: no such file"),
        (dict(policy=str(tmp_path / "nan.pt")), "nan.pt: params holds NaN or inf"),
        (dict(policy=str(tmp / "artifacts" / "hl.pt")), "expected a 'policies' artifact, found 'hyplatent'"),
        (dict(task_id=40, policy=policy), "--task-id 40: outside suite 'cheetah-vel'"),
        (dict(policy=policy, policy_index=2), "--policy-index 2: .* holds 2 policies"),
        (dict(policy=policy, out=policy), "is one of this stage's inputs"),
        (dict(policy=policy, out=str(tmp_path)), "is a folder"),
        (dict(policy=policy, out="/proc/genhyper/ft.pt"), "cannot write in /proc"),
        (dict(init="scratch", lambda_td=-1.0), "--lambda-td -1.0: expected a number >= 0"),
        (dict(init="scratch", alpha=0.0), "--alpha 0.0: expected a number > 0"),
        (dict(init="scratch", policy_lr=-3e-4), "--policy-lr -0.0003: expected a number > 0"),
        (dict(init="scratch", learning_starts=400), "--learning-starts 400: expected fewer than --total-timesteps 400"),
        (dict(init="scratch", lr_start=1e-3), "--lr-start 0.001: expected 0 < lr-start <= --policy-lr"),
    ]
    for override, message in cases:
        with pytest.raises(SystemExit, match=message):
            finetune_tdreg.main(tiny_args(tmp_path, **override))
    assert not (tmp_path / "runs").exists() and not (tmp_path / "ft.pt").exists() and open(policy, "rb").read() == before
    proc = run("finetune_tdreg.py", "--policy", str(tmp_path / "ant.pt"), cwd=tmp_path, check=False)
    one_line_error(proc, "ant-dir")
    proc = run("finetune_tdreg.py", "--task-id", "7", "--policy", policy, "--out", policy, cwd=tmp_path, check=False)
    one_line_error(proc, "finetune_tdreg: --out", "is one of this stage's inputs")
    assert open(policy, "rb").read() == before


SAC_PIECES = ("SoftQNetwork", "ReplayBuffer", "build_sac", "sac_update", "actor_lr", "ramp_fraction", "set_actor_lr",
              "td_error", "actor_penalty", "check_sac_args", "check_lr_ramp")  # fmt: skip


def test_the_collector_and_fine_tuning_keep_one_sac():
    """Each stage keeps its own copy of SAC (CleanRL's one file per algorithm); the copies must not drift apart."""
    for name in SAC_PIECES:
        assert inspect.getsource(getattr(sac_collect, name)) == inspect.getsource(getattr(finetune_tdreg, name)), name


def test_the_two_sac_updates_step_for_step():
    """The collector's update and fine-tuning's, TD term and ramp on, from one init on one stream of batches: equal."""
    args = SimpleNamespace(hidden=16, policy_lr=3e-4, q_lr=3e-4, alpha=0.2, autotune=True, gamma=0.99, tau=0.005,
                           policy_frequency=2, target_network_frequency=2, lambda_td=10.0, lr_start=3e-6,
                           lr_ramp_steps=4, learning_starts=0, critic_warmup=0, temperature_ramp=True,
                           anchor_weight=1.0, anchor_floor=0.5)  # fmt: skip
    params = []
    for stage in (sac_collect, finetune_tdreg):
        torch.manual_seed(0)
        sac, log_alpha = stage.build_sac(Actor(5, 2, 16, num_tasks=2), 5, 2, args, num_tasks=2)
        penalty = stage.actor_penalty(sac, args, copy.deepcopy(sac["actor"]).requires_grad_(False))
        for step in range(6):
            stage.set_actor_lr(sac, args, step)
            batch = [torch.randn(2, 8, 5), torch.randn(2, 8, 5), torch.rand(2, 8, 2) * 2 - 1, torch.randn(2, 8),
                     (torch.rand(2, 8) < 0.1).float()]  # fmt: skip
            stage.sac_update(step, batch, sac, log_alpha, args, penalty)
        params.append(torch.cat([p.detach().flatten() for net in sac.values() if isinstance(net, torch.nn.Module)
                                 for p in net.parameters()] + [log_alpha.detach()]))  # fmt: skip
    assert torch.equal(params[0], params[1]) and not torch.equal(params[0], torch.zeros_like(params[0]))


def test_the_temperature_ramp_slows_the_temperature_with_the_actor():
    """--temperature-ramp: the temperature's rate is q_lr times the actor rate's fraction of policy_lr; off: q_lr."""
    args = SimpleNamespace(hidden=16, policy_lr=3e-4, q_lr=1e-3, alpha=0.01, autotune=True, lr_start=3e-6,
                           lr_ramp_steps=100, learning_starts=10, critic_warmup=0, temperature_ramp=True)  # fmt: skip
    sac, _ = finetune_tdreg.build_sac(Actor(5, 2, 16), 5, 2, args)
    rates = []
    for step in (0, 60, 110, 500):
        finetune_tdreg.set_actor_lr(sac, args, step)
        rates.append((sac["actor_optimizer"].param_groups[0]["lr"], sac["a_optimizer"].param_groups[0]["lr"]))
    assert rates[0] == pytest.approx((3e-6, 1e-5)) and rates[1] == pytest.approx((3e-5, 1e-4))
    assert rates[2] == rates[3] == pytest.approx((3e-4, 1e-3))
    args.temperature_ramp = False
    sac, _ = finetune_tdreg.build_sac(Actor(5, 2, 16), 5, 2, args)
    finetune_tdreg.set_actor_lr(sac, args, 0)
    assert sac["actor_optimizer"].param_groups[0]["lr"] == pytest.approx(3e-6)
    assert sac["a_optimizer"].param_groups[0]["lr"] == pytest.approx(1e-3)  # the paper's: the full rate from the start
    args.temperature_ramp, args.lr_ramp_steps = True, 0
    with pytest.raises(SystemExit, match="--temperature-ramp: follows the actor's ramp, expected --lr-ramp-steps > 0"):
        finetune_tdreg.check_lr_ramp("finetune_tdreg", args)


def test_the_anchor_pulls_toward_the_start_and_fades_with_the_ramp():
    """--anchor-weight: w * max(1 - ramp fraction, --anchor-floor) * E||mu(s) - mu_start(s)||^2 per task, logged as
    anchor_gap; gone once the ramp ends unless a floor holds it, and refused without a ramp or with a floor outside
    [0, 1]."""
    args = SimpleNamespace(lambda_td=0.0, anchor_weight=2.0, anchor_floor=0.0, lr_ramp_steps=100, learning_starts=10,
                           critic_warmup=0, gamma=0.99)  # fmt: skip
    torch.manual_seed(0)
    actor = Actor(5, 2, 16, num_tasks=2)
    anchor = copy.deepcopy(actor).requires_grad_(False)
    with torch.no_grad():
        actor.fc_mean.bias.add_(0.3)  # the actor has moved from its start
    penalty = finetune_tdreg.actor_penalty({"actor": actor}, args, anchor)
    batch = [torch.randn(2, 8, 5)] + [None] * 4
    gap = ((actor.act(batch[0]) - anchor.act(batch[0])) ** 2).sum(-1).mean(1)
    total, logs = penalty(batch, torch.zeros(2, 8), 10)  # the ramp's first step: the full weight
    assert torch.allclose(total, 2.0 * gap) and torch.allclose(logs["anchor_gap"], gap) and (gap > 0).all()
    total.sum().backward()
    assert actor.fc_mean.bias.grad.abs().sum() > 0 and anchor.fc_mean.bias.grad is None
    assert torch.allclose(penalty(batch, torch.zeros(2, 8), 60)[0], gap.detach())  # half way: half the weight
    assert torch.equal(penalty(batch, torch.zeros(2, 8), 110)[0], torch.zeros(2))  # after the ramp: off
    args.anchor_floor = 0.25  # --anchor-floor: never below a quarter of the weight
    assert torch.allclose(penalty(batch, torch.zeros(2, 8), 60)[0], gap.detach())  # half way: half, above the floor
    assert torch.allclose(penalty(batch, torch.zeros(2, 8), 110)[0], 0.5 * gap.detach())  # after the ramp: the floor
    args.anchor_weight = 0.0
    assert finetune_tdreg.actor_penalty({"actor": actor}, args, None) is None
    bad = SimpleNamespace(lr_ramp_steps=0, lr_start=3e-6, policy_lr=3e-4, temperature_ramp=False, anchor_weight=1.0,
                          anchor_floor=0.0)  # fmt: skip
    with pytest.raises(SystemExit, match="--anchor-weight 1.0: fades over the ramp, expected --lr-ramp-steps > 0"):
        finetune_tdreg.check_lr_ramp("finetune_tdreg", bad)
    bad.lr_ramp_steps, bad.anchor_floor = 100, 1.5
    with pytest.raises(SystemExit, match=r"--anchor-floor 1.5: expected a fraction of --anchor-weight in \[0, 1\]"):
        finetune_tdreg.check_lr_ramp("finetune_tdreg", bad)


def test_the_anchor_is_on_by_default_from_a_generated_policy_with_a_ramp_only(chain, tmp_path):
    """--anchor-weight's default resolves before anything is saved: 100 from a generated policy with a ramp, 0 from an
    expert (a SAC checkpoint; both chosen on training tasks), from scratch and without a ramp (it fades over the
    ramp); an explicit value is kept."""
    tmp, _, _ = chain
    expert = str(tmp / "data" / "cheetah-vel" / "task_04.pt")
    cases = [
        ({}, 100.0),
        ({"lr_ramp_steps": 0}, 0.0),
        ({"init": "scratch", "policy": ""}, 0.0),
        ({"anchor_weight": 0.0}, 0.0),
        ({"policy": expert, "task_id": 4}, 0.0),
        ({"policy": expert, "task_id": 4, "anchor_weight": 10.0}, 10.0),
    ]
    for i, (override, expected) in enumerate(cases):
        args = tiny_args(
            tmp_path, **{"task_id": 7, "policy": generated(tmp, 7), "out": str(tmp_path / f"ft{i}.pt"), **override}
        )
        finetune_tdreg.validate(args)
        assert args.anchor_weight == expected, override
