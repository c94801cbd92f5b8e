"""Schedules: cron syntax, time zones and DST, aliases, seconds, and the errors a worker starts with."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from sidequest import job
from sidequest.periodic import PeriodicError, Schedule, declared, forget, periodic
from sidequest.periodic.scheduler import load

JAKARTA = ZoneInfo("Asia/Jakarta")
BERLIN = ZoneInfo("Europe/Berlin")


def at(zone: ZoneInfo, *parts: int) -> float:
    return datetime(*parts, tzinfo=zone).timestamp()  # type: ignore[misc]


@pytest.fixture(autouse=True)
def no_declared_schedules() -> Iterator[None]:
    forget()
    yield
    forget()


def test_five_minute_schedule_in_jakarta_fires_on_local_five_minute_marks() -> None:
    schedule = Schedule("sync-dns", "*/5 * * * *", "SyncDns", tz="Asia/Jakarta")

    ticks = list(schedule.ticks(at(JAKARTA, 2026, 11, 30, 9, 2), at(JAKARTA, 2026, 11, 30, 9, 16)))

    assert [datetime.fromtimestamp(t, JAKARTA).strftime("%H:%M") for t in ticks] == [
        "09:05",
        "09:10",
        "09:15",
    ]


def test_a_daily_local_time_follows_daylight_saving_changes() -> None:
    schedule = Schedule("report", "0 9 * * *", "Report", tz="Europe/Berlin")

    ticks = list(schedule.ticks(at(BERLIN, 2026, 3, 28, 12, 0), at(BERLIN, 2026, 3, 30, 12, 0)))

    # 09:00 local on both sides of the spring-forward night: 23 hours apart in UTC
    assert [datetime.fromtimestamp(t, BERLIN).strftime("%d %H:%M") for t in ticks] == ["29 09:00", "30 09:00"]
    assert ticks[1] - ticks[0] == 24 * 3600


def test_aliases_and_a_seconds_field() -> None:
    hourly = Schedule("h", "@hourly", "J")
    every_ten_seconds = Schedule("s", "*/10 * * * * *", "J")
    start = datetime(2026, 11, 30, 12, 0, 3, tzinfo=UTC).timestamp()

    assert hourly.next_after(start) == start - 3 + 3600
    assert list(every_ten_seconds.ticks(start, start + 25)) == [start + 7, start + 17]
    assert every_ten_seconds.latest_at_or_before(start + 7) == start + 7
    assert every_ten_seconds.latest_at_or_before(start + 6.5) == start - 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cron": "61 * * * *"}, "invalid cron expression '61 * * * *'"),
        ({"cron": "every day"}, "invalid cron expression"),
        ({"tz": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"missed": "all"}, "missed='all'; use 'skip' or 'latest'"),
        ({"queue": "has space"}, "queue 'has space'"),
    ],
)
def test_a_bad_schedule_names_itself_and_what_is_wrong(kwargs: dict[str, str], message: str) -> None:
    arguments = {"cron": "* * * * *", **kwargs}

    with pytest.raises(PeriodicError) as raised:
        periodic(arguments.pop("cron"), "SomeJob", name="broken", **arguments)  # type: ignore[arg-type]

    assert "'broken'" in str(raised.value)
    assert message in str(raised.value)


def test_an_unknown_job_fails_when_the_worker_loads_its_schedules() -> None:
    from sidequest.config import get_config

    periodic("@daily", "nobody.registered.this", name="orphan")

    with pytest.raises(
        PeriodicError, match="'orphan' names job 'nobody.registered.this', which is not registered"
    ):
        load(get_config())


def test_schedules_come_from_code_and_from_the_settings_file() -> None:
    @job(name="tests.periodic.cleanup")
    def cleanup() -> None: ...

    periodic("0 3 * * *", cleanup, name="cleanup", tz="Asia/Jakarta")
    tables = {
        "sync-dns": {"cron": "*/5 * * * *", "job": "tests.periodic.cleanup", "args": ["a"], "queue": "infra"}
    }

    names = [(s.name, s.cron, s.tz, s.queue, s.args) for s in declared(tables)]

    assert names == [
        ("cleanup", "0 3 * * *", "Asia/Jakarta", None, ()),
        ("sync-dns", "*/5 * * * *", "UTC", "infra", ("a",)),
    ]
    with pytest.raises(PeriodicError, match=r"\[periodic.bad\] has unknown key\(s\) crom"):
        declared({"bad": {"crom": "* * * * *", "job": "x"}})


def test_the_package_exposes_periodic_as_a_callable() -> None:
    import sidequest

    assert sidequest.periodic is periodic
    assert sidequest.periodic("@daily", "tests.x", name="via-facade").cron == "@daily"


def test_a_local_time_that_exists_twice_fires_twice_and_one_that_does_not_exist_fires_after_the_gap() -> None:
    # croniter's rules, as docs/periodic.md states them
    schedule = Schedule("report", "30 2 * * *", "Report", tz="Europe/Berlin")

    autumn = list(schedule.ticks(at(BERLIN, 2026, 10, 24, 12, 0), at(BERLIN, 2026, 10, 25, 12, 0)))
    spring = list(schedule.ticks(at(BERLIN, 2026, 3, 28, 12, 0), at(BERLIN, 2026, 3, 29, 12, 0)))

    assert [datetime.fromtimestamp(t, BERLIN).isoformat() for t in autumn] == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:30:00+01:00",
    ]
    assert [datetime.fromtimestamp(t, BERLIN).isoformat() for t in spring] == ["2026-03-29T03:00:00+02:00"]
