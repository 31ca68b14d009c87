# The paper's configurations (presets/*.sh): every command parses with its stage's Args, has the paper's numbers,
# and reads what the previous command writes. PY=echo prints the commands instead of running them.
import importlib
import os
import shlex
import subprocess

import pytest
import tyro

from common import get_suite

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def preset_commands(name: str, out: str) -> list:
    """[(stage module, parsed Args), ...] of presets/<name>.sh, in order."""
    printed = subprocess.run(
        ["bash", os.path.join(ROOT, "presets", name)], env={**os.environ, "PY": "echo", "OUT": out, "EXTRA": "--no-cuda"},
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    commands = []
    for line in printed.splitlines():
        script, *argv = shlex.split(line)
        module = importlib.import_module(script.removesuffix(".py"))
        commands.append((module.__name__, tyro.cli(module.Args, args=argv)))
    return commands


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
