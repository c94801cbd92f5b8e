"""How the dashboard writes numbers, times, sizes and job arguments: the same way on every page.

Times are relative ("3 minutes ago") with the exact UTC time kept for the hover title, as in
Sidekiq's Web UI; numbers get thousands separators.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

#: Arguments longer than this are cut on list pages; the detail page shows them whole.
ARGS_PREVIEW = 200


def number(value: Any) -> str:
    """12345 -> "12,345"; floats keep two decimals; anything else as text."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() and abs(value) >= 100 else f"{value:,.2f}"
    return str(value)


When = datetime | float | int | None


def epoch(value: When) -> float | None:
    """Seconds since the epoch from what the API returns (an aware datetime) or a raw score."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


def utc(value: When) -> str:
    """The exact time for a title attribute: "2026-11-30 12:03:04 UTC"."""
    timestamp = epoch(value)
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso(value: When) -> str:
    timestamp = epoch(value)
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def relative(value: When, now: float | None = None) -> str:
    """ "3 minutes ago" or "in 2 hours", the way people read a job list."""
    timestamp = epoch(value)
    if timestamp is None:
        return ""
    delta = (time.time() if now is None else now) - timestamp
    future = delta < 0
    seconds = abs(delta)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            text = f"{count} {unit}{'' if count == 1 else 's'}"
            break
    else:
        if seconds < 5:
            return "just now"
        text = f"{int(seconds)} seconds"
    return f"in {text}" if future else f"{text} ago"


def duration(seconds: float | None) -> str:
    """A latency or run time: "0.25 s", "42 s", "3 min 5 s", "2 h 4 min", "3 d 2 h"."""
    if seconds is None:
        return ""
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def size(num_bytes: int | float | None) -> str:
    if num_bytes is None:
        return ""
    value = float(num_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} GB"


def args(value: Any, limit: int | None = ARGS_PREVIEW) -> str:
    """Job arguments as JSON text (escaped later by the template), cut to limit characters."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if limit is not None and len(text) > limit:
        return text[: limit - 1] + "…"
    return text


def pretty(value: Any) -> str:
    """JSON laid out for reading on a detail page."""
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=False)


FILTERS = {
    "number": number,
    "utc": utc,
    "iso": iso,
    "relative": relative,
    "duration": duration,
    "size": size,
    "args": args,
    "pretty": pretty,
}
