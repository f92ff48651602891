"""`scripts/install.sh`, `test.sh` and `demo.sh` install into and run one Python, never the system's: an active
virtual environment, else `.venv` in the repository. Checked with stand-in interpreters that log their
calls (and `--dry-run`), so nothing is installed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LOGGING_PYTHON = '#!/bin/sh\necho "$0 $*" >> "$CALLS"\n'  # records how it was called; exits 0


def stand_in(folder: Path, *names: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text(LOGGING_PYTHON)
        (folder / name).chmod(0o755)
    return folder


@pytest.fixture
def environment(tmp_path) -> dict[str, str]:
    """No environment active; a system `python`, `python3` and `tagger` first on PATH that only log (any call to
    them shows, and none installs or trains anything)."""
    system = stand_in(tmp_path / "system", "python", "python3", "tagger")
    calls = tmp_path / "calls"
    calls.touch()
    outside = {key: value for key, value in os.environ.items()
               if key not in ("VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV", "PYTHONHOME")}
    return {**outside, "PATH": f"{system}{os.pathsep}{os.environ['PATH']}", "CALLS": str(calls)}


def calls(environment: dict[str, str]) -> list[str]:
    return Path(environment["CALLS"]).read_text().splitlines()


@pytest.mark.parametrize("script", ["install.sh", "test.sh"])
def test_an_active_virtual_environment_is_installed_into_and_tested_with(tmp_path, environment, script):
    venv = tmp_path / "venv"
    python = stand_in(venv / "bin", "python") / "python"
    result = subprocess.run(["bash", f"scripts/{script}", "-k", "nothing"], cwd=REPO,
                            env={**environment, "VIRTUAL_ENV": str(venv)}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    expected = [f"{python} -m pip install --quiet torch==2.13.0", f"{python} -m pip install --quiet -e .[dev]"]
    assert calls(environment) == expected + ([f"{python} -m pytest -q -k nothing"] if script == "test.sh" else [])


def test_the_demo_runs_the_python_and_the_tagger_command_it_installed(tmp_path, environment):
    venv = tmp_path / "venv"
    bin_folder = stand_in(venv / "bin", "python", "tagger")
    result = subprocess.run(["bash", "scripts/demo.sh"], cwd=REPO, env={**environment, "VIRTUAL_ENV": str(venv)},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    programs = [line.split()[0] for line in calls(environment)]
    assert programs == [str(bin_folder / "python")] * 3 + [str(bin_folder / "tagger")] * 4  # pip twice, the card's figure


def test_without_an_active_environment_a_venv_is_made_in_the_repository(tmp_path, environment):
    repository = tmp_path / "clone"
    shutil.copytree(REPO / "scripts", repository / "scripts")
    result = subprocess.run(["bash", "scripts/install.sh", "--dry-run"], cwd=repository, env=environment,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    python = repository / ".venv" / "bin" / "python"
    assert result.stdout.splitlines() == [
        f"+ {tmp_path / 'system' / 'python3'} -m venv --system-site-packages .venv",  # reuses an installed torch
        f"+ {python} -m pip install --quiet torch==2.13.0",
        f"+ {python} -m pip install --quiet -e .[dev]",
        "(a dry run: nothing was installed)",
    ]
    # the system Python was asked its version and whether it can make a venv, and nothing else
    assert [line.split(" ", 1)[1] for line in calls(environment)] == [
        "-c import sys; sys.exit(sys.version_info < (3, 10))", "-c import ensurepip, venv"]


def test_a_repository_venv_made_before_is_used_again_and_named(tmp_path, environment):
    repository = tmp_path / "clone"
    shutil.copytree(REPO / "scripts", repository / "scripts")
    python = stand_in(repository / ".venv" / "bin", "python") / "python"
    result = subprocess.run(["bash", "scripts/install.sh"], cwd=repository, env=environment, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert calls(environment) == [f"{python} -m pip install --quiet torch==2.13.0", f"{python} -m pip install --quiet -e .[dev]"]
    assert result.stdout.splitlines()[-1].startswith(
        f"tagger is installed in {repository / '.venv'}: run 'source .venv/bin/activate' to use the tagger command")


def test_an_active_environment_without_python_is_an_error_not_a_new_venv(tmp_path, environment):
    result = subprocess.run(["bash", "scripts/install.sh", "--dry-run"], cwd=REPO,
                            env={**environment, "VIRTUAL_ENV": str(tmp_path / "gone")}, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1 and result.stdout == "" and calls(environment) == []
    assert result.stderr.startswith(f"install.sh: the active environment {tmp_path / 'gone'} has no bin/python")
