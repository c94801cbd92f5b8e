"""The reference docs cover every setting and option, and docs/middleware.md's example runs in a worker."""

from __future__ import annotations

import dataclasses
import os
import pydoc
import re
import subprocess
import sys
from pathlib import Path

import sidequest
from sidequest import config, options

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def test_every_setting_is_in_the_configuration_reference_and_in_help() -> None:
    # given every setting the code knows, and every environment variable it reads
    settings = [field.name for field in dataclasses.fields(config.Settings)]
    environment = [*config.ENV_VARIABLES, *config.URL_VARIABLES]
    reference = (DOCS / "configuration.md").read_text()
    shown = pydoc.render_doc(sidequest.configure, renderer=pydoc.plaintext)
    # then each has a row in docs/configuration.md and a line in help(sidequest.configure)
    assert [s for s in settings if f"| `{s}` |" not in reference] == []
    assert [v for v in environment if v not in reference] == []
    assert [s for s in settings if not re.search(rf"\b{s}\b", shown)] == []


def test_every_job_option_is_in_the_configuration_reference_and_in_help() -> None:
    names = sorted(options.CORE_OPTIONS | options.PUSH_OPTIONS)
    reference = (DOCS / "configuration.md").read_text()
    shown = pydoc.render_doc(sidequest.job, renderer=pydoc.plaintext)
    assert [o for o in names if f"| `{o}` |" not in reference] == []
    assert [o for o in sorted(options.CORE_OPTIONS) if not re.search(rf"\b{o}\b", shown)] == []


def test_the_middleware_guide_example_runs_in_a_real_worker(tmp_path: Path) -> None:
    # given the guide's two modules, written as the package it names
    guide = (DOCS / "middleware.md").read_text()
    blocks = {
        match.group(1): match.group(0).split("\n", 1)[1]
        for match in re.finditer(r"# (myapp/\w+\.py)\n.*?(?=```)", guide, flags=re.S)
    }
    assert sorted(blocks) == ["myapp/jobs.py", "myapp/middleware.py"]
    (tmp_path / "myapp").mkdir()
    (tmp_path / "myapp" / "__init__.py").write_text("")
    for path, text in blocks.items():
        (tmp_path / path).write_text(text)
    url = f"sqlite:///{tmp_path / 'guide.db'}"
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "SIDEQUEST_URL": url}
    for var in ("REDIS_URL", "SIDEQUEST_REDIS_URL"):
        env.pop(var, None)
    # when an app process enqueues the two jobs and a worker loading myapp.jobs runs them
    enqueue = "import myapp.jobs as j; j.report.perform_async('monday'); j.ping.perform_async()"
    subprocess.run([sys.executable, "-c", enqueue], env=env, check=True, timeout=120, cwd=tmp_path)
    worker = subprocess.run(
        [sys.executable, "-m", "sidequest", "worker", "-r", "myapp.jobs", "--url", url, "--burst"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    # then the server middleware timed the report, stamped by the client middleware, and not the ping
    assert worker.returncode == 0, worker.stderr
    timed = [line for line in worker.stderr.splitlines() if " took " in line]
    assert len(timed) == 1, worker.stderr
    assert re.search(r"myapp\.jobs\.report took [\d.]+ ms, enqueued by .+:\d+", timed[0])
