"""Sidekiq's job payload: build it, check its arguments, serialise it as Ruby would, read it back.

The payload is a plain dict with string keys, stored as compact JSON. Key order follows Sidekiq 6.4's
client (options first, then args, class, jid, timestamps) so a Ruby process that re-serialises a job
we wrote produces the same bytes. Timestamps are written as float seconds (see _time).
"""

from __future__ import annotations

import base64
import json
import json.encoder
import json.scanner
import os
import re
import warnings
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sidequest.errors import JobArgumentError, PayloadError

JSON_NATIVE = "str, int, float, bool, None, list, dict with str keys"
#: Sidekiq truncates stored error messages to this many characters.
MAX_ERROR_MESSAGE = 10_000

Payload = dict[str, Any]


# One encoder for every payload, called directly: json.dumps with options builds a new encoder on each
# call, and JSONEncoder.encode builds a new C encoder each time. No circular-reference check: job
# arguments are checked (check_args) before they are encoded. c_make_encoder and c_make_scanner are
# CPython's private accelerators, called positionally; if an interpreter lacks them or changed their
# arguments, the json module's public path writes and reads the same JSON (one warning says so).
def _not_json(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _fallback_warning(what: str, exc: BaseException | None) -> None:
    reason = f" ({type(exc).__name__}: {exc})" if exc else " (not in this interpreter)"
    warnings.warn(
        f"sidequest: CPython's private json {what} cannot be used{reason}; payloads go through the "
        "json module's public path instead (the same bytes, somewhat slower)",
        RuntimeWarning,
        stacklevel=2,
    )


def _make_encoder() -> Any:
    make = getattr(json.encoder, "c_make_encoder", None)
    error: BaseException | None = None
    if make is not None:
        try:
            encoder = make(
                None, _not_json, json.encoder.encode_basestring, None, ":", ",", False, False, False
            )
            if "".join(encoder({"a": [1, 1.5, None, "é"]}, 0)) == '{"a":[1,1.5,null,"é"]}':
                return lambda value: "".join(encoder(value, 0))
        except Exception as exc:  # a changed signature: use the public path
            error = exc
    _fallback_warning("encoder (json.encoder.c_make_encoder)", error)
    return json.JSONEncoder(
        separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_not_json
    ).encode


_encode: Callable[[object], str] = _make_encoder()

#: Argument types that need no check (exact types: a subclass of int may be anything, and a float may
#: be NaN).
_PLAIN = frozenset({str, int, bool, type(None)})


def new_jid() -> str:
    """24 lowercase hex characters, like Sidekiq's SecureRandom.hex(12)."""
    return os.urandom(12).hex()  # what secrets.token_hex does, without loading hmac for it


def new_jids(count: int) -> list[str]:
    """count jids from one read of the system's random source (one syscall instead of count)."""
    hexed = os.urandom(12 * count).hex()
    return [hexed[start : start + 24] for start in range(0, 24 * count, 24)]


def check_args(args: Sequence[object], job_name: str) -> list[Any]:
    """Return args as a list, or raise naming the first value that is not JSON-native.

    The check runs before anything is written, so a bad call enqueues nothing. Sidekiq 7+ does the same
    (strict_args); we also refuse NaN and infinity, which JSON cannot carry.
    """
    kind = type(args)
    if (
        kind is not list
        and kind is not tuple
        and (isinstance(args, str | bytes) or not isinstance(args, Sequence))
    ):
        raise JobArgumentError(f"arguments of {job_name} must be a list or tuple, got {type(args).__name__}")
    plain = _PLAIN
    for index, value in enumerate(args):
        if type(value) not in plain:
            _check_value(value, f"argument {index + 1}", job_name)
    return list(args)


def _check_value(value: object, path: str, job_name: str) -> None:
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise JobArgumentError(f"{path} of {job_name} is {value!r}; JSON cannot carry NaN or infinity")
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_value(item, f"{path}[{index}]", job_name)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise JobArgumentError(
                    f"{path} of {job_name} has a key {key!r} of type {type(key).__name__}; "
                    f"dict keys in job arguments must be str ({JSON_NATIVE})"
                )
            _check_value(item, f"{path}[{key!r}]", job_name)
        return
    hint = ""
    if hasattr(value, "isoformat"):
        hint = ": pass value.isoformat() instead"
    elif isinstance(value, set | frozenset):
        hint = ": pass a list instead"
    elif isinstance(value, bytes):
        hint = ": pass a str (e.g. base64) instead"
    raise JobArgumentError(
        f"{path} of {job_name} is a {type(value).__name__}; job arguments must be JSON-native ({JSON_NATIVE}){hint}"
    )


#: Fields a payload writes after its options, in this order; never taken from options as such.
_TAIL = ("args", "class", "jid", "created_at", "enqueued_at")


def head(options: Mapping[str, Any]) -> Payload:
    """The options part of a payload, in Sidekiq's key order: retry, queue, then the rest as given.

    The one place that orders a payload: build() (the dict client middleware sees) and Template (the
    bytes written without middleware) both start from it, so both paths write the same bytes.
    """
    payload: Payload = {"retry": options.get("retry", True), "queue": options.get("queue", "default")}
    for key, value in options.items():
        if key not in payload and key not in _TAIL:
            payload[key] = value
    return payload


def build(job_name: str, args: Sequence[object], options: Mapping[str, Any], created_at: float) -> Payload:
    """A new payload in Sidekiq's key order: options, args, class, jid, created_at (the dict whose
    dumps() Template.render writes, before enqueued_at)."""
    payload = head(options)
    payload["args"] = check_args(args, job_name)
    payload["class"] = job_name
    payload["jid"] = options.get("jid") or new_jid()
    # A re-pushed job keeps the time it was first created, as in Sidekiq.
    payload["created_at"] = options.get("created_at") or created_at
    return payload


def dumps(payload: Mapping[str, Any]) -> str:
    """Compact JSON with raw UTF-8, as Ruby's JSON.generate writes it."""
    return _encode(payload)


class Template:
    """The serialised payload of one job class and options, with holes for args, jid and timestamps.

    render() gives exactly the bytes of dumps(build(...)) with enqueued_at added last, as the client
    writes it, without building a dict per job: the static part is encoded once (and the client keeps
    templates for the options it sees again). Raises TypeError or ValueError at construction when an
    option value is not JSON-native (the caller then takes the dict path, which names the bad value).
    A created_at in options is not used: the caller passes the timestamps to stamps().
    """

    def __init__(self, job_name: str, options: Mapping[str, Any]) -> None:
        fields = head(options)
        self.queue: str = fields["queue"]
        self._head = _encode(fields)[:-1] + ',"args":'
        self._middle = ',"class":' + _encode(job_name) + ',"jid":'

    @staticmethod
    def stamps(created_at: float, enqueued_at: float | None) -> str:
        """The timestamps that close a payload (JSON writes a float as its repr). A job enqueued
        when it is created has the same time twice, encoded once."""
        created = _encode(created_at)
        if enqueued_at is None:
            return ',"created_at":' + created + "}"
        enqueued = created if enqueued_at is created_at else _encode(enqueued_at)
        return ',"created_at":' + created + ',"enqueued_at":' + enqueued + "}"

    def render(self, args: list[Any], jid_json: str, stamps: str) -> str:
        """The payload for checked args (see check_args), a jid already in JSON, and stamps()."""
        return self._head + _encode(args) + self._middle + jid_json + stamps


def loads(raw: str | bytes) -> Payload:
    """Parse a stored payload and check the fields a worker needs; PayloadError says what is wrong."""
    try:
        # one decoder for all: json.loads with an option builds a new decoder on every call
        payload = _parse(raw) if isinstance(raw, str) else json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"payload is not valid JSON ({exc}): {_preview(raw)}") from None
    except RecursionError:
        raise PayloadError(
            f"payload is nested too deeply to parse (Python's recursion limit): {_preview(raw)}"
        ) from None
    if not isinstance(payload, dict):
        raise PayloadError(f"payload is a JSON {type(payload).__name__}, not an object: {_preview(raw)}")
    job_class = payload.get("class")
    if not isinstance(job_class, str) or not job_class:
        raise PayloadError(f'payload has no "class" string naming the job: {_preview(raw)}')
    if not isinstance(payload.get("args", []), list):
        raise PayloadError(f'payload "args" of {job_class} is not a list: {_preview(raw)}')
    payload.setdefault("args", [])
    return payload


def _refuse_constant(name: str) -> Any:
    # Python's json reads NaN and Infinity, but JSON (and Ruby) do not, and dumps() refuses them
    raise ValueError(f"{name} is not a JSON value")


_decoder = json.JSONDecoder(parse_constant=_refuse_constant)
_decode = _decoder.decode


def _make_scanner() -> Any:
    """The decoder's C scanner, called directly: decode() wraps it in two whitespace regex matches
    and two Python frames, a quarter of the cost of reading a small payload. None: use decode()."""
    make = getattr(json.scanner, "c_make_scanner", None)
    error: BaseException | None = None
    if make is not None:
        try:
            scan = make(_decoder)
            if scan('{"a":[1]}', 0) == ({"a": [1]}, 9):
                return scan
        except Exception as exc:  # a changed signature or result: use the public path
            error = exc
    _fallback_warning("scanner (json.scanner.c_make_scanner)", error)
    return None


_scan = _make_scanner()


def _parse(raw: str) -> Any:
    """raw's JSON value; the scanner's fast path serves a payload with no surrounding whitespace
    (all that Sidekiq and we write), and decode() everything else, with its own error messages."""
    if _scan is not None:
        try:
            value, end = _scan(raw, 0)
        except StopIteration:  # not a value at index 0 (whitespace first, or not JSON)
            return _decode(raw)
        if end == len(raw):
            return value
    return _decode(raw)


def _preview(raw: str | bytes, limit: int = 120) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


_SPECIAL = re.compile(r'["{}\[\]]')
_STRING_STOP = re.compile(r'["\\]')
_NOT_SPACE = re.compile(r"\S")
_SCALAR_END = re.compile(r"[,}\s]")


def _string_end(raw: str, opening: int) -> int:
    """Index of the quote closing the JSON string that opens at raw[opening], or -1."""
    position = opening + 1
    while True:
        stop = _STRING_STOP.search(raw, position)
        if stop is None:
            return -1
        if raw[stop.start()] == "\\":
            position = stop.start() + 2
            continue
        return stop.start()


def top_level_value_span(raw: str, key: str) -> tuple[int, int] | None:
    """(first, last) index of the value of key in the outermost object of raw, or None.

    Strings and nested values are skipped, so a job argument that happens to contain the key is never
    mistaken for it. lua/json_text.lua walks the text the same way; the two must agree byte for byte.
    """
    target = f'"{key}"'
    depth = 0
    position = 0
    while True:
        special = _SPECIAL.search(raw, position)
        if special is None:
            return None
        index = special.start()
        char = raw[index]
        if char != '"':
            depth += 1 if char in "{[" else -1
            position = index + 1
            continue
        close = _string_end(raw, index)
        if close < 0:
            return None
        if depth == 1 and raw[index : close + 1] == target:
            colon = _NOT_SPACE.search(raw, close + 1)
            if colon is not None and raw[colon.start()] == ":":
                value = _NOT_SPACE.search(raw, colon.start() + 1)
                if value is not None:
                    first = value.start()
                    if raw[first] == '"':
                        last = _string_end(raw, first)
                        return None if last < 0 else (first, last)
                    end = _SCALAR_END.search(raw, first)
                    return first, (end.start() if end else len(raw)) - 1
        position = close + 1


def stamp_enqueued_at(raw: str, when: float) -> str:
    """Set the top-level enqueued_at of a serialised payload without re-encoding it.

    Moving a job from a sorted set to a queue must not change its other bytes (Ruby finds jobs by
    exact value). The Redis Lua script (promote.lua) makes the same edit; this is the version for
    Python stores.
    """
    stamp = repr(when)
    span = top_level_value_span(raw, "enqueued_at")
    if span is not None:
        return raw[: span[0]] + stamp + raw[span[1] + 1 :]
    stripped = raw.rstrip()
    if not stripped.endswith("}"):
        return raw
    body = stripped[:-1].rstrip()
    separator = "" if body.endswith("{") else ","
    return f'{body}{separator}"enqueued_at":{stamp}}}'


def queue_of(raw: str, fallback: str) -> str:
    """The queue a serialised payload belongs to, or fallback when it cannot be read."""
    try:
        value = json.loads(raw).get("queue")
    except (ValueError, AttributeError, RecursionError):
        return fallback
    return value if isinstance(value, str) and value else fallback


def encode_backtrace(lines: Iterable[str]) -> str:
    """Sidekiq's error_backtrace: base64 of zlib of a JSON array (strict base64, as 7.2.1+ writes)."""
    return base64.b64encode(zlib.compress(json.dumps(list(lines)).encode())).decode()


def decode_backtrace(value: object) -> list[str]:
    """Read error_backtrace in any form Sidekiq has written: base64 with or without newlines, or a raw list."""
    if isinstance(value, list):
        return [str(line) for line in value]
    if not isinstance(value, str) or not value:
        return []
    try:
        decoded = json.loads(zlib.decompress(base64.b64decode(value)))
    except (ValueError, zlib.error):
        return []
    return [str(line) for line in decoded] if isinstance(decoded, list) else []
