"""One periodic schedule: a cron expression in a time zone, the job it enqueues, and its missed-tick policy.

Cron arithmetic is croniter's, including its handling of daylight-saving changes (a local time that
does not exist on the spring-forward day fires at the first valid time after it; see docs/periodic.md).
Ticks are epoch seconds: the store compares them, so they must not depend on the worker's time zone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from sidequest.errors import ConfigError
from sidequest.payload import check_args

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from croniter import croniter

Missed = Literal["skip", "latest"]
MISSED_POLICIES: tuple[str, ...] = ("skip", "latest")

#: A tick is "on time" while it is at most this many seconds old: any live worker claims it within a
#: poll or two, so a tick older than this was missed by an outage and the schedule's policy applies.
GRACE = 60.0

#: Options a schedule passes to the job's payload besides queue (the rest come from the job itself).
SCHEDULE_OPTIONS = frozenset({"retry", "tags", "backtrace", "dead", "retry_for", "expires_in"})


class PeriodicError(ConfigError):
    """A periodic schedule is wrong: the message names the schedule and what to change."""


@dataclass(frozen=True)
class Schedule:
    """A validated schedule. ``job`` is the registered job name (the payload's "class")."""

    name: str
    cron: str
    job: str
    args: tuple[Any, ...] = ()
    queue: str | None = None
    tz: str = "UTC"
    missed: Missed = "skip"
    options: Mapping[str, Any] = field(default_factory=dict)
    #: Append the tick (epoch seconds, float) to the job's arguments, like sidekiq-cron's date_as_argument.
    pass_tick: bool = False

    def __post_init__(self) -> None:
        where = f"periodic schedule {self.name!r}"
        if not isinstance(self.name, str) or not self.name or any(c in self.name for c in " \t\n|"):
            raise PeriodicError(
                f"periodic schedule name {self.name!r} is not valid; use a non-empty name without spaces or |"
            )
        if not isinstance(self.job, str) or not self.job:
            raise PeriodicError(
                f"{where} names no job; pass a @job function, a Job class or a registered job name"
            )
        if self.missed not in MISSED_POLICIES:
            raise PeriodicError(f"{where} has missed={self.missed!r}; use 'skip' or 'latest'")
        if self.queue is not None and (
            not isinstance(self.queue, str)
            or not self.queue
            or not all(c.isalnum() or c in "_:.-" for c in self.queue)
        ):
            raise PeriodicError(
                f"{where} has queue {self.queue!r}; use a non-empty name of letters, digits and _ : . -"
            )
        if not isinstance(self.pass_tick, bool):
            raise PeriodicError(f"{where} has pass_tick={self.pass_tick!r}; use true or false")
        unknown = sorted(set(self.options) - SCHEDULE_OPTIONS)
        if unknown:
            raise PeriodicError(
                f"{where} has unknown option(s) {', '.join(unknown)}; a schedule accepts {', '.join(sorted(SCHEDULE_OPTIONS))}"
            )
        try:
            check_args(list(self.args), f"{where} (job {self.job})")
        except Exception as exc:
            raise PeriodicError(f"{where}: {exc}") from None
        self.zone  # noqa: B018 - validates tz
        self.next_after(0.0)  # validates the expression

    @property
    def zone(self) -> ZoneInfo:
        # zoneinfo (and the sysconfig it reads) loads with the first schedule, not with every worker
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            return ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise PeriodicError(
                f"periodic schedule {self.name!r} has unknown time zone {self.tz!r}; use an IANA name such as "
                "'UTC', 'Europe/Berlin' or 'Asia/Jakarta'"
            ) from None

    @property
    def has_seconds(self) -> bool:
        return not self.cron.strip().startswith("@") and len(self.cron.split()) == 6

    def _iter(self, start: float) -> croniter:
        # imported here: croniter (with dateutil) takes longer to import than all of sidequest
        from croniter import croniter
        from croniter.croniter import CroniterError

        moment = datetime.fromtimestamp(start, UTC).astimezone(self.zone)
        try:
            return croniter(self.cron, moment, second_at_beginning=self.has_seconds)
        except (CroniterError, ValueError, KeyError, TypeError) as exc:
            raise PeriodicError(
                f"periodic schedule {self.name!r} has an invalid cron expression {self.cron!r} ({exc}); write five "
                "fields 'minute hour day month weekday', six with seconds first, or an alias such as @hourly"
            ) from None

    def next_after(self, moment: float) -> float:
        """The first tick strictly after moment (epoch seconds)."""
        return float(self._iter(moment).get_next(float))

    def latest_at_or_before(self, moment: float) -> float:
        """The last tick at or before moment."""
        prev = float(self._iter(moment).get_prev(float))
        following = self.next_after(prev)
        return following if following <= moment else prev

    def ticks(self, after: float, until: float) -> Iterator[float]:
        """Ticks in (after, until], oldest first."""
        iterator = self._iter(after)
        while True:
            tick = float(iterator.get_next(float))
            if tick > until:
                return
            yield tick

    def definition(self) -> str:
        """The schedule as JSON, as the store keeps it for operators (list, enqueue now)."""
        return json.dumps(
            {
                "cron": self.cron,
                "job": self.job,
                "args": list(self.args),
                "queue": self.queue,
                "tz": self.tz,
                "missed": self.missed,
                "options": dict(self.options),
                "pass_tick": self.pass_tick,
            },
            separators=(",", ":"),
            sort_keys=True,
        )

    @classmethod
    def from_definition(cls, name: str, raw: str) -> Schedule:
        data = json.loads(raw)
        return cls(
            name=name,
            cron=data["cron"],
            job=data["job"],
            args=tuple(data.get("args") or ()),
            queue=data.get("queue"),
            tz=data.get("tz") or "UTC",
            missed=data.get("missed") or "skip",
            options=data.get("options") or {},
            pass_tick=bool(data.get("pass_tick")),
        )


def job_name_of(job: object) -> str:
    """The registered name of a job given as an @job function, a Job class, an Enqueuer or a name."""
    if isinstance(job, str):
        return job
    name = getattr(job, "name", None)
    if isinstance(name, str) and name:
        return name
    definition = getattr(job, "definition", None)
    if definition is not None and isinstance(getattr(definition, "name", None), str):
        return str(definition.name)
    raise PeriodicError(
        f"{job!r} is not a job; pass a @job function, a Job subclass or the registered job name"
    )


def from_table(name: str, table: Mapping[str, Any]) -> Schedule:
    """A schedule from a settings-file table ``[periodic.NAME]``: cron, job, args, queue, tz, missed."""
    if not isinstance(table, Mapping):
        raise PeriodicError(f"[periodic.{name}] must be a table with at least cron and job, got {table!r}")
    known = {"cron", "job", "args", "queue", "tz", "missed", "pass_tick"} | SCHEDULE_OPTIONS
    unknown = sorted(set(table) - known)
    if unknown:
        raise PeriodicError(
            f"[periodic.{name}] has unknown key(s) {', '.join(unknown)}; known keys: {', '.join(sorted(known))}"
        )
    for required in ("cron", "job"):
        if not isinstance(table.get(required), str):
            raise PeriodicError(f'[periodic.{name}] needs {required} = "..." (a string)')
    args = table.get("args", [])
    if not isinstance(args, Sequence) or isinstance(args, str):
        raise PeriodicError(f"[periodic.{name}] args must be a list, got {args!r}")
    return Schedule(
        name=name,
        cron=table["cron"],
        job=table["job"],
        args=tuple(args),
        queue=table.get("queue"),
        tz=table.get("tz", "UTC"),
        missed=table.get("missed", "skip"),
        options={k: v for k, v in table.items() if k in SCHEDULE_OPTIONS},
        pass_tick=table.get("pass_tick", False),
    )
