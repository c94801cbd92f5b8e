"""A job's line written directly (job_line) is the line logging would write for the same record."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from sidequest.logging import JsonFormatter, TextFormatter, _line_context

CASES: list[tuple[dict[str, Any], float | None, dict[str, Any] | None]] = [
    ({"class": "Charge", "jid": "5b0c", "queue": "billing"}, None, None),
    ({"class": "Charge", "jid": 'quo"te', "queue": "billing"}, 0.0123456, None),
    ({"class": "Charge", "jid": "5b0c", "queue": "billing"}, 1.5, {"retry_count": 2}),
    ({}, None, None),
    ({}, 0.0, {"nested": [1, {"a": None}]}),
]


@pytest.mark.parametrize("formatter", [TextFormatter(), JsonFormatter()], ids=["text", "json"])
@pytest.mark.parametrize(("context", "elapsed", "fields"), CASES)
def test_a_direct_job_line_equals_the_formatted_record(
    formatter: TextFormatter | JsonFormatter,
    context: dict[str, Any],
    elapsed: float | None,
    fields: dict[str, Any] | None,
) -> None:
    # given a record as logging makes it for a job's line, its context on record.sidequest
    record = logging.LogRecord("sidequest", logging.INFO, __file__, 1, "done", None, None)
    record.sidequest = _line_context(context, elapsed, fields)
    # when the same line is written directly, then it is the same text
    assert (
        formatter.job_line(record.created, "done", context, elapsed, fields)
        == formatter.format(record) + "\n"
    )
