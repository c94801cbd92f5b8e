"""The payload is Sidekiq's JSON: key order, compact encoding, timestamps, argument rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sidequest import payload as wire
from sidequest._time import from_wire, to_datetime
from sidequest.errors import JobArgumentError, PayloadError

FIXTURES = Path(__file__).resolve().parents[1] / "interop" / "fixtures" / "sidekiq-6.4"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def test_built_payload_is_byte_identical_to_what_sidekiq_64_wrote() -> None:
    # given the job Ruby's client pushed in the fixture
    ruby = fixture("client.json")["queue_default_perform_async"]
    theirs = json.loads(ruby)
    # when we build the same job with the same jid and timestamps
    ours = wire.build(
        "FixJob",
        ["a", 1, {"k": [1, 2]}, None, True, 1.5],
        {"retry": True, "queue": "default", "jid": theirs["jid"]},
        theirs["created_at"],
    )
    ours["enqueued_at"] = theirs["enqueued_at"]
    # then the bytes match exactly (Ruby finds jobs by exact value)
    assert wire.dumps(ours) == ruby


def test_class_options_come_first_like_sidekiq() -> None:
    raw, _score = fixture("sets.json")["retry_members_with_scores"][0]
    theirs = json.loads(raw)
    ours = wire.build(
        "FailJob",
        [7],
        {"retry": 3, "queue": "critical", "backtrace": 5, "jid": theirs["jid"]},
        theirs["created_at"],
    )
    assert list(ours)[:7] == list(theirs)[:7]


def test_jid_is_24_lowercase_hex() -> None:
    jid = wire.new_jid()
    assert len(jid) == 24 and all(c in "0123456789abcdef" for c in jid)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [datetime(2026, 1, 1, tzinfo=UTC)],
            "argument 1 of send_email is a datetime; job arguments must be JSON-native",
        ),
        (["ok", {"when": {1, 2}}], "argument 2['when'] of send_email is a set"),
        ([{1: "x"}], "argument 1 of send_email has a key 1 of type int"),
        ([[1, [2, b"x"]]], "argument 1[1][1] of send_email is a bytes"),
        ([float("nan")], "JSON cannot carry NaN"),
    ],
)
def test_non_json_arguments_are_refused_naming_the_path(args: list, message: str) -> None:
    with pytest.raises(JobArgumentError) as error:
        wire.check_args(args, "send_email")
    assert message in str(error.value)


def test_datetime_hint_suggests_isoformat() -> None:
    with pytest.raises(JobArgumentError, match=r"pass value.isoformat\(\) instead"):
        wire.check_args([datetime.now(UTC)], "job")


def test_timestamps_read_as_float_seconds_or_integer_milliseconds() -> None:
    # Sidekiq <= 7 writes float seconds, Sidekiq 8 integer milliseconds: both mean the same instant
    assert from_wire(1795827751.5) == from_wire(1795827751500)
    assert to_datetime(1795827751500) == to_datetime(1795827751.5)
    assert from_wire("soon") is None and from_wire(True) is None


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "JSON list, not an object"),
        ('{"args": []}', 'no "class"'),
        ('{"class": "X", "args": "nope"}', '"args" of X is not a list'),
        ('{"class": "X", "args": []} {"class": "Y"}', "Extra data"),
        ('{"class": "X", "args": [NaN]}', "NaN is not a JSON value"),
        ("", "not valid JSON"),
    ],
)
def test_loads_says_why_a_payload_cannot_run(raw: str, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        wire.loads(raw)


def test_loads_reads_a_payload_with_whitespace_around_it() -> None:
    # hand-written or pretty-printed by another tool: still JSON, still the same job
    assert wire.loads('\n {"class": "X", "args": [1]}\t\n') == {"class": "X", "args": [1]}


def test_stamp_enqueued_at_changes_only_that_field() -> None:
    raw = fixture("client.json")["queue_default_perform_async"]
    stamped = wire.stamp_enqueued_at(raw, 1800000000.25)
    assert stamped == raw.replace('"enqueued_at":1795827751.8578718', '"enqueued_at":1800000000.25')
    member = fixture("client.json")["schedule_member_perform_in"]
    assert wire.stamp_enqueued_at(member, 1800000000.25) == member[:-1] + ',"enqueued_at":1800000000.25}'


def test_backtrace_round_trips_and_reads_sidekiqs_encoding() -> None:
    lines = ["app/jobs.py:10:in `perform'", "lib/x.py:2:in `call'"]
    assert wire.decode_backtrace(wire.encode_backtrace(lines)) == lines
    raw, _ = fixture("sets.json")["retry_members_with_scores"][0]
    decoded = wire.decode_backtrace(json.loads(raw)["error_backtrace"])
    assert decoded == fixture("api.json")["retry_set"][0]["error_backtrace_decoded"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"args":[{"enqueued_at":5}],"enqueued_at":1.5}', '{"args":[{"enqueued_at":5}],"enqueued_at":9.25}'),
        ('{"args":["\\"enqueued_at\\":1"]}', '{"args":["\\"enqueued_at\\":1"],"enqueued_at":9.25}'),
        ('{"enqueued_at" : 1 , "a":1}', '{"enqueued_at" : 9.25 , "a":1}'),
    ],
)
def test_stamp_touches_only_the_top_level_field_never_an_argument(raw: str, expected: str) -> None:
    assert wire.stamp_enqueued_at(raw, 9.25) == expected
    assert (
        json.loads(wire.stamp_enqueued_at(raw, 9.25))["args" if "args" in raw else "a"]
        == json.loads(raw)["args" if "args" in raw else "a"]
    )
