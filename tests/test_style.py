"""The tree's shape: stages talk only through files (no stage imports another), and ruff's format and lint hold."""

import ast
import glob
import os
import re
import subprocess
import sys
import time

import pytest
from conftest import ROOT

STAGES = ["sac_collect", "ae_train", "hyplatent_train", "hypformer_train", "behavior_embed", "finetune_tdreg", "zeroshot_eval"]
TOOLS = ["plot_finetune", "plot_zeroshot", "plot_tokens", "plot_gait", "compare_recipes", "launch_collect"]  # tools/


def imported_modules(path: str) -> set:
    """Every module a file imports, at any depth (top-level, inside functions, `from x import y`)."""
    names = set()
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def script_path(name: str) -> str:
    return os.path.join(ROOT, "tools" if name in TOOLS else "", f"{name}.py")


def test_no_stage_script_imports_another():
    scripts = [s for s in STAGES + TOOLS if os.path.exists(script_path(s))]
    assert len(scripts) == len(STAGES + TOOLS), "a stage or tool moved: update STAGES / TOOLS"
    names = set(STAGES + TOOLS)
    crossed = {s: sorted(imported_modules(script_path(s)) & (names - {s})) for s in scripts}
    assert not any(crossed.values()), f"stage scripts import other stages: {crossed}"
    assert not imported_modules(os.path.join(ROOT, "common.py")) & names, "common.py imports a stage"


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
    anchors, seen, fenced = set(), {}, False
    for line in markdown.splitlines():
        fenced ^= line.startswith("```")
        if not fenced and line.startswith("#") and line.lstrip("#").startswith(" "):
            slug = "".join(c for c in line.lstrip("#").strip().lower() if c.isalnum() or c in " -_").replace(" ", "-")
            anchors.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
            seen[slug] = seen.get(slug, 0) + 1
    return anchors


def dead_links(path: str) -> list:
    """Links and images of a markdown file whose file (relative to it) or heading anchor does not exist."""
    text, dead = open(path).read(), []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://|mailto:", target):
            continue
        name, _, anchor = target.partition("#")
        file = os.path.normpath(os.path.join(os.path.dirname(path), name)) if name else path
        if not os.path.exists(file) or (anchor and anchor not in github_anchors(open(file).read())):
            dead.append(target)
    return dead


DOCS = [os.path.join(ROOT, "README.md"), *sorted(glob.glob(os.path.join(ROOT, "docs", "experiments", "*.md")))]
# how the work was organised, which the tree must not speak of: numbered periods of work, tracker numbers, machine
# loans, home folders, commit hashes as history
ORGANISATION = [r"\bsessions? \d+", r"\bwork periods?\b", r"\bissues? #?\d+", r"(?<![\w/])#\d{2,}\b", r"\bleases?\b",
                r"~/[\w.-]", r"/(root|home)/\w", r"\bcommit [0-9a-f]{7,}\b", r"\bmain [0-9a-f]{7,}\b"]  # fmt: skip


def organisation_words(text: str) -> list:
    return [m.group(0) for pattern in ORGANISATION for m in re.finditer(pattern, text, re.IGNORECASE)]


def tree_text_files() -> list:
    skip = {".git", ".venv", "runs", "data", "artifacts", "quickstart", "__pycache__", ".pytest_cache", "gpu_check"}
    files = []
    for folder, dirs, names in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in skip]
        files += [os.path.join(folder, n) for n in names if n.endswith((".py", ".md", ".sh", ".toml", ".txt")) or n == "run"]
    return files


def test_the_tree_speaks_of_the_software_only():
    hits = {os.path.relpath(f, ROOT): organisation_words(open(f).read()) for f in tree_text_files()}
    assert not {f: h for f, h in hits.items() if h}, "the tree names how the work was organised (history is in git)"


def test_the_checks_catch_planted_words_and_dead_links(tmp_path):
    planted = ["as in ses" + "sion 12", "see iss" + "ue 33", "data in ~" + "/genhyper-runs/cv15", "one lea" + "se of a GPU",
               "code of com" + "mit 6d03424"]  # fmt: skip
    assert [bool(organisation_words(p)) for p in planted] == [True] * len(planted)
    assert not organisation_words("200 sessions of SAC; 2 issues; a home folder; commit the file")
    page = tmp_path / "page.md"
    (tmp_path / "there.md").write_text("# A heading\n")
    page.write_text("[ok](there.md#a-heading) [gone](missing.md) [anchor](there.md#nope) ![f](../fig.png) [self](#top)\n")
    assert dead_links(str(page)) == ["missing.md", "there.md#nope", "../fig.png", "#top"]


def test_links_and_figures_resolve():
    assert {os.path.basename(d) for d in DOCS} >= {"README.md", "cheetah-vel-15.md", "metaworld-generators.md"}
    assert {os.path.relpath(d, ROOT): dead_links(d) for d in DOCS if dead_links(d)} == {}


def test_readme_is_for_users():
    text = open(os.path.join(ROOT, "README.md")).read()
    assert len(text.splitlines()) <= 300, "the README is for users: move records to docs/experiments/"
    assert "bash quickstart.sh" in text and ".venv/bin/python -m pytest -q tests" in text  # the two commands
    results = text.split("## Results")[1].split("\n## ")[0]
    rows = [r for r in results.splitlines() if r.startswith("| ") and not r.startswith("| setting")]
    assert rows and all("](docs/experiments/" in r for r in rows), "every result in the README links to its record"


def test_records_hold_their_protocol_and_commands():
    for path in DOCS[1:]:
        text = open(path).read()
        for part in ("**Question.**", "**Protocol", "**Command", "**Machine and cost.**", "**Result", "**Conclusion.**"):
            assert part in text, (path, part)
        scripts = set(re.findall(r"\b((?:experiments|presets|benchmarks|tools)/[\w.]+\.(?:sh|py))", text))
        assert scripts and not [s for s in scripts if not os.path.exists(os.path.join(ROOT, s))], (path, scripts)


def test_import_common_loads_no_heavy_optional_package():
    code = (
        "import sys, common; print(sorted(m for m in ('metaworld', 'rliable', 'matplotlib', 'submitit') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize("script", sorted(glob.glob(os.path.join(ROOT, "presets", "*.sh")))
                         + sorted(glob.glob(os.path.join(ROOT, "experiments", "*.sh"))))  # fmt: skip
def test_long_runs_read_their_whole_script_before_they_start(script, tmp_path):
    """bash reads a script as it runs it, so an edit made during an hours-long preset would be read from the middle of a
    line; each preset and record script is one { ...; exit; } block, read whole first (the next test shows why)."""
    lines = open(script).read().splitlines()
    body = [line for line in lines[1:] if not line.startswith("#")]
    assert body[0].startswith("{  #") and lines[-2:] == ["exit", "}"], script


def test_a_braced_script_ignores_an_edit_made_while_it_runs(tmp_path):
    """The same script unbraced runs the edit's tail; braced, it runs as it was when it started."""
    for braced, expected in ((False, "ran\nplanted\n"), (True, "ran\n")):
        script, started = tmp_path / "run.sh", tmp_path / "started"
        started.unlink(missing_ok=True)
        body = f"touch {started}\nsleep 1\necho ran\n"
        script.write_text("#!/usr/bin/env bash\n" + ("{\n" + body + "exit\n}\n" if braced else body))
        proc = subprocess.Popen(["bash", str(script)], stdout=subprocess.PIPE, text=True)
        deadline = time.time() + 30
        while not started.exists() and time.time() < deadline:
            time.sleep(0.01)
        script.write_text(script.read_text() + "echo planted\n")  # a line appended while it runs
        assert proc.communicate(timeout=30)[0] == expected, braced
