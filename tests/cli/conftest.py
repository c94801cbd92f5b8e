"""Run the real `sidequest` command in a folder of its own, as a user would from their project."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

Run = Callable[..., subprocess.CompletedProcess[str]]


def command() -> list[str]:
    """The installed `sidequest` console script beside this interpreter, else `python -m sidequest`."""
    script = Path(sys.executable).parent / "sidequest"
    return [str(script)] if script.exists() else [sys.executable, "-m", "sidequest"]


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without store URLs or SIDEQUEST_ settings from the machine, plus extra."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("SIDEQUEST_") and key not in ("REDIS_URL", "PYTHONPATH")
    }
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty project folder the command runs in."""
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


@pytest.fixture
def sidequest(project: Path) -> Run:
    """sidequest(*args, env={...}, timeout=s): run the command in the project folder, output captured."""

    def run(
        *args: str, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        # A session of its own, so a hung run is killed with every process it forked (--processes).
        with subprocess.Popen(
            [*command(), *args],
            cwd=project,
            env=clean_env(**(env or {})),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        ) as process:
            try:
                stdout, stderr = process.communicate(timeout=timeout)
            except BaseException:
                os.killpg(process.pid, signal.SIGKILL)
                process.communicate()
                raise
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)

    return run


def write(path: Path, text: str) -> Path:
    """Write a file, making its folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
