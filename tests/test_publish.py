"""Publishing: the GitHub Pages workflow runs the README's commands and keeps the data cache the
package really uses; the repository's address is one setting the build writes into the chapters.

:func:`workflow_problems` is the check, run on the real workflow and on broken copies of it (so
that it is seen to fail); the commands come from the README and the folders from the package,
never typed here.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import yaml

from mnist_book.data import DATASETS
from mnist_book.runs import cache_dir
from mnist_book.settings import ENV_DATA, ENV_RETRAIN, REPO_ROOT, data_root
from tests import book_ext

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "pages.yml"
README = ROOT / "README.md"
repository = book_ext.load("repository")

_CONDITIONAL = re.compile(r"\$\{\{\s*github\.event_name\s*==\s*'(\w+)'\s*&&\s*'([^']*)'\s*\|\|\s*'([^']*)'\s*\}\}")


def readme_commands(readme: str) -> list[str]:
    """The commands of the README's Quickstart block (the first ``bash`` block), comments dropped."""
    block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1)
    return [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]


def env_value(value: object, event: str) -> str:
    """A workflow ``env`` value as it is for ``event``: a literal, or ``github.event_name == 'x' && 'a' || 'b'``."""
    text = str(value)
    match = _CONDITIONAL.fullmatch(text.strip())
    if match is None:
        return text
    wanted, then, otherwise = match.groups()
    return then if event == wanted else otherwise


def data_cache_folders() -> list[str]:
    """The folders of the data cache worth keeping between builds, relative to the repository, as the
    package makes them with the default data cache: the run cache and every dataset's."""
    folders = [cache_dir()] + [data_root() / cls.__name__ for cls in DATASETS.values()]
    return [folder.relative_to(REPO_ROOT).as_posix() for folder in folders]


def workflow_problems(workflow: dict, readme: str, folders: list[str]) -> list[str]:
    """What is wrong with the Pages workflow ``workflow`` (parsed): an empty list when nothing is."""
    problems = []
    triggers = workflow.get("on", workflow.get(True)) or {}  # YAML 1.1 reads a bare `on` as True
    if "main" not in (triggers.get("push") or {}).get("branches", []):
        problems.append("not built on a push to main")
    if "workflow_dispatch" not in triggers:
        problems.append("cannot be started by hand (workflow_dispatch)")
    if not (triggers.get("schedule") or [{}])[0].get("cron"):
        problems.append("no weekly schedule (cron)")
    permissions = workflow.get("permissions", {})
    if permissions.get("pages") != "write" or permissions.get("id-token") != "write":
        problems.append("permissions must give pages: write and id-token: write")
    if not (workflow.get("concurrency") or {}).get("group"):
        problems.append("no concurrency group")

    jobs = workflow.get("jobs", {})
    steps = [step for job in jobs.values() for step in job.get("steps", [])]
    runs = [step.get("run", "") for step in steps]
    for command in readme_commands(readme):
        if command.startswith(("pip install", "jupyter-book build")) and not any(command in run for run in runs):
            problems.append(f"no step runs the README's {command!r}")
    uses = [step.get("uses", "") for step in steps]
    upload = [s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact@")]
    if not upload or upload[0].get("with", {}).get("path", "").strip("./") != "_build/html":
        problems.append("no actions/upload-pages-artifact of _build/html")
    if not any(u.startswith("actions/deploy-pages@") for u in uses):
        problems.append("no actions/deploy-pages")

    caches = [s.get("with", {}) for s in steps if s.get("uses", "").startswith("actions/cache@")]
    cached = {line.strip().rstrip("/") for c in caches for line in str(c.get("path", "")).splitlines()}
    for folder in folders:
        if folder not in cached:
            problems.append(f"the data cache's {folder} is not kept between runs")
    data = [c for c in caches if any(folder in str(c.get("path", "")) for folder in folders)]
    if not any("hashFiles('requirements.txt', 'mnist_book/**/*.py')" in str(c.get("key", "")) for c in data):
        problems.append("the data cache's key is not hashFiles('requirements.txt', 'mnist_book/**/*.py')")
    if not any(c.get("restore-keys") for c in data):
        problems.append("the data cache has no restore-keys (a prose change would train everything)")

    for job_name, job in jobs.items():
        if any(s.get("run", "").startswith("jupyter-book build") for s in job.get("steps", [])):
            env = {**workflow.get("env", {}), **job.get("env", {})}
            if env_value(env.get(ENV_RETRAIN, ""), "schedule") != "1":
                problems.append(f"the scheduled run of {job_name} does not set {ENV_RETRAIN}=1")
            if env_value(env.get(ENV_RETRAIN, ""), "push") not in ("", "0"):
                problems.append(f"a push retrains everything in {job_name}")
    return problems


@pytest.fixture
def default_data_cache(monkeypatch):
    monkeypatch.delenv(ENV_DATA, raising=False)  # the folders the workflow sees: data/ in the checkout


def test_data_cache_folders_are_the_packages(default_data_cache):
    assert data_cache_folders() == ["data/checkpoints/runs", "data/MNIST", "data/FashionMNIST"]


def test_the_pages_workflow_runs_the_readmes_commands_and_keeps_the_data_cache(default_data_cache):
    problems = workflow_problems(yaml.safe_load(WORKFLOW.read_text()), README.read_text(), data_cache_folders())
    assert not problems, problems


@pytest.mark.parametrize(
    "breaking, expected",
    [
        (lambda w: w[True].pop("schedule"), "no weekly schedule"),
        (lambda w: w[True].pop("workflow_dispatch"), "workflow_dispatch"),
        (lambda w: w[True]["push"].update(branches=["dev"]), "push to main"),
        (lambda w: w["jobs"]["build"]["env"].update({ENV_RETRAIN: "0"}), "does not set MNIST_BOOK_RETRAIN=1"),
        (lambda w: w["jobs"]["build"]["env"].update({ENV_RETRAIN: "1"}), "a push retrains"),
        (lambda w: w["permissions"].pop("id-token"), "id-token"),
        (lambda w: _step(w, "jupyter-book build").update(run="jupyter-book build docs"), "jupyter-book build"),
        (lambda w: _step(w, "pip install").update(run="pip install jupyter-book"), "pip install -r"),
        (lambda w: _uses(w, "actions/upload-pages-artifact@")["with"].update(path="html"), "upload-pages"),
        (lambda w: w["jobs"].pop("deploy"), "deploy-pages"),
        (lambda w: _uses(w, "actions/cache@")["with"].update(path="data/MNIST"), "data/checkpoints/runs"),
        (lambda w: _uses(w, "actions/cache@")["with"].pop("restore-keys"), "restore-keys"),
        (lambda w: _uses(w, "actions/cache@")["with"].update(key="k"), "hashFiles"),
    ],
)
def test_the_check_rejects_a_broken_workflow(default_data_cache, breaking, expected):
    workflow = copy.deepcopy(yaml.safe_load(WORKFLOW.read_text()))
    breaking(workflow)
    problems = workflow_problems(workflow, README.read_text(), data_cache_folders())
    assert any(expected in problem for problem in problems), problems


def test_the_readme_build_command_is_read_from_the_readme():
    commands = readme_commands("Text\n```bash\npip install -r requirements.txt\nmake book   # builds\n```\n")
    assert commands == ["pip install -r requirements.txt", "make book"]


def _step(workflow: dict, command: str) -> dict:
    return next(s for job in workflow["jobs"].values() for s in job["steps"] if s.get("run", "").startswith(command))


def _uses(workflow: dict, action: str) -> dict:
    return next(s for job in workflow["jobs"].values() for s in job["steps"] if s.get("uses", "").startswith(action))


# --------------------------------------------------------------------------- the repository's address


def test_the_build_writes_repository_url_into_the_install_cell(tmp_path):
    """Change ``repository.url`` and the build makes every chapter install from the new address."""
    chapter = tmp_path / "chapter.ipynb"
    source = ROOT / "book" / "01_data.ipynb"
    chapter.write_text(source.read_text())
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    repository.sync_notebook(chapter, url)  # written as Jupyter writes it; the cell already agrees
    written = chapter.read_text()
    assert not repository.sync_notebook(chapter, url) and chapter.read_text() == written
    assert repository.sync_notebook(chapter, "https://github.com/someone/fork")
    first = repository._first_code_cell(json.loads(chapter.read_text()))
    assert "".join(first["source"]) == repository.install_cell("https://github.com/someone/fork")
    assert 'git+https://github.com/someone/fork"' in "".join(first["source"])
    others = [c for c in json.loads(chapter.read_text())["cells"] if c["id"] != first["id"]]
    assert others == [c for c in json.loads(source.read_text())["cells"] if c["id"] != first["id"]]  # untouched


def test_a_notebook_without_an_install_cell_is_left_alone(tmp_path):
    chapter = tmp_path / "other.ipynb"
    chapter.write_text(json.dumps({"cells": [{"cell_type": "code", "source": ["print(1)"]}]}))
    before = chapter.read_text()
    assert not repository.sync_notebook(chapter, "https://github.com/someone/fork")
    assert chapter.read_text() == before
