"""The process hash ``<identity>`` both ways: written as Sidekiq's heartbeat writes it, read from any
Sidekiq version (6.4 to 8.x) or from us."""

from __future__ import annotations

import json

from sidequest.stores.base import Beat, ProcessRecord

#: Fields read back; ``concurrency`` exists only when written by Sidekiq 8.1.2+ (or our "8" mode).
FIELDS = ("info", "busy", "beat", "rtt_us", "quiet", "rss", "concurrency")


def fields_of(beat: Beat, sidekiq_version: str) -> dict[str, str]:
    """Hash values as Sidekiq writes them: strings, beat as float seconds, quiet as "true"/"false", rss in KB."""
    fields = {
        "info": beat.info,
        "busy": str(beat.busy),
        "beat": repr(float(beat.beat)),
        "rtt_us": str(beat.rtt_us),
        "quiet": "true" if beat.quiet else "false",
        "rss": str(beat.rss_kb),
    }
    if sidekiq_version == "8":
        # 8.1.2+ readers take the thread count from here and show 0 when it is missing
        fields["concurrency"] = str(beat.concurrency)
    return fields


def record_of(identity: str, values: list[str | None]) -> ProcessRecord | None:
    """A process as the API shows it, from HMGET of FIELDS; None when the hash has no info (gone)."""
    row = dict(zip(FIELDS, values, strict=True))
    if row["info"] is None:
        return None
    try:
        info = json.loads(row["info"])
    except ValueError:
        info = {}
    if not isinstance(info, dict):
        info = {}
    concurrency = row["concurrency"]
    return ProcessRecord(
        identity=identity,
        info=info,
        busy=_int(row["busy"]),
        beat=_float(row["beat"]),
        quiet=row["quiet"] == "true",
        rss_kb=_int(row["rss"]),
        rtt_us=_int(row["rtt_us"]),
        concurrency=_int(concurrency) if concurrency is not None else _int(info.get("concurrency")),
    )


def _int(value: object) -> int:
    """Integers from hash strings written by any Sidekiq version; anything unreadable counts as 0."""
    try:
        return int(str(value))
    except ValueError:
        return 0


def _float(value: object) -> float:
    try:
        return float(str(value))
    except ValueError:
        return 0.0
