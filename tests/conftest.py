import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tools"))  # figures, comparisons, the launcher
sys.path.insert(0, os.path.join(ROOT, "experiments"))  # the scripts behind the records

from common import Actor, actor_layout, flatten_params, get_task, policy_file  # noqa: E402


def run_script(script: str, *argv: str, cwd: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run a stage script as a user would: `python script.py ARGS` in `cwd`."""
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, script), *argv], cwd=cwd, capture_output=True, text=True, timeout=600
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{script} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    """Asserts a script failed with exactly one line on stderr that holds every fragment; returns it."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(lines) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def fake_policies(suite: str, index: int, num: int = 2, hidden: int = 8, seed: int = 0, **override) -> dict:
    """A valid policy file of `num` random actors for one task (plain data, no training)."""
    dims = {"cheetah-vel": (17, 6), "ant-dir": (27, 8)}[suite]
    actor_args = {"obs_dim": dims[0], "act_dim": dims[1], "hidden": hidden, "action_low": [-1.0] * dims[1],
                  "action_high": [1.0] * dims[1]}  # fmt: skip
    torch.manual_seed(seed)
    actor = Actor(**actor_args, num_tasks=num)
    origin = {"stage": "sac_collect", "seed": seed}
    data = policy_file(get_task(suite, index), actor_args, actor_layout(actor), flatten_params(actor), -torch.rand(num, 2),
                       10_000, origin, SimpleNamespace(seed=seed), steps=torch.arange(num))  # fmt: skip
    return {**data, **override}


@pytest.fixture
def run():
    return run_script


@pytest.fixture(scope="session")
def chain(tmp_path_factory):
    """sac_collect -> ae_train -> hyplatent_train as a user runs them, on a tiny Cheetah-Vel config.
    Tasks 0, 4 train; 2 is a test task collected only as the upper reference."""
    tmp = tmp_path_factory.mktemp("chain")
    collect = "--task-ids 0 2 4 --hidden 32 --total-timesteps 600 --learning-starts 200 --save-after 400 --save-every 100"
    run_script("sac_collect.py", *collect.split(), "--num-checkpoints", "3", "--eval-episodes", "1", "--out", "data", cwd=tmp)
    ae = run_script("ae_train.py", *"--data data/cheetah-vel --out artifacts/ae.pt --latent-dim 32 --steps 40".split(),
                    *"--batch-size 6 --eval-episodes 1".split(), cwd=tmp)  # fmt: skip
    hl = run_script("hyplatent_train.py", *"--ae artifacts/ae.pt --out artifacts/hl.pt --iterations 6 --batch-size 6".split(),
                    *"--test-task-ids 2 7 --eval-samples 2 --eval-episodes 2".split(), cwd=tmp)  # fmt: skip
    return tmp, ae.stdout, hl.stdout
