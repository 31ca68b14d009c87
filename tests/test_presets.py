# The paper's configurations (presets/*.sh): every command parses with its stage's Args, has the paper's numbers,
# and reads what the previous command writes. PY=echo prints the commands instead of running them.
import importlib
import math
import os
import shlex
import subprocess

import pytest
import tyro

from common import get_suite

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def printed_commands(script: str, **env) -> list:
    """[(stage module, parsed Args), ...] that a preset or experiment script prints with PY=echo, in order (a line that
    runs no Python script, `bash quickstart.sh`, is left out); `env` sets its variables."""
    printed = subprocess.run(
        ["bash", os.path.join(ROOT, script)], env={**os.environ, "PY": "echo", **env}, capture_output=True, text=True,
        check=True,
    ).stdout  # fmt: skip
    commands = []
    for line in printed.splitlines():
        script, *argv = shlex.split(line)
        if not script.endswith(".py"):
            continue
        module = importlib.import_module(
            os.path.basename(script).removesuffix(".py")
        )  # tools/x.py: conftest puts tools/ on the path
        commands.append((module.__name__, tyro.cli(module.Args, args=argv)))
    return commands


def preset_commands(name: str, out: str, **env) -> list:
    """printed_commands of presets/<name>.sh with OUT and EXTRA="--no-cuda"."""
    return printed_commands(os.path.join("presets", name), OUT=out, EXTRA="--no-cuda", **env)


@pytest.mark.parametrize("script", sorted(f for f in os.listdir(os.path.join(ROOT, "experiments")) if f.endswith(".sh")))
def test_every_experiment_script_parses_and_keeps_its_data_outside_the_tree(script, tmp_path):
    """Every command a record names, as its script prints it: each parses with its script's arguments, and writes under
    RUNS, never into the checkout."""
    runs = str(tmp_path / "runs")
    commands = printed_commands(os.path.join("experiments", script), RUNS=runs, DATA=str(tmp_path / "data"))
    assert commands, script
    for module, args in commands:
        for field in ("out", "table") + (() if getattr(args, "eval_only", False) else ("runs_dir",)):
            path = getattr(args, field, "")
            assert not path or os.path.abspath(path).startswith(str(tmp_path)), (script, module, field, path)


@pytest.mark.parametrize(
    "name, suite, stages",
    [
        ("paper_cheetah_vel.sh", "cheetah-vel", ["sac_collect", "ae_train", "hyplatent_train"] + ["finetune_tdreg"] * 5),
        ("paper_ant_dir.sh", "ant-dir", ["sac_collect", "ae_train", "hyplatent_train"] + ["finetune_tdreg"] * 5),
        (
            "paper_metaworld.sh",
            "metaworld",
            ["sac_collect", "ae_train", "behavior_embed", "hyplatent_train", "hypformer_train"],
        ),
    ],
)
def test_presets_parse_and_chain(name, suite, stages):
    commands = preset_commands(name, "o")
    assert [m for m, _ in commands] == stages
    args = dict(commands[:4])  # the first command of each stage
    collect = args["sac_collect"]
    expected_ids = range(16) if suite == "metaworld" else get_suite(suite).train_ids
    assert collect.suite == suite and [int(i) for i in collect.task_ids] == list(expected_ids)
    assert (collect.save_every, collect.num_checkpoints) == (500, 500)  # paper: 500 checkpoints, one every 500 steps
    assert all(not a.cuda for _, a in commands)  # EXTRA reaches every stage
    assert args["ae_train"].data == os.path.join(collect.out, suite)
    hyplatent = args["hyplatent_train"]
    assert hyplatent.ae == args["ae_train"].out
    if suite == "metaworld":
        assert collect.total_timesteps == 1_000_000 and args["behavior_embed"].data == args["ae_train"].data
        assert hyplatent.condition == "behavior" and hyplatent.embedding == args["behavior_embed"].out
        assert commands[-1][1].hyplatent == hyplatent.out
    else:
        assert (collect.total_timesteps, collect.save_after) == (750_000, 500_000)  # first checkpoint at 500k
        finetunes = [a for m, a in commands if m == "finetune_tdreg"]
        assert sorted(a.task_id for a in finetunes) == sorted(get_suite(suite).test_ids)
        stem = os.path.splitext(hyplatent.out)[0]
        assert all(a.policy == f"{stem}_generated/task_{a.task_id}.pt" for a in finetunes)


def test_cheetah_vel15_validates_on_training_tasks_only(tmp_path):
    out = str(tmp_path / "o")
    commands = preset_commands("cheetah_vel15.sh", out)
    fifteen = [0, 3, 6, 9, 12, 14, 18, 20, 22, 27, 29, 32, 34, 37, 39]  # docs/experiments/cheetah-vel-15.md
    test_ids = list(get_suite("cheetah-vel").test_ids)
    collects = [a for m, a in commands if m == "sac_collect"]
    assert [[int(i) for i in a.task_ids] for a in collects] == [fifteen, test_ids, fifteen]  # collect, then basin
    assert all(a.total_timesteps == 500_000 and a.save_after == 400_500 for a in collects[:2])
    autoencoders = {a.out: a for m, a in commands if m == "ae_train"}
    assert len(autoencoders) == sum(m == "ae_train" for m, _ in commands)  # recipes sharing an autoencoder train it once
    hyplatents = [a for m, a in commands if m == "hyplatent_train"]
    validation = [a for a in hyplatents if a.test_task_ids and not a.eval_only]
    assert len(validation) >= 2 and all(a.ae in autoencoders for a in hyplatents if not a.eval_only)
    ae_of = {os.path.basename(a.out): a.ae for a in validation}  # the same autoencoder flags: one autoencoder, trained once
    assert ae_of["hyplatent_ema-ae9k-recon-1e2.pt"] == ae_of["hyplatent_ae9k-recon-1e2.pt"] != ae_of["hyplatent_default.pt"]
    for a in validation:  # scored on training tasks that neither the autoencoder nor HypLatent saw
        held_out = [int(i) for i in a.test_task_ids]
        fit = [int(i) for i in autoencoders[a.ae].train_task_ids]
        assert set(held_out) <= set(fifteen) and not set(held_out) & set(fit) and set(fit) | set(held_out) == set(fifteen)
    trained = {a.out: a for a in validation}
    fits = [a for a in hyplatents if a.eval_only and a.out in trained and a.params]
    for a in fits:  # each validation generator, again at its own training velocities
        fit = [int(i) for i in autoencoders[trained[a.out].ae].train_task_ids]
        assert [float(v) for v in a.params] == pytest.approx([0.075 * (i + 1) for i in fit])
    assert len(fits) == len(trained)
    nears = [a for a in hyplatents if a.eval_only and a.test_task_ids and "_noise-" not in a.table]
    assert [a.out for a in nears] == list(trained)
    for a in nears:  # tasks as far from a fit task (one step of 0.075) as each test task is from the 15; none of the 15
        near, fit = [int(i) for i in a.test_task_ids], [int(i) for i in autoencoders[trained[a.out].ae].train_task_ids]
        assert near and not set(near) & (set(fifteen) | set(test_ids)) and all(i - 1 in fit or i + 1 in fit for i in near)
        assert a.table == a.out.removesuffix(".pt") + "_near.json"
    # the evaluation noise, scaled, on the picked recipe's generator at the same near tasks, each in its own table
    scaled = [a for a in hyplatents if a.eval_only and a.test_task_ids and "_noise-" in a.table]
    assert [a.noise_scale for a in scaled] == [0, 0.25, 0.5, 0.75, 1] and all(a.eval_samples == 10 for a in scaled)
    assert {a.out for a in scaled} == {a.out for a in validation if a.out.endswith("hyplatent_recon-1e2.pt")}
    assert all(a.test_task_ids == nears[0].test_task_ids and a.table.endswith("_near.json") for a in scaled)
    compares = [a for m, a in commands if m == "compare_recipes"]
    assert [list(a.tables) for a in compares] == [
        [a.out.removesuffix(".pt") + suffix for a in validation]
        for suffix in ("_zeroshot.json", "_zeroshot_params.json", "_near.json")
    ] + [[a.table for a in scaled]]
    final = [a for a in hyplatents if not a.test_task_ids and not a.eval_only]  # Table I's test tasks: the default
    assert validation[0].lambda_recon == 1e3 and validation[0].ema_decay == 0  # the defaults first, then the pick:
    assert all(a.lambda_recon == 1e2 and a.ema_decay == 0.995 and a.lambda_behavior == 1 for a in final)  # validate's pick
    assert all(a.noise_scale == 1 for a in validation) and all(a.noise_scale == 0.75 for a in final)  # and its noise
    sizes = [[int(i) for i in autoencoders[a.ae].train_task_ids] for a in final]
    assert sizes[0] == fifteen and len(sizes[1]) == 10 and set(sizes[1]) <= set(fifteen)
    assert not any(set(test_ids) & {int(i) for i in a.train_task_ids} for a in autoencoders.values())
    sweeps = [a for a in hyplatents if a.eval_only and a.out not in trained]  # each final generator over the whole range
    assert [a.out for a in sweeps] == [a.out for a in final] and all(len(a.params) == 60 for a in sweeps)
    assert all(a.noise_scale == 0.75 for a in sweeps)
    plots = [a for m, a in commands if m == "plot_zeroshot"]
    assert [list(a.tables) for a in plots] == [
        [a.out.removesuffix(".pt") + suffix for suffix in ("_zeroshot_params.json", "_zeroshot.json")] for a in final
    ]
    gaits = [a for m, a in commands if m == "plot_gait"]  # the same generated policies, against the experts it trained on
    assert [a.policies for a in gaits] == [(a.out.removesuffix(".pt") + "_generated",) for a in final]
    assert [a.experts for a in gaits] == [autoencoders[a.ae].data for a in final] and all(a.episodes == 5 for a in gaits)

    # a finished command (its output exists) is skipped when the preset runs again; the others still run
    shared = validation[0].ae
    os.makedirs(os.path.dirname(shared))
    open(shared, "w").close()
    again = [a.out for m, a in preset_commands("cheetah_vel15.sh", out) if m == "ae_train"]
    assert shared not in again and len(again) == len(autoencoders) - 1


def test_cheetah_vel15_basin_fine_tunes_every_expert_from_one_and_trains_on_them(tmp_path):
    out = str(tmp_path / "o")
    commands = preset_commands("cheetah_vel15.sh", out, STAGES="collect basin validate final", EXPERTS="basin")
    collects = [a for m, a in commands if m == "sac_collect"]
    basin = collects[2]  # after the collect stage's two
    assert basin.init_from == os.path.join(out, "data", "cheetah-vel", "task_20.pt") and basin.out == os.path.join(
        out, "basin"
    )
    assert [int(i) for i in basin.task_ids] == [int(i) for i in collects[0].task_ids]
    assert basin.lr_ramp_steps > 0 and basin.total_timesteps < collects[0].total_timesteps
    trained = [a for m, a in commands if m == "ae_train"]
    assert trained and all(a.data == os.path.join(out, "basin", "cheetah-vel") and "_basin" in a.out for a in trained)
    assert all("_basin" in a.out for m, a in commands if m == "hyplatent_train")
    # the own-expert column: collect's test experts, linked as they exist (basin may run before they are collected)
    assert os.listdir(os.path.join(out, "basin", "cheetah-vel")) == []
    os.makedirs(os.path.join(out, "data", "cheetah-vel"))
    for t in (2, 7):
        open(os.path.join(out, "data", "cheetah-vel", f"task_{t:02d}.pt"), "w").close()
    preset_commands("cheetah_vel15.sh", out, STAGES="basin")
    assert sorted(os.listdir(os.path.join(out, "basin", "cheetah-vel"))) == ["task_02.pt", "task_07.pt"]
    for t in (15, 23, 26):
        open(os.path.join(out, "data", "cheetah-vel", f"task_{t:02d}.pt"), "w").close()
    preset_commands("cheetah_vel15.sh", out, STAGES="final")  # the final stage links them too
    linked = sorted(os.listdir(os.path.join(out, "basin", "cheetah-vel")))
    assert linked == [f"task_{t:02d}.pt" for t in sorted(get_suite("cheetah-vel").test_ids)]
    assert all(os.readlink(os.path.join(out, "basin", "cheetah-vel", f)) == f"../../data/cheetah-vel/{f}" for f in linked)


@pytest.mark.parametrize(
    "setting, message",
    [
        ({"STAGES": "validate fina"}, "STAGES: unknown stage 'fina', expected collect, basin, validate or final"),
        ({"SIZES": "15 20"}, "SIZES: unknown size '20', expected 15 or 10"),
        ({"EXPERTS": "bassin"}, "EXPERTS: unknown expert set 'bassin', expected data or basin"),
        ({"SCALE_RECIPE": "recon-1e3"}, "SCALE_RECIPE: 'recon-1e3' is not a recipe name of VARIANTS"),
    ],
)
def test_cheetah_vel15_refuses_unknown_settings(setting, message):
    done = subprocess.run(
        ["bash", os.path.join(ROOT, "presets", "cheetah_vel15.sh")], env={**os.environ, "PY": "echo", **setting},
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2 and done.stderr.strip() == message
    if "SCALE_RECIPE" in setting:  # checked before the first stage prints (runs) a command
        assert done.stdout == ""


def test_ant_dir15_spreads_its_training_tasks_around_the_circle(tmp_path):
    commands = preset_commands("ant_dir15.sh", str(tmp_path / "o"))
    suite = get_suite("ant-dir")
    collects = [a for m, a in commands if m == "sac_collect"]
    assert len(collects) == 4  # the training tasks, then the test tasks, each split over two processes side by side
    ids = [[int(i) for i in a.task_ids] for a in collects]  # (which of the two prints first is not fixed)
    train, test = sorted(ids[0] + ids[1], key=lambda i: suite.task_params(i)[0]), ids[2] + ids[3]
    assert len(train) == 15 and not set(train) & set(suite.test_ids) and sorted(test) == sorted(suite.test_ids)
    for n, i in enumerate(train):  # the training task nearest each of 0, 24, ..., 336 degrees
        target = 2 * math.pi * n / 15
        gap = [abs((suite.task_params(j)[0] - target + math.pi) % (2 * math.pi) - math.pi) for j in suite.train_ids]
        assert suite.task_params(i)[0] == suite.task_params(suite.train_ids[gap.index(min(gap))])[0]
    assert all(
        a.total_timesteps == 500_000 and a.save_after == 400_500 and a.num_checkpoints == 200 and a.bf16 for a in collects
    )
    assert collects[0].out == collects[1].out  # the test tasks' experts beside them: the own-expert column
    tables = [a for m, a in commands if m == "expert_table"]  # each collection's returns: did its experts converge
    assert [list(a.task_ids) for a in tables] == [train, sorted(test, key=suite.test_ids.index)]
    assert all(a.collections == (os.path.join(collects[0].out, "ant-dir"),) for a in tables)
    autoencoders = {a.out: a for m, a in commands if m == "ae_train"}
    hyplatents = [a for m, a in commands if m == "hyplatent_train"]
    # validate's recipes and finetune's runs go two at a time, so they print in any order
    validation = sorted((a for a in hyplatents if a.test_task_ids and not a.eval_only), key=lambda a: a.out)
    assert sorted({a.condition for a in validation}) == ["cossin", "raw"]
    assert [a.condition for a in validation if a.out.endswith("hyplatent_raw.pt")] == ["raw"]  # the defaults
    for a in validation:  # scored on training tasks that neither the autoencoder nor HypLatent saw
        held_out, fit = {int(i) for i in a.test_task_ids}, {int(i) for i in autoencoders[a.ae].train_task_ids}
        assert held_out <= set(train) and not held_out & fit and fit | held_out == set(train)
    betweens = sorted((a for a in hyplatents if a.eval_only and a.test_task_ids), key=lambda a: a.out)
    assert [a.out for a in betweens] == [a.out for a in validation]
    assert all(not {int(i) for i in a.test_task_ids} & (set(train) | set(test)) for a in betweens)
    assert all(len(a.test_task_ids) == 30 for a in betweens)  # every other training task of the suite
    compares = [a for m, a in commands if m == "compare_recipes"]  # the rule picks on the between tasks, against raw
    assert [a.pick_against for a in compares] == ["", "raw"] and set(compares[1].tables) == {a.table for a in betweens}
    final = [a for a in hyplatents if not a.test_task_ids and not a.eval_only]
    assert [[int(i) for i in autoencoders[a.ae].train_task_ids] for a in final] == [train]
    sweep = [a for a in hyplatents if a.eval_only and a.params]
    assert len(sweep[0].params) == 60 and float(sweep[0].params[-1]) < 2 * math.pi
    finetunes = [a for m, a in commands if m == "finetune_tdreg"]
    generated = [a for a in finetunes if a.init == "policy"]
    assert sorted({a.task_id for a in finetunes}) == [30, 41] and sorted(a.seed for a in generated) == [1, 1, 2, 2, 3, 3]
    assert all(a.policy_index == a.seed - 1 for a in generated)
    assert all(a.total_timesteps == 100_000 for a in generated) and all(
        a.policy.startswith(final[0].out[:-3]) for a in generated
    )
    assert all(a.total_timesteps == 200_000 for a in finetunes if a.init == "scratch")
    curves = [a for m, a in commands if m == "plot_finetune"]  # every run, the returns at both budgets in the table
    assert len(curves) == 1 and {100_000, 200_000} <= set(curves[0].at)
    gaits = [a for m, a in commands if m == "plot_gait"]  # the experts' and the generated policies', neither named by path
    assert [a.labels for a in gaits] == [(), ("generated",)] and gaits[1].policies == (final[0].out[:-3] + "_generated",)


@pytest.mark.parametrize(
    "last_line, expected",
    [
        ("pick: cossin (rule: its interval lies wholly above raw's)", "--condition cossin --bf16"),  # not cossin-pick's
        ("", "final: {out}/validate/between.md: no pick; run validate or set RECIPE"),
        ("pick: gone (rule: ...)", "final: {out}/validate/between.md picks 'gone', which VARIANTS does not name"),
    ],
)
def test_ant_dir15_final_trains_the_validate_stages_pick_or_refuses(tmp_path, last_line, expected):
    out = str(tmp_path / "o")
    if last_line:
        os.makedirs(os.path.join(out, "validate"))
        with open(os.path.join(out, "validate", "between.md"), "w") as f:
            f.write(f"| recipe | mean |\n\n{last_line}\n")
    picked = expected.startswith("--")  # PY=echo prints the commands; PY=false: a refusal must come before any command
    done = subprocess.run(
        ["bash", os.path.join(ROOT, "presets", "ant_dir15.sh")],
        env={**os.environ, "PY": "echo" if picked else "false", "OUT": out, "STAGES": "final"}, capture_output=True,
        text=True,
    )  # fmt: skip
    if picked:
        assert done.returncode == 0 and expected in [line for line in done.stdout.splitlines() if "hyplatent.pt " in line][0]
    else:
        assert done.returncode == 2 and done.stderr.strip() == expected.format(out=out)


def test_ant_dir15_finetune_names_a_run_that_stops_and_runs_the_others(tmp_path):
    """A fine-tuning run that stops (it diverged) is a result: named in finetune/failed.txt and on stderr, while the
    other eleven runs and the table still run, and the preset succeeds."""
    py, out = tmp_path / "py", tmp_path / "o"
    py.write_text('#!/usr/bin/env bash\ncase "$*" in *task41_generated_seed1.pt*) exit 1 ;; esac\necho "$@"\n')
    py.chmod(0o755)
    done = subprocess.run(
        ["bash", os.path.join(ROOT, "presets", "ant_dir15.sh")], env={**os.environ, "PY": str(py), "OUT": str(out),
        "STAGES": "finetune"}, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0 and (out / "finetune" / "failed.txt").read_text() == "task41_generated_seed1\n"
    assert done.stderr.strip() == "finetune: runs that stopped, left out of the table: task41_generated_seed1"
    ran = [line.split(" --out ")[1].split()[0] for line in done.stdout.splitlines()]
    assert len(ran) == 12 and ran[-1] == str(out / "finetune.png")  # the eleven others, then the table of them
