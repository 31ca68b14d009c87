"""The tree's shape: stages talk only through files (no stage imports another), and ruff's format and lint hold."""

import ast
import glob
import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT

STAGES = ["sac_collect", "ae_train", "hyplatent_train", "hypformer_train", "behavior_embed", "finetune_tdreg",
          "plot_finetune", "plot_zeroshot", "plot_tokens", "plot_gait", "compare_recipes", "launch_collect"]  # fmt: skip


def imported_modules(path: str) -> set:
    """Every module a file imports, at any depth (top-level, inside functions, `from x import y`)."""
    names = set()
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_no_stage_script_imports_another():
    scripts = [s for s in STAGES if os.path.exists(os.path.join(ROOT, f"{s}.py"))]
    assert len(scripts) >= 5
    crossed = {s: sorted(imported_modules(os.path.join(ROOT, f"{s}.py")) & (set(STAGES) - {s})) for s in scripts}
    assert not any(crossed.values()), f"stage scripts import other stages: {crossed}"
    assert not imported_modules(os.path.join(ROOT, "common.py")) & set(STAGES), "common.py imports a stage"


def test_the_check_sees_an_import(tmp_path):
    path = tmp_path / "x.py"
    path.write_text("def f():\n    from hyplatent_train import generate\n")
    assert "hyplatent_train" in imported_modules(str(path))


@pytest.mark.parametrize("command", [["format", "--check", "--diff"], ["check"]])
def test_ruff(command):
    files = sorted(glob.glob(os.path.join(ROOT, "*.py")) + glob.glob(os.path.join(ROOT, "*", "*.py")))
    proc = subprocess.run([sys.executable, "-m", "ruff", *command, *files], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, (
        f"ruff {' '.join(command)}: run `ruff format . && ruff check --fix .`\n{proc.stdout}{proc.stderr}"
    )


def github_anchors(markdown: str) -> set:
    """The anchors GitHub gives a file's headings: lower case, punctuation dropped, spaces to '-', repeats numbered."""
    anchors, seen = set(), {}
    for line in markdown.splitlines():
        if line.startswith("#") and line.lstrip("#").startswith(" "):
            slug = "".join(c for c in line.lstrip("#").strip().lower() if c.isalnum() or c in " -_").replace(" ", "-")
            anchors.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
            seen[slug] = seen.get(slug, 0) + 1
    return anchors


def test_readme_links_and_figures_resolve():
    text = open(os.path.join(ROOT, "README.md")).read()
    anchors = github_anchors(text)
    assert "devices---cuda" in anchors and "stage-1-expert-collection-sac_collectpy" in anchors
    links = re.findall(r"\]\(#([^)]+)\)", text)
    assert not [a for a in links if a not in anchors], "README links to headings that do not exist"
    figures = re.findall(r"\]\((docs/[^)]+)\)", text)
    assert figures and not [f for f in figures if not os.path.exists(os.path.join(ROOT, f))], "README shows missing files"
