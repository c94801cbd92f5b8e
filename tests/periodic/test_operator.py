"""What an operator sees and does: the settings file's schedules, a worker refusing a bad one, and
`sidequest periodic list|pause|resume|run`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from sidequest.api import Periodic
from sidequest.cli import main
from sidequest.config import get_config
from sidequest.periodic import Schedule
from sidequest.periodic.scheduler import Scheduler
from sidequest.stores import Store
from tests.periodic.test_scheduler import Report
from tests.support.worker import wait_for, worker_command

JOBS = Path(__file__).with_name("settings_jobs.py")
MINUTE = 1_795_999_980.0  # on a minute boundary


def worker(url: str, tmp_path: Path, settings: str, *extra: str) -> subprocess.Popen[str]:
    config = tmp_path / "sidequest.toml"
    config.write_text("heartbeat_interval = 0.5\nprocess_ttl = 2\npoll_interval = 0.1\n" + settings)
    env = {**os.environ, "SIDEQUEST_TEST_LEDGER": str(tmp_path / "ledger.txt")}
    for var in ("REDIS_URL", "SIDEQUEST_REDIS_URL", "SIDEQUEST_URL"):
        env.pop(var, None)
    return subprocess.Popen(
        worker_command(JOBS, url, config, *extra),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.slow
def test_a_schedule_in_the_settings_file_runs_in_a_worker(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'settings.db'}"
    process = worker(
        url,
        tmp_path,
        '[periodic.stamp]\ncron = "* * * * * *"\njob = "tests.stamp"\nargs = ["from-settings"]\n',
    )
    ledger = tmp_path / "ledger.txt"
    try:
        wait_for(
            lambda: ledger.exists() and len(ledger.read_text().splitlines()) >= 2, what="two ticks to run"
        )
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)

    labels = {line.split()[0] for line in ledger.read_text().splitlines()}
    assert labels == {"from-settings"}


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            'cron = "*/5 * * * *"\njob = "tests.nobody"',
            "'nightly' names job 'tests.nobody', which is not registered",
        ),
        ('cron = "0 25 * * *"\njob = "tests.stamp"', "'nightly' has an invalid cron expression '0 25 * * *'"),
        ('cron = "@daily"\njob = "tests.stamp"\ntz = "Asia/Atlantis"', "unknown time zone 'Asia/Atlantis'"),
    ],
)
def test_a_worker_with_a_bad_schedule_does_not_start_and_says_why(
    tmp_path: Path, table: str, message: str
) -> None:
    process = worker(
        f"sqlite:///{tmp_path / 'bad.db'}", tmp_path, f"[periodic.nightly]\n{table}\n", "--burst"
    )

    output, _ = process.communicate(timeout=60)

    assert process.returncode != 0
    assert message in output
    assert "Traceback" not in output


# ---- operator API and CLI ----------------------------------------------------------------------


def test_the_cli_lists_pauses_resumes_and_runs_a_schedule(shared_store: Store) -> None:
    # given a worker that registered a schedule
    store = shared_store
    schedule = Schedule(
        "nightly-report", "0 3 * * *", Report.definition.name, args=("daily",), tz="Asia/Jakarta"
    )
    Scheduler(get_config(), store, [schedule]).sync()
    runner = CliRunner()
    url = ["--url", store.url]

    listed = runner.invoke(main, ["periodic", "list", *url])
    paused = runner.invoke(main, ["periodic", "pause", "nightly-report", *url])
    after_pause = runner.invoke(main, ["periodic", "list", *url])
    resumed = runner.invoke(main, ["periodic", "resume", "nightly-report", *url])
    ran = runner.invoke(main, ["periodic", "run", "nightly-report", *url])
    unknown = runner.invoke(main, ["periodic", "run", "nope", *url])
    as_json = runner.invoke(main, ["periodic", "list", "--json", *url])

    assert listed.exit_code == 0, listed.output
    line = listed.output.splitlines()[1]
    assert (
        "nightly-report" in line
        and "0 3 * * * (Asia/Jakarta)" in line
        and "reports" in line
        and "active" in line
    )
    next_run = Periodic(store).get("nightly-report").next_run
    assert next_run is not None
    assert next_run.astimezone(UTC).strftime("%H:%M") == "20:00"  # 03:00 in Jakarta
    assert paused.exit_code == 0 and "paused" in after_pause.output.splitlines()[1]
    assert resumed.exit_code == 0 and "resumed nightly-report; next run" in resumed.output
    assert ran.exit_code == 0 and "enqueued nightly-report now as jid" in ran.output
    [raw] = store.queue_range("reports", 0, -1)
    job = json.loads(raw)
    assert job["periodic"]["name"] == "nightly-report" and job["periodic"]["manual"] is True
    assert unknown.exit_code != 0 and "no periodic schedule named 'nope'" in unknown.output
    [listed_json] = json.loads(as_json.output)
    assert (listed_json["name"], listed_json["last_jid"]) == ("nightly-report", job["jid"])


def test_the_api_shows_the_last_run_and_its_outcome(store: Store) -> None:
    from sidequest import payload as wire
    from sidequest.periodic.scheduler import install_outcome_middleware
    from sidequest.runtime.execute import run_job

    schedule = Schedule("minutely", "* * * * *", Report.definition.name, args=("x",))
    worker = Scheduler(get_config(), store, [schedule])
    worker.sync(MINUTE)
    install_outcome_middleware(get_config())
    worker.step(MINUTE + 60)
    [work] = store.fetch("test:1:abc", ["reports"], 1)

    before = Periodic(store).get("minutely")
    run_job(wire.loads(work.payload), get_config())
    after = Periodic(store).get("minutely")

    assert (before.last_tick, before.last_outcome) == (datetime.fromtimestamp(MINUTE + 60, UTC), None)
    assert before.last_jid == json.loads(work.payload)["jid"]
    assert after.last_outcome == "done"


def test_pyproject_periodic_tables_become_schedules(tmp_path: Path) -> None:
    from sidequest.config import settings_from_toml
    from sidequest.errors import ConfigError
    from sidequest.periodic import declared

    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[tool.sidequest]\nconcurrency = 5\n\n[tool.sidequest.periodic.cleanup]\ncron = "@daily"\njob = "tests.stamp"\n'
    )

    get_config().update(**settings_from_toml(pyproject))

    [schedule] = declared(get_config().settings.periodic)
    assert (schedule.name, schedule.cron, schedule.job) == ("cleanup", "@daily", "tests.stamp")
    with pytest.raises(ConfigError, match="periodic must be a table of schedules"):
        get_config().update(periodic={"cleanup": "@daily"})


def test_sidequest_periodic_in_the_environment_holds_the_tables_as_json() -> None:
    from sidequest.config import settings_from_env
    from sidequest.errors import ConfigError
    from sidequest.periodic import declared

    tables = {"cleanup": {"cron": "@hourly", "job": "tests.stamp", "tz": "Asia/Jakarta"}}
    get_config().update(**settings_from_env({"SIDEQUEST_PERIODIC": json.dumps(tables)}))

    [schedule] = declared(get_config().settings.periodic)
    assert (schedule.name, schedule.cron, schedule.tz) == ("cleanup", "@hourly", "Asia/Jakarta")
    with pytest.raises(ConfigError, match="periodic must be JSON of schedule tables"):
        get_config().update(**settings_from_env({"SIDEQUEST_PERIODIC": "cleanup=@hourly"}))
