"""`-r path/to/file.py` registers jobs under the module name the application imports them by."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import Run, clean_env, write

SHOP_JOBS = """
from pathlib import Path
from sidequest import job

@job(queue="mailers")
def send_email(to):
    Path("sent.txt").write_text(to)
"""


def enqueue_from_the_app(project: Path, code: str) -> None:
    """Run code as the application would: a Python process in the project folder."""
    subprocess.run([sys.executable, "-c", code], cwd=project, env=clean_env(), check=True, timeout=60)


def test_a_file_inside_a_package_runs_the_jobs_the_app_enqueues_by_module_name(
    sidequest: Run, project: Path
) -> None:
    # given an app that enqueues shop.jobs.send_email on an SQLite store
    write(project / "shop" / "__init__.py", "")
    write(project / "shop" / "jobs.py", SHOP_JOBS)
    enqueue_from_the_app(
        project, "from shop.jobs import send_email; send_email.perform_async('a@example.com')"
    )
    # when a burst worker loads the jobs by file path
    result = sidequest("worker", "-r", "shop/jobs.py", "-q", "mailers", "--burst")
    # then the jobs are registered as shop.jobs.* and the job ran
    assert result.returncode == 0, result.stderr
    assert "shop.jobs.send_email -> mailers" in result.stderr
    assert (project / "sent.txt").read_text() == "a@example.com"
    assert "UnknownJobError" not in result.stderr


def test_a_file_in_a_folder_that_is_no_python_name_is_refused(sidequest: Run, project: Path) -> None:
    # given a package folder whose name no import statement can spell
    write(project / "my-shop" / "__init__.py", "")
    write(project / "my-shop" / "jobs.py", SHOP_JOBS)
    # when the worker is asked to load a file in it
    result = sidequest("worker", "-r", "my-shop/jobs.py", "--burst")
    # then it refuses in one line, naming the folder and what to do
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"Error: -r my-shop/jobs.py: cannot import {(project / 'my-shop' / 'jobs.py').resolve()} as a module: "
        "'my-shop' is not a valid Python name, so no import statement can reach this file; rename it, or "
        "pass the module name your application imports (-r package.module)"
    ]


def test_a_file_its_module_name_does_not_reach_is_refused(
    sidequest: Run, project: Path, tmp_path: Path
) -> None:
    # given a regular package shop on PYTHONPATH, and in the project a folder shop without __init__.py,
    # so `import shop.jobs` finds the installed package, never the project's file
    installed = tmp_path / "site"
    write(installed / "shop" / "__init__.py", "")
    write(installed / "shop" / "jobs.py", SHOP_JOBS)
    write(project / "shop" / "jobs.py", SHOP_JOBS)
    # when the worker is asked to load the project's file
    result = sidequest("worker", "-r", "shop/jobs.py", "--burst", env={"PYTHONPATH": str(installed)})
    # then it refuses instead of running the other file's jobs
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "this file's module name is shop.jobs, but importing shop.jobs loads" in lines[0]
    assert str((installed / "shop" / "jobs.py").resolve()) in lines[0]


def test_a_file_whose_package_name_is_taken_by_another_package_is_refused(
    sidequest: Run, project: Path, tmp_path: Path
) -> None:
    # given a regular package shop on PYTHONPATH without a jobs module, and the project's shop/jobs.py
    installed = tmp_path / "site"
    write(installed / "shop" / "__init__.py", "")
    write(project / "shop" / "jobs.py", SHOP_JOBS)
    # when the worker is asked to load the project's file
    result = sidequest("worker", "-r", "shop/jobs.py", "--burst", env={"PYTHONPATH": str(installed)})
    # then it says another package took the name, not that the file is missing from PYTHONPATH
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "Error: -r shop/jobs.py: this file's module name is shop.jobs, but importing shop.jobs finds no "
        "module shop.jobs (another sys.path entry holds a package of that name); rename one of them, or "
        "pass the module name your application imports"
    ]


def test_a_file_outside_the_project_loads_by_its_own_name(
    sidequest: Run, project: Path, tmp_path: Path
) -> None:
    # given a jobs file in a folder on no import path (and no package around it)
    write(tmp_path / "elsewhere" / "standalone_jobs.py", SHOP_JOBS)
    # when the worker loads it by path
    result = sidequest("worker", "-r", str(tmp_path / "elsewhere" / "standalone_jobs.py"), "--burst")
    # then its jobs are registered under the file's name, as `python standalone_jobs.py` would import it
    assert result.returncode == 0, result.stderr
    assert "standalone_jobs.send_email -> mailers" in result.stderr


def test_a_package_file_outside_the_project_is_named_from_its_packages(
    sidequest: Run, project: Path, tmp_path: Path
) -> None:
    # given a jobs file inside a package, in a folder on no import path
    write(tmp_path / "elsewhere" / "billing" / "__init__.py", "")
    write(tmp_path / "elsewhere" / "billing" / "jobs.py", SHOP_JOBS)
    # when the worker loads it by path
    result = sidequest("worker", "-r", str(tmp_path / "elsewhere" / "billing" / "jobs.py"), "--burst")
    # then its jobs carry the package's name, as an import from the folder above the package gives them
    assert result.returncode == 0, result.stderr
    assert "billing.jobs.send_email -> mailers" in result.stderr
