"""A worker loads only what running jobs needs: the operator CLI, the dashboard, the API and batches
are imported when first used. Each module a worker loads for nothing costs every worker process
start-up time and resident memory (docs/benchmarks.md, idle RSS)."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from sidequest.cli import main


def _fresh(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_the_worker_cli_loads_no_operator_dashboard_or_batch_module() -> None:
    loaded = _fresh(
        "import sys, sidequest, sidequest.cli, sidequest.runtime.launcher\n"
        "print(sorted(m for m in sys.modules if m.startswith(("
        "'sidequest.cli_ops', 'sidequest.web', 'sidequest.api', 'sidequest.batches', 'uvicorn', 'starlette'))))"
    )
    assert loaded == "[]"


def test_the_worker_loads_no_module_that_only_errors_settings_files_or_schedules_need() -> None:
    # difflib (hints in error messages), tomllib (a settings file), zoneinfo and sysconfig (a
    # schedule's time zone), hmac through secrets (jids), ctypes.util (finding libc): about 0.4 MB
    # of an idle worker's memory together, before they moved into the functions that use them
    loaded = _fresh(
        "import sys, sidequest, sidequest.cli, sidequest.runtime.launcher, sidequest.stores.redis\n"
        "from sidequest.runtime.malloc import release_free_memory\n"
        "release_free_memory()\n"
        "sidequest.payload.new_jid()\n"
        "print(sorted(m for m in ('difflib', 'tomllib', 'zoneinfo', 'sysconfig', 'ctypes.util', 'secrets')"
        " if m in sys.modules))"
    )
    assert loaded == "[]"


def test_the_library_batch_job_is_found_in_a_worker_that_never_imported_batches() -> None:
    found = _fresh(
        "import sys, sidequest\n"
        "from sidequest import registry\n"
        "assert 'sidequest.batches' not in sys.modules\n"
        "print(registry.lookup('sidequest.BatchChild').name)"
    )
    assert found == "sidequest.BatchChild"


def test_public_batch_names_load_on_first_use() -> None:
    names = _fresh("import sidequest\nprint(sidequest.Batch.__name__, sidequest.wait.__name__)")
    assert names == "Batch wait"


def test_help_lists_every_command_and_each_lazy_one_runs() -> None:
    runner = CliRunner()
    listing = runner.invoke(main, ["--help"])
    assert listing.exit_code == 0
    for name in (
        "worker",
        "demo",
        "stats",
        "queues",
        "queue",
        "retries",
        "scheduled",
        "dead",
        "busy",
        "processes",
        "periodic",
        "web",
        "batches",
    ):
        assert f"  {name} " in listing.output or f"  {name}\n" in listing.output, name
        assert runner.invoke(main, [name, "--help"]).exit_code == 0, name
