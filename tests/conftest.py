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
