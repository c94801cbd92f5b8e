"""A store that refuses the worker for good ends it at once; a --burst worker does not wait forever."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

import sidequest
from sidequest.errors import StoreUnavailable
from sidequest.runtime.launcher import EXIT_STORE_UNUSABLE, Launcher
from sidequest.runtime.report import permanent_problem
from sidequest.stores import open_store
from tests.cli.conftest import Run, clean_env, write
from tests.support.redis_server import RedisServer, free_port


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "Error" in line or "ERROR" in line]


@pytest.mark.parametrize("processes", ["1", "2"])
@pytest.mark.parametrize(
    ("make_url", "fragment"),
    [  # (a test server's users: `default` without a password; `nobody` does not exist)
        (lambda server: server.url.rsplit("/", 1)[0] + "/99", "DB index is out of range"),
        (
            lambda server: server.url.replace("redis://", "redis://nobody:wrong@"),
            "refused the credentials",
        ),
        (lambda server: "redis://nohost.invalid:6379/0", "the host name 'nohost.invalid'"),
    ],
    ids=["db-index", "credentials", "unresolvable-host"],
)
def test_a_permanent_refusal_at_start_is_one_line_and_a_non_zero_exit(
    sidequest: Run,
    redis_server: RedisServer,
    make_url: Callable[[RedisServer], str],
    fragment: str,
    processes: str,
) -> None:
    # given a store URL that Redis will refuse however long we retry
    url = make_url(redis_server)
    # when a worker (not even in burst mode) starts on it
    result = sidequest("worker", "--url", url, "--processes", processes, timeout=60)
    # then it stops at once with one line saying why
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(error_lines(result.stderr)) == 1, result.stderr
    assert lines[-1].startswith("Error: cannot start: ") and fragment in lines[-1], result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_burst_worker_gives_up_on_an_unreachable_store(
    sidequest: Run, project: Path, processes: str
) -> None:
    # given nothing listening on a port, and burst workers allowed to wait one second for it
    write(project / "sidequest.toml", "burst_store_wait = 1\n")
    url = f"redis://127.0.0.1:{free_port()}/0"
    # when they start
    result = sidequest(
        "worker", "--burst", "--url", url, "-C", "sidequest.toml", "--processes", processes, timeout=60
    )
    # then each says it is waiting, then gives up, and the command exits 3 (not restarted by a supervisor)
    assert result.returncode == 3, result.stderr
    assert result.stderr.count(
        f"cannot reach the store at {url}; retrying with backoff (giving up after 1s)"
    ) == int(processes)
    assert result.stderr.count(f"giving up: the store at {url} stayed unreachable for 1s") == int(processes)


def test_a_burst_worker_gives_up_when_the_store_goes_away(
    sidequest: Run, project: Path, redis_server_factory: Callable[..., RedisServer]
) -> None:
    # given a Redis of its own holding one job, which kills that Redis while the burst worker runs it
    server = redis_server_factory()
    write(
        project / "jobs.py",
        "import os, signal, time\nfrom sidequest import job\n\n"
        "@job\ndef stop_redis(pid):\n    os.kill(pid, signal.SIGKILL)\n    time.sleep(0.5)\n",
    )
    write(project / "sidequest.toml", "burst_store_wait = 1\n")
    assert server.process is not None
    enqueue = (
        f"import sidequest; sidequest.configure(url={server.url!r}); import jobs; "
        f"jobs.stop_redis.perform_async({server.process.pid})"
    )
    subprocess.run([sys.executable, "-c", enqueue], cwd=project, env=clean_env(), check=True, timeout=60)
    # when a burst worker runs it, and Redis is then gone for good
    result = sidequest(
        "worker", "-r", "jobs", "--burst", "--url", server.url, "-C", "sidequest.toml", timeout=90
    )
    # then the worker gives up with exit code 3 instead of waiting forever
    assert result.returncode == 3, result.stderr
    assert "giving up: the store stayed unreachable for 1s" in result.stderr


def test_the_launcher_itself_stops_on_a_refusal_for_good(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    # given a worker embedded without the command's check, on a database index Redis does not have
    sidequest.configure(url=redis_server.url.rsplit("/", 1)[0] + "/99")
    # when it runs (not in burst mode)
    launcher = Launcher(sidequest.get_config())
    codes: list[int] = []
    with caplog.at_level("ERROR", logger="sidequest"):
        runner = threading.Thread(target=lambda: codes.append(launcher.run()), daemon=True)
        runner.start()
        runner.join(30)
        if runner.is_alive():  # still retrying: stop it so the failure leaves nothing running
            launcher.request_stop()
            runner.join(30)
            pytest.fail("the launcher kept retrying a store that refuses it for good")
    code = codes[0]
    # then it stops at once, saying why, instead of retrying forever
    assert code == EXIT_STORE_UNUSABLE
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        f"cannot start: Redis at {redis_server.url.rsplit('/', 1)[0]}/99 refused ping: DB index is out of range"
    ]


def test_only_a_name_that_does_not_resolve_counts_as_permanent_among_outages() -> None:
    # given a host name that does not resolve, and a port where nothing listens
    for url, permanent in (
        ("redis://nohost.invalid:6379/0", True),
        (f"redis://127.0.0.1:{free_port()}/0", False),
    ):
        store = open_store(url)
        try:
            with pytest.raises(StoreUnavailable) as raised:
                store.ping()
            # then only the first is a problem no retry fixes
            problem = permanent_problem(store, raised.value)
            assert (problem is not None) == permanent, (url, problem)
        finally:
            store.close()
