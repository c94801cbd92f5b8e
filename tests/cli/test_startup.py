"""What `sidequest worker` says when it starts and when a --burst run ends."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import Run, clean_env, write

JOBS = """
from sidequest import job

@job(queue="mailers")
def send_email(to):
    pass

@job(queue="critical")
def charge(amount):
    pass

@job
def flaky():
    raise RuntimeError("try again later")
"""


def test_start_names_the_jobs_the_queues_with_weights_and_the_absolute_store(
    sidequest: Run, project: Path
) -> None:
    # given a jobs module whose jobs use three queues
    write(project / "jobs.py", JOBS)
    # when a burst worker starts on a relative SQLite path, working two of them
    result = sidequest(
        "worker", "-r", "jobs", "-q", "critical,3", "-q", "default", "--burst", "--url", "sqlite:///data.db"
    )
    # then it logs the absolute store path, the queues with weights and every job with its queue
    assert result.returncode == 0, result.stderr
    log = result.stderr
    assert f"store=sqlite:///{(project / 'data.db').resolve()} " in log
    assert "queues=critical (weight 3), default (weight 1) " in log
    assert (
        "3 job(s) registered: jobs.charge -> critical, jobs.flaky -> default, jobs.send_email -> mailers"
        in log
    )
    # and warns that one job's queue is worked by no one here
    assert (
        "WARNING: registered jobs use queue(s) this worker does not work: mailers (jobs.send_email -> mailers); add them with -q mailers"
        in log
    )


def test_strict_queues_are_logged_in_their_order(sidequest: Run, project: Path) -> None:
    write(project / "jobs.py", JOBS)
    result = sidequest("worker", "-r", "jobs", "--strict", "-q", "critical", "-q", "default", "--burst")
    assert result.returncode == 0, result.stderr
    assert "queues=critical, default in strict order " in result.stderr


def test_a_redis_url_is_logged_without_its_password(sidequest: Run, redis_url: str) -> None:
    # given a Redis URL with a user and password (the test server's `default` user takes any password)
    url = redis_url.replace("redis://", "redis://default:hunter2@")
    # when a burst worker starts on it
    result = sidequest("worker", "--burst", "--url", url)
    # then the store is named with the password redacted, and the password appears nowhere
    assert result.returncode == 0, result.stderr
    assert f"store={url.replace('hunter2', '***')} " in result.stderr
    assert "hunter2" not in result.stderr


def test_no_require_is_warned_about(sidequest: Run) -> None:
    result = sidequest("worker", "--burst", "--url", "sqlite:///jobs.db")
    assert result.returncode == 0, result.stderr
    assert "WARNING: no -r given" in result.stderr
    assert "-r myapp.jobs" in result.stderr


def test_burst_ends_by_saying_what_it_left(sidequest: Run, project: Path) -> None:
    # given a failing job, a job scheduled a minute ahead and a job on a queue the worker will not work
    write(project / "jobs.py", JOBS)
    app = (
        "import jobs\n"
        "jobs.flaky.perform_async()\n"
        "jobs.charge.perform_in(60, 10)\n"
        "jobs.send_email.perform_async('a@example.com')\n"
        "jobs.send_email.perform_async('b@example.com')\n"
    )
    subprocess.run([sys.executable, "-c", app], cwd=project, env=clean_env(), check=True, timeout=60)
    # when a burst worker works only the default queue
    result = sidequest("worker", "-r", "jobs", "--burst")
    # then its last words say what it left and when the next of each comes due
    assert result.returncode == 0, result.stderr
    summary = [line for line in result.stderr.splitlines() if "burst done:" in line]
    assert len(summary) == 1
    assert re.search(
        r"burst done: left 1 retry \(next in \d+s\), 1 scheduled job \(next in \d+s\) and "
        r"2 jobs in queues this worker does not work \(mailers: 2\)$",
        summary[0],
    ), summary[0]


def test_burst_with_nothing_left_says_so(sidequest: Run, project: Path) -> None:
    write(project / "jobs.py", JOBS)
    result = sidequest("worker", "-r", "jobs", "--burst")
    assert result.returncode == 0, result.stderr
    assert "burst done: nothing left" in result.stderr


def test_several_processes_start_together_on_a_new_file(sidequest: Run, project: Path) -> None:
    # given jobs waiting in a new SQLite file... that no process has opened yet: the app enqueues later
    write(project / "jobs.py", JOBS)
    # when four burst worker processes start on it at once
    result = sidequest("worker", "-r", "jobs", "--processes", "4", "--burst", "--url", "sqlite:///fresh.db")
    # then none of them refuses the file, and all end cleanly
    assert result.returncode == 0, result.stderr
    assert "another application" not in result.stderr
    assert result.stderr.count("burst done: nothing left") == 4
