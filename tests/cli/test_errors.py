"""A mistake the user must fix ends `sidequest worker` with one `Error:` line and exit code 2."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.cli.conftest import Run, write

JOBS = """
from sidequest import job

@job
def hello(name):
    print("hello", name)
"""


def assert_one_error_line(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """Exit 2, and stderr is exactly one line, `Error: ...`, holding every fragment (no traceback)."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize(
    ("url", "fragments"),
    [
        ("postgres://app:s3cret@localhost/db", ["unknown scheme 'postgres'", "redis://", "sqlite:///"]),
        ("sqlite://x.db", ["'sqlite://x.db' is not valid", "sqlite:///relative/path.db"]),
        ("sqlite:///nonexistent-dir/x.db", ["nonexistent-dir", "does not exist"]),
        ("localhost:6391", ["has no scheme", "did you mean redis://localhost:6391?"]),
    ],
)
def test_a_bad_store_url_is_one_line(sidequest: Run, project: Path, url: str, fragments: list[str]) -> None:
    # given a jobs module and a store URL with a mistake in it
    write(project / "jobs.py", JOBS)
    # when the worker starts on it
    result = sidequest("worker", "-r", "jobs", "--burst", "--url", url)
    # then it says what is wrong in one line, without the password, and exits 2
    assert_one_error_line(result, *fragments)
    assert "s3cret" not in result.stderr


def test_a_bad_environment_value_names_the_variable(sidequest: Run, project: Path) -> None:
    write(project / "jobs.py", JOBS)
    result = sidequest("worker", "-r", "jobs", "--burst", env={"SIDEQUEST_CONCURRENCY": "abc"})
    assert_one_error_line(result, "SIDEQUEST_CONCURRENCY='abc'", "concurrency must be an integer")


def test_a_bad_value_in_the_config_file_names_the_file(sidequest: Run, project: Path) -> None:
    write(project / "jobs.py", JOBS)
    write(project / "sidequest.toml", "concurrency = 0\n")
    result = sidequest("worker", "-r", "jobs", "--burst", "-C", "sidequest.toml")
    assert_one_error_line(result, "config file sidequest.toml", "concurrency must be at least 1, got 0")


def test_a_misspelled_config_key_gets_did_you_mean(sidequest: Run, project: Path) -> None:
    write(project / "jobs.py", JOBS)
    write(project / "sidequest.toml", "timout = 3\n")
    result = sidequest("worker", "-r", "jobs", "--burst", "-C", "sidequest.toml")
    assert_one_error_line(result, "unknown setting 'timout' (did you mean 'timeout'?)", "known settings:")


def test_misspelled_environment_variables_are_warned_about_with_the_likely_name(
    sidequest: Run, project: Path
) -> None:
    # given two misspelled SIDEQUEST_ variables
    write(project / "jobs.py", JOBS)
    env = {"SIDEQUEST_CONCURENCY": "3", "SIDEQUEST_QUEUE": "mailers"}
    # when a burst worker runs
    result = sidequest("worker", "-r", "jobs", "--burst", "--url", "sqlite:///jobs.db", env=env)
    # then it runs, and names the variable each was most likely meant to be
    assert result.returncode == 0, result.stderr
    assert (
        "SIDEQUEST_CONCURENCY is not a sidequest setting and is ignored; did you mean SIDEQUEST_CONCURRENCY?"
        in result.stderr
    )
    assert (
        "SIDEQUEST_QUEUE is not a sidequest setting and is ignored; did you mean SIDEQUEST_QUEUES?"
        in result.stderr
    )


def test_a_module_that_is_not_found_says_so(sidequest: Run, project: Path) -> None:
    # given a package shop without a module jbos (a typo of jobs)
    write(project / "shop" / "__init__.py", "")
    write(project / "shop" / "jobs.py", JOBS)
    result = sidequest("worker", "-r", "shop.jbos", "--burst")
    assert_one_error_line(result, "-r shop.jbos: cannot import module 'shop.jbos'", "PYTHONPATH")


@pytest.mark.parametrize(
    ("source", "error"),
    [
        (
            "import os\nimport nonexistent_dependency_xyz\n",
            "ModuleNotFoundError: No module named 'nonexistent_dependency_xyz'",
        ),
        ("x = 1\ndef broken(:\n    pass\n", "SyntaxError: "),
        ("x = 1\nraise RuntimeError('settings missing')\n", "RuntimeError: settings missing"),
        ("x = 1\nraise ValueError('first line\\nsecond line')\n", "ValueError: first line second line"),
    ],
    ids=["missing-dependency", "syntax-error", "raises-at-import", "multi-line-message"],
)
@pytest.mark.parametrize("spec", ["shop.jobs", "shop/jobs.py"])
def test_a_module_that_fails_to_import_points_at_the_users_file_and_line(
    sidequest: Run, project: Path, source: str, error: str, spec: str
) -> None:
    # given a jobs module that is found but fails while it is imported, at its line 2
    write(project / "shop" / "__init__.py", "")
    write(project / "shop" / "jobs.py", source)
    # when the worker loads it
    result = sidequest("worker", "-r", spec, "--burst")
    # then the one line names the user's file and line and the error, and does not blame PYTHONPATH
    assert_one_error_line(result, f"-r {spec}: importing it failed at shop/jobs.py:2: {error}")
    assert "PYTHONPATH" not in result.stderr


def test_a_misspelled_job_option_at_import_points_at_the_job(sidequest: Run, project: Path) -> None:
    write(project / "jobs.py", "from sidequest import job\n\n@job(retyr=3)\ndef charge():\n    pass\n")
    result = sidequest("worker", "-r", "jobs", "--burst")
    assert_one_error_line(result, "importing it failed at jobs.py:3: ConfigError: unknown job option 'retyr'")
