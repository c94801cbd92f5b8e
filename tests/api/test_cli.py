"""The operator commands as a user runs them, against SQLite and Redis (click's runner, real stores)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from sidequest.cli import main
from sidequest.payload import dumps
from sidequest.stores import Store
from tests.api.conftest import NOW, beat, failed, job


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def jid(n: int) -> str:
    return f"{n:0>24}"


def test_stats_in_a_folder_without_a_store_says_so_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    result = run("stats")

    assert result.exit_code == 2
    assert f"no store at {tmp_path / 'sidequest.db'}" in result.output
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_stats_shows_counters_queues_and_processes_with_quiet_state(url: str, url_store: Store) -> None:
    url_store.push([("default", job(1)), ("mailers", job(2, queue="mailers"))])
    url_store.add_to_set("retry", [(NOW, failed(3))])
    url_store.add_counts(1234, 5, NOW)
    url_store.beat(beat("box:11:aaa", busy=1))
    url_store.beat(beat("box:12:bbb", quiet=True))

    result = run("stats", "--url", url)

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert (
        lines[0] == f"store: {url.removeprefix('sqlite:///')}"
        if url.startswith("sqlite")
        else lines[0] == f"store: {url}"
    )
    assert "processed  1,234" in lines
    assert "enqueued       2" in lines and "retries        1" in lines
    assert any(line.split()[:2] == ["mailers", "1"] for line in lines)
    quiet_line = next(line for line in lines if line.startswith("box:12:bbb"))
    assert quiet_line.endswith("quiet")
    assert "held by dead" not in result.output


def test_stats_shows_jobs_held_by_a_dead_process_instead_of_zeros(url: str, url_store: Store) -> None:
    url_store.push([("default", job(1, "Charge"))])
    url_store.beat(beat("box:11:aaa", ttl=0.2))
    url_store.fetch("box:11:aaa", ["default"], 1)
    from tests.support.worker import wait_for

    wait_for(lambda: not url_store.processes(), what="the process's heartbeat to expire")

    result = run("stats", "--url", url)

    assert "held by dead processes: 1 job(s), waiting for recovery" in result.output
    assert any(line.split()[:3] == ["box:11:aaa", "default", "Charge"] for line in result.output.splitlines())
    data = json.loads(run("stats", "--url", url, "--json").output)
    assert data["stats"]["held_by_dead"] == 1 and data["held_by_dead"][0]["job"]["jid"] == jid(1)


def test_queues_pause_resume_and_clear(url: str, url_store: Store) -> None:
    url_store.push([("mailers", job(i, queue="mailers")) for i in range(3)])

    paused = run("queue", "pause", "mailers", "--url", url)
    listing = run("queues", "--url", url)

    assert paused.output.strip() == "queue mailers paused: workers take none of its 3 job(s) until resumed"
    name, size, latency, state = listing.output.splitlines()[1].split()
    assert (name, size, state) == ("mailers", "3", "paused") and latency[0].isdigit()
    assert url_store.fetch("box:1:aaa", ["mailers"], 5) == []
    run("queue", "resume", "mailers", "--url", url)
    assert json.loads(run("queues", "--url", url, "--json").output)[0]["paused"] is False
    assert (
        run("queue", "clear", "mailers", "--url", url).output.strip()
        == "queue mailers cleared: 3 job(s) deleted"
    )
    assert url_store.queue_names() == []


def test_retries_list_shows_class_args_error_and_age(url: str, url_store: Store) -> None:
    url_store.add_to_set(
        "retry",
        [
            (NOW + 60, failed(1, "Charge", "card declined", args=[42, "eur"])),
            (NOW + 90, failed(2, "Mailer", "smtp down")),
        ],
    )

    result = run("retries", "--url", url)  # list is the default

    header, newest, oldest, footer = result.output.splitlines()
    assert header.split() == ["jid", "class", "args", "error", "next", "retry", "age"]
    assert newest.split()[:3] == [jid(2), "Mailer", "[2]"]
    assert oldest.split()[:3] == [jid(1), "Charge", '[42,"eur"]']
    assert "RuntimeError: card declined" in oldest and oldest.endswith("ago")
    assert footer == "page 1 of 1 (2 in retries)"
    filtered = run("retries", "list", "--class", "Charge", "--url", url, "--json")
    assert [e["jid"] for e in json.loads(filtered.output)["items"]] == [jid(1)]


def test_show_retry_and_delete_one_retry(url: str, url_store: Store) -> None:
    url_store.add_to_set("retry", [(NOW, failed(1, "Charge", "card declined")), (NOW, failed(2))])

    shown = run("retries", "show", jid(1), "--url", url)
    retried = run("retries", "retry", jid(1), "--url", url)
    deleted = run("retries", "delete", jid(2), "--url", url)

    assert "error        RuntimeError: card declined" in shown.output
    assert "  shop/jobs.py:12:in `perform'" in shown.output
    assert retried.output.strip() == f"Charge {jid(1)} enqueued"
    assert deleted.output.strip() == f"HardJob {jid(2)} deleted"
    assert url_store.set_size("retry") == 0 and url_store.queue_size("default") == 1


def test_an_unknown_jid_is_one_line_and_a_usage_error(url: str, url_store: Store) -> None:
    result = run("dead", "retry", jid(9), "--url", url)

    assert result.exit_code == 2
    assert result.output.strip() == (
        f"Error: no job '{jid(9)}' in the dead set; it may have run, moved or been deleted "
        "(list the set to see what is there)"
    )


def test_what_the_user_must_fix_is_one_line_and_exit_status_2(url: str, url_store: Store) -> None:
    # given a store with one queue and one live process
    url_store.push([("mailers", job(1, queue="mailers"))])
    url_store.beat(beat("box:11:aaa"))
    mistakes = {
        ("queue", "jobs", "mailer"): "no queue 'mailer' in this store (its queues: mailers)",
        ("queue", "clear", "mailer"): "no queue 'mailer' in this store",
        ("queue", "resume", "mailer"): "no queue 'mailer' in this store",
        ("retries", "show", jid(9)): f"no job '{jid(9)}' in the retry set",
        ("processes", "quiet", "box:99:zzz"): "no live process 'box:99:zzz'",
        ("batches", "show", "no-such-batch"): "no-such-batch",
        ("periodic", "pause", "nightly"): "no periodic schedule named 'nightly'",
        ("dead", "list", "--page", "0"): "page and per_page start at 1",
    }
    for args, fragment in mistakes.items():
        # when a command names something that is not there, or pages from 0
        result = run(*args, "--url", url)
        # then it says so in one line and exits 2, changing nothing
        assert result.exit_code == 2, (args, result.output)
        [line] = result.output.splitlines()
        assert line.startswith("Error: ") and fragment in line, (args, line)
    assert url_store.queue_size("mailers") == 1 and url_store.paused_queues() == []


def test_a_bad_url_or_setting_is_one_line_and_exit_status_2(tmp_path: Path) -> None:
    for args, env in (
        (("stats", "--url", "postgres://db/0"), {}),
        (("retries",), {"SIDEQUEST_URL": "nonsense"}),
        (("queues", "--url", f"sqlite:///{tmp_path / 'missing' / 'sidequest.db'}"), {}),
    ):
        result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == 2, (args, result.output)
        [line] = result.output.splitlines()
        assert line.startswith("Error: "), line


def test_a_queue_may_be_paused_before_its_first_job(url: str, url_store: Store) -> None:
    result = run("queue", "pause", "reports", "--url", url)

    assert result.exit_code == 0, result.output
    assert url_store.paused_queues() == ["reports"]
    assert run("queue", "resume", "reports", "--url", url).exit_code == 0


def test_retry_all_and_delete_all(url: str, url_store: Store) -> None:
    url_store.add_to_set("dead", [(NOW + i, failed(i)) for i in range(30)])
    url_store.add_to_set("schedule", [(NOW + i, job(i)) for i in range(4)])

    assert run("dead", "retry-all", "--url", url).output.strip() == "30 job(s) enqueued"
    assert run("scheduled", "delete-all", "--yes", "--url", url).output.strip() == "4 job(s) deleted"

    assert url_store.queue_size("default") == 30 and url_store.set_size("schedule") == 0


def test_busy_lists_running_jobs_with_args(url: str, url_store: Store) -> None:
    work = dumps({"queue": "default", "payload": job(1, "Report", args=["q3", 2026]), "run_at": int(NOW)})
    url_store.beat(beat("box:11:aaa", busy=1, work={"tid1": work}))

    result = run("busy", "--url", url)

    row = result.output.splitlines()[1].split()
    assert row[:6] == ["box:11:aaa", "tid1", "default", "Report", '["q3",2026]', jid(1)]


def test_processes_lists_and_quiets_them(url: str, url_store: Store) -> None:
    url_store.beat(beat("box:11:aaa"))
    url_store.beat(beat("box:12:bbb"))

    listing = run("processes", "--url", url)
    quiet = run("processes", "quiet", "box:11:aaa", "--url", url)
    stop_all = run("processes", "stop", "--all", "--url", url)
    neither = run("processes", "stop", "--url", url)

    assert [line.split()[0] for line in listing.output.splitlines()[1:]] == ["box:11:aaa", "box:12:bbb"]
    assert "critical:3,default:1" in listing.output
    assert quiet.output.strip() == "asked box:11:aaa to quiet; it acts at its next heartbeat"
    assert stop_all.output.strip() == "asked 2 process(es) to stop; each acts at its next heartbeat"
    assert neither.exit_code == 2 and "IDENTITY" in neither.output
    assert url_store.beat(beat("box:11:aaa")).signals == ["TSTP"]
    assert url_store.beat(beat("box:11:aaa")).signals == ["TERM"]


def test_a_queues_jobs_are_listed_newest_first(url: str, url_store: Store) -> None:
    url_store.push([("mailers", job(i, "Mailer", queue="mailers", args=[f"user-{i}"])) for i in range(3)])

    result = run("queue", "jobs", "mailers", "--per-page", "2", "--url", url)

    header, newest, older, footer = result.output.splitlines()
    assert header.split() == ["jid", "class", "args", "enqueued"]
    assert newest.split()[:3] == [jid(2), "Mailer", '["user-2"]'] and newest.endswith("ago")
    assert older.split()[:3] == [jid(1), "Mailer", '["user-1"]']
    assert footer == "page 1 of 2 (3 in mailers)"


def test_hostile_job_data_cannot_break_lines_or_send_terminal_escapes(url: str, url_store: Store) -> None:
    hostile = "\x1b]0;pwned\x07\x1b[2J\nfake line\r"
    url_store.add_to_set(
        "dead", [(NOW, failed(1, "Evil\x1b[31m", hostile, args=[hostile], backtrace=[hostile]))]
    )

    outputs = [
        run("dead", "--url", url).output,
        run("dead", "show", jid(1), "--url", url).output,
        run("dead", "retry", jid(1), "--url", url).output,
    ]

    for output in outputs:
        assert "\x1b" not in output and "\x07" not in output and "\r" not in output
        assert "\nfake line" not in output
    assert "fake line" in outputs[0]  # shown, on the job's own line
