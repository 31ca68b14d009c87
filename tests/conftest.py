import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def run_script(script: str, *argv: str, cwd: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run a stage script as a user would: `python script.py ARGS` in `cwd`."""
    proc = subprocess.run([sys.executable, os.path.join(ROOT, script), *argv], cwd=cwd,
                          capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"{script} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def run():
    return run_script


@pytest.fixture(scope="session")
def chain(tmp_path_factory):
    """sac_collect -> ae_train -> hyplatent_train as a user runs them, on a tiny Cheetah-Vel config.
    Tasks 0, 4 train; 2 is a test task collected only as the upper reference."""
    tmp = tmp_path_factory.mktemp("chain")
    run_script("sac_collect.py", "--task-ids", "0", "2", "4", "--hidden", "32", "--total-timesteps", "600",
               "--learning-starts", "200", "--save-after", "400", "--save-every", "100", "--num-checkpoints", "3",
               "--eval-episodes", "1", "--out", "data", cwd=tmp)
    ae = run_script("ae_train.py", "--data", "data/cheetah-vel", "--out", "artifacts/ae.pt", "--latent-dim", "32",
                    "--steps", "40", "--batch-size", "6", "--eval-episodes", "1", cwd=tmp)
    hl = run_script("hyplatent_train.py", "--ae", "artifacts/ae.pt", "--out", "artifacts/hl.pt", "--iterations", "6",
                    "--batch-size", "6", "--test-task-ids", "2", "7", "--eval-samples", "2", "--eval-episodes", "2",
                    cwd=tmp)
    return tmp, ae.stdout, hl.stdout
