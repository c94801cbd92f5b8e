"""The worker's log lines: Sidekiq's content, what happens next, the user's own logging configuration.

In-process burst workers on the memory store, logging set up as the worker command does
(sidequest.logging.setup) and written to pytest's captured stderr.
"""

from __future__ import annotations

import json
import logging
import re
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import sidequest
from sidequest import enqueue, job
from sidequest import logging as sq_logging
from sidequest.runtime.launcher import Launcher
from sidequest.stores import Store
from sidequest.stores.memory import MemoryStore
from tests.support.worker import Worker, ledger, wait_for

sidequest_logger = logging.getLogger("sidequest")


@pytest.fixture
def worker_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[..., str]]:
    """Logging set up as the worker command does, then the user's changes (then), then a burst worker
    run in-process: returns what it wrote to stderr."""

    def run(log_format: str = "text", level: str = "INFO", then: Callable[[], object] = lambda: None) -> str:
        sq_logging.setup(log_format, level)
        then()
        assert Launcher(sidequest.get_config(), burst=True).run() == 0
        return capsys.readouterr().err

    yield run
    for handler in sidequest_logger.handlers:
        handler.close()  # ends the worker handler's flusher thread
    sidequest_logger.handlers.clear()
    sidequest_logger.filters.clear()
    sidequest_logger.propagate = True
    sidequest_logger.setLevel(logging.NOTSET)


def test_default_lines_carry_sidekiqs_content_and_the_queue(
    memory_store: MemoryStore, worker_logs: Callable[..., str]
) -> None:
    # given a job on queue "mail", which the worker works
    sidequest.get_config().update(queues=(("mail", 1),))

    @job(name="tests.logging.plain", queue="mail")
    def plain() -> None: ...

    jid = plain.perform_async()
    # when a worker with the default logging runs it
    err = worker_logs()
    # then a start and a done line carry time, pid, tid, class, jid, queue, and the done line its elapsed
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    fields = rf"pid=\d+ tid=[0-9a-z]+ class=tests\.logging\.plain jid={jid} queue=mail"
    assert re.search(rf"^{stamp} {fields} INFO: start$", err, re.M), err
    assert re.search(rf"^{stamp} {fields} elapsed=\d+\.\d+ INFO: done$", err, re.M), err


def test_a_handler_the_user_adds_sees_each_job_line_with_its_context(
    memory_store: MemoryStore, worker_logs: Callable[..., str]
) -> None:
    # given the user's own handler on the "sidequest" logger, beside the worker's
    @job(name="tests.logging.seen")
    def seen() -> None: ...

    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    jid = seen.perform_async()
    # when a worker runs the job
    err = worker_logs(then=lambda: sidequest_logger.addHandler(handler))
    # then the user's handler gets a record per line, with the job's context on record.sidequest,
    # and stderr still has both lines
    job_records = [r for r in records if getattr(r, "sidequest", {}).get("jid") == jid]
    assert [r.getMessage() for r in job_records] == ["start", "done"]
    assert job_records[1].sidequest["class"] == "tests.logging.seen"  # type: ignore[attr-defined]
    assert f"jid={jid} queue=default INFO: start" in err and "INFO: done" in err


def test_a_filter_the_user_adds_drops_the_lines_it_rejects(
    memory_store: MemoryStore, worker_logs: Callable[..., str]
) -> None:
    # given a filter on the "sidequest" logger that rejects start lines
    @job(name="tests.logging.filtered")
    def filtered() -> None: ...

    jid = filtered.perform_async()
    # when a worker runs the job
    err = worker_logs(then=lambda: sidequest_logger.addFilter(lambda record: record.getMessage() != "start"))
    # then the done line is written and the start line is not
    assert f"jid={jid} queue=default elapsed=" in err
    assert "INFO: start" not in err


def test_a_level_the_user_sets_on_the_logger_silences_job_lines_but_not_failures(
    memory_store: MemoryStore, worker_logs: Callable[..., str]
) -> None:
    # given the "sidequest" logger raised to WARNING after setup
    @job(name="tests.logging.quiet_fail", retry=0)
    def quiet_fail() -> None:
        raise ValueError("boom")

    @job(name="tests.logging.quiet_ok")
    def quiet_ok() -> None: ...

    quiet_ok.perform_async()
    quiet_fail.perform_async()
    # when a worker runs the jobs
    err = worker_logs(then=lambda: sidequest_logger.setLevel(logging.WARNING))
    # then no start, done or fail line is written; the failure's error and dead warning are
    assert "INFO:" not in err
    assert "ValueError: boom" in err and "is dead after 0 retries" in err


def test_json_lines_write_numbers_as_numbers(
    memory_store: MemoryStore, worker_logs: Callable[..., str]
) -> None:
    # given a job that fails once and a job that succeeds
    @job(name="tests.logging.json_fail", retry=3)
    def json_fail() -> None:
        raise OSError("disk")

    @job(name="tests.logging.json_ok")
    def json_ok() -> None: ...

    ok_jid = json_ok.perform_async()
    fail_jid = json_fail.perform_async()
    # when a worker with the JSON format runs them
    lines = [json.loads(line) for line in worker_logs("json").splitlines() if line.startswith("{")]
    # then elapsed, pid and the retry count are numbers, the context names the job and its queue
    done = next(line for line in lines if line["msg"] == "done")
    assert done["ctx"]["jid"] == ok_jid and done["ctx"]["queue"] == "default"
    assert isinstance(done["ctx"]["elapsed"], float) and isinstance(done["pid"], int)
    fail = next(line for line in lines if line["msg"].startswith("fail"))
    assert fail["ctx"]["jid"] == fail_jid and fail["ctx"]["retry_count"] == 0
    assert re.fullmatch(r"fail: retry 1 of 3 at \d\d:\d\d:\d\d", fail["msg"]), fail["msg"]
    assert isinstance(fail["ctx"]["elapsed"], float)


def test_the_fail_line_says_what_happens_next(
    memory_store: MemoryStore, worker_logs: Callable[..., str]
) -> None:
    # given a job with retries left, one with none, and one that never retries
    @job(name="tests.logging.retried", retry=5)
    def retried() -> None:
        raise OSError("again")

    @job(name="tests.logging.buried", retry=0)
    def buried() -> None:
        raise OSError("gone")

    @job(name="tests.logging.dropped", retry=False)
    def dropped() -> None:
        raise OSError("never mind")

    retried_jid, buried_jid, dropped_jid = (
        retried.perform_async(),
        buried.perform_async(),
        dropped.perform_async(),
    )
    # when a worker runs them
    err = worker_logs()
    # then each fail line carries the job's elapsed time and its next step: a retry and when, or where it went
    assert re.search(
        rf"jid={retried_jid} queue=default elapsed=\S+ retry_count=0 INFO: fail: retry 1 of 5 at \d\d:\d\d:\d\d$",
        err,
        re.M,
    ), err
    assert re.search(rf"jid={buried_jid} .* INFO: fail: dead$", err, re.M), err
    assert re.search(rf"jid={dropped_jid} .* INFO: fail: dropped \(retry: false\)$", err, re.M), err


def test_failures_only_keeps_fail_lines_and_the_rest_of_info(
    memory_store: MemoryStore, worker_logs: Callable[..., str]
) -> None:
    # given job_logging = "failures"
    sidequest.get_config().update(job_logging="failures")

    @job(name="tests.logging.only_ok")
    def only_ok() -> None: ...

    @job(name="tests.logging.only_fail")
    def only_fail() -> None:
        raise OSError("disk")

    ok_jid, fail_jid = only_ok.perform_async(), only_fail.perform_async()
    # when a worker runs a job that succeeds and one that fails
    err = worker_logs()
    # then only the failure has a line; the worker's own INFO lines are still there
    assert ok_jid not in err and "INFO: start" not in err and "INFO: done" not in err
    assert re.search(rf"jid={fail_jid} .* INFO: fail: retry 1 of 25 at ", err), err
    assert "INFO: bye" in err


def _raise_in_user_code() -> None:
    raise LookupError("no such row")


def test_a_jobs_traceback_starts_at_the_users_frames_and_is_whole_at_debug(
    memory_store: MemoryStore, worker_logs: Callable[..., str]
) -> None:
    # given a job whose exception comes from a function it calls
    @job(name="tests.logging.traced", retry=False)
    def traced() -> None:
        _raise_in_user_code()

    traced.perform_async()
    # when a worker at INFO runs it
    err = worker_logs()
    # then the traceback's first frame is the job's own function, then the one it called
    frames = re.findall(r'^  File "([^"]+)", line \d+, in (\w+)$', err, re.M)
    assert [name for _, name in frames] == ["traced", "_raise_in_user_code"], err
    assert "LookupError: no such row" in err


def test_an_async_jobs_traceback_starts_at_the_users_frames(
    memory_store: MemoryStore, worker_logs: Callable[..., str]
) -> None:
    # given an async job whose exception comes from a function it calls
    @job(name="tests.logging.traced_async", retry=False)
    async def traced_async() -> None:
        _raise_in_user_code()

    traced_async.perform_async()
    # when a worker at INFO runs it
    err = worker_logs()
    # then neither our frames nor the event loop's come first
    frames = re.findall(r'^  File "([^"]+)", line \d+, in (\w+)$', err, re.M)
    assert [name for _, name in frames] == ["traced_async", "_raise_in_user_code"], err


def test_at_debug_a_jobs_traceback_keeps_the_frames_that_ran_it(
    memory_store: MemoryStore, worker_logs: Callable[..., str]
) -> None:
    # given the same kind of job, and a worker at DEBUG
    @job(name="tests.logging.traced_debug", retry=False)
    def traced_debug() -> None:
        _raise_in_user_code()

    traced_debug.perform_async()
    err = worker_logs("text", "DEBUG")
    # then the traceback starts where the worker caught it
    frames = re.findall(r'^  File "([^"]+)", line \d+, in (\w+)$', err, re.M)
    assert frames[0][1] == "process" and frames[-1][1] == "_raise_in_user_code", err


@pytest.mark.slow
@pytest.mark.parametrize("url", ["redis"], indirect=True)
@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_burst_worker_process_writes_every_job_line_before_it_exits(
    store: Store, workers: Callable[..., Worker], tmp_path: Path, processes: str
) -> None:
    # given 300 jobs in the store
    for n in range(300):
        enqueue("tests.record", [str(n)])
    # when a burst worker (one process, or a supervisor forking two) runs them at the default INFO
    worker = workers("-c", "4", "--burst", "--processes", processes)
    assert worker.wait(timeout=60) == 0, worker.output()
    # then its output has every start and done line, though job lines are written in batches
    output = worker.output()
    assert len(ledger(tmp_path)) == 300
    assert output.count("INFO: start\n") == 300 and output.count("INFO: done\n") == 300, output[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("url", ["redis"], indirect=True)
def test_a_running_jobs_start_line_and_a_failure_are_written_while_the_worker_runs(
    store: Store, workers: Callable[..., Worker], tmp_path: Path
) -> None:
    # given a worker running a long job
    slow_jid = enqueue("tests.sleepy", [60, "slow"])
    worker = workers("-c", "2")
    # then the long job's start line reaches the log while it runs (the flusher writes queued lines)
    wait_for(lambda: f"jid={slow_jid} queue=default INFO: start" in worker.output(), 10, "the start line")
    # and when a job fails, its fail line is written at once: a worker killed once the failure is
    # counted (the heartbeat writes the count after the job's outcome is logged) keeps it
    failed_jid = enqueue("tests.exits", ["boom"])
    wait_for(lambda: store.counters().failed == 1, 10, "the failure to be counted")
    worker.signal(signal.SIGKILL)
    worker.wait()
    assert re.search(rf"jid={failed_jid} .* INFO: fail: retry 1 of 25 at ", worker.output()), worker.output()
