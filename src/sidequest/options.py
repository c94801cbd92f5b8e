"""Job options: the one list of what sidequest reads, the queue-name rule, and the check every way in calls.

``@job``, ``Job`` classes and ``.set()`` check options when they are written (a typo of a core option
fails at once, with "did you mean"); every push (perform_*, ``sidequest.enqueue``, ``enqueue_bulk``,
``Client.push``) checks the options it is about to store against the core list and the options the
configured middleware owns *at that moment*, so a middleware added after the jobs module was imported
still counts. Checks are cached by option names, value types and values, so the hot path pays once per
distinct set of options.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sidequest._closest import close_matches
from sidequest.errors import ConfigError

#: What each option means and its default, for help(), docs/configuration.md and error messages.
OPTION_HELP: dict[str, str] = {
    "queue": 'queue the job is pushed to (default "default"); letters, digits and _ : . -',
    "retry": "True: retry up to max_retries (25); an int: that many retries; False: no retry, no dead set",
    "dead": "False: a job out of retries is dropped instead of kept in the dead set (default True)",
    "backtrace": "keep the failure's backtrace in the retry entry: True, or a number of lines (default False)",
    "retry_queue": "queue that retries go to (default: the job's queue)",
    "retry_for": "seconds after the first failure during which retries are allowed (default: no limit)",
    "tags": "list of strings shown with the job (Sidekiq's Web UI shows them too)",
}

#: Options sidequest itself reads from a job's definition.
CORE_OPTIONS = frozenset(OPTION_HELP)

#: Per push only: a fixed jid (never on a definition, where it would give every job the same one).
PUSH_OPTIONS = frozenset({"jid"})

#: Fields a raw Client.push may carry besides options: a payload read back from Sidekiq (a re-push).
PAYLOAD_FIELDS = frozenset(
    {
        "created_at",
        "enqueued_at",
        "retry_count",
        "failed_at",
        "retried_at",
        "error_message",
        "error_class",
        "error_backtrace",
        "wrapped",
        "bid",
    }
)

QUEUE_NAME_RULE = "letters, digits and _ : . - (Sidekiq's rule)"


def valid_queue_name(name: object) -> bool:
    """Whether name is a queue every sidequest process accepts (worker flags, TOML and job options)."""
    return isinstance(name, str) and bool(name) and all(c.isalnum() or c in "_:.-" for c in name)


def check_definition(
    options: Mapping[str, Any], where: str, owned: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Options of a job definition (@job, a Job class): values checked; a name that is neither a core
    option nor owned by configured middleware, but close to a core one, is refused at once. Other names
    may belong to middleware not added yet: each push checks them against the middleware of that time."""
    for key, value in options.items():
        if key in PUSH_OPTIONS:
            raise ConfigError(
                f"{key!r} is not an option of a job definition ({where}); it would give every job the "
                f"same {key}: pass it per push instead, e.g. .set({key}=...).perform_async(...)"
            )
        if key not in CORE_OPTIONS and key not in owned:
            close = close_matches(key, sorted(CORE_OPTIONS), n=1, cutoff=0.75)
            if close:
                raise _unknown(key, where, CORE_OPTIONS)
        _check_value(key, value, where)
    return dict(options)


def check_override(options: Mapping[str, Any], where: str, owned: frozenset[str]) -> dict[str, Any]:
    """Options of one push (.set(), enqueue, Client.push): every name known, every value valid."""
    known = CORE_OPTIONS | PUSH_OPTIONS | owned
    for key, value in options.items():
        if key not in known:
            raise _unknown(key, where, known)
        _check_value(key, value, where)
    return dict(options)


def check_push(job_class: str, options: Mapping[str, Any], owned: frozenset[str]) -> None:
    """check_override for the options of a push, leaving out the payload fields a raw push may carry.

    Callers cache the result (the client keeps one template per distinct job, options and middleware),
    so this runs once per distinct set of options, not once per job."""
    extra = {k: v for k, v in options.items() if k not in PAYLOAD_FIELDS}
    check_override(extra, job_class, owned)


def typed_key(options: Mapping[str, Any]) -> tuple[tuple[Any, ...], ...]:
    """options as a cache key that tells True from 1 and 1.0 from 1 (Python finds them equal, JSON
    does not: "retry":true is 25 retries, "retry":1 is one). TypeError for an unhashable value."""
    return tuple(
        [
            (name, _typed(value)) if value.__class__ in _NESTED else (name, value.__class__, value)
            for name, value in options.items()
        ]
    )


_NESTED = (list, tuple)


def _typed(value: Any) -> Any:
    kind = type(value)
    if kind is tuple or kind is list:
        return (kind, tuple(_typed(item) for item in value))
    return (kind, value)


#: Options of sidequest's opt-in middleware (docs/periodic.md), and the call that turns each on.
OPT_IN_OPTIONS = {
    "unique_for": "sidequest.middleware.unique.install()",
    "unique_until": "sidequest.middleware.unique.install()",
    "unique_key": "sidequest.middleware.unique.install()",
    "expires_in": "sidequest.middleware.expiring.install()",
}


def _unknown(key: str, where: str, known: frozenset[str]) -> ConfigError:
    if key in OPT_IN_OPTIONS:
        return ConfigError(
            f"job option {key!r} on {where} needs its middleware: call {OPT_IN_OPTIONS[key]} once at startup, "
            "in every process that enqueues or runs this job"
        )
    close = close_matches(key, sorted(known), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return ConfigError(
        f"unknown job option {key!r} on {where}; {hint}known options: {', '.join(sorted(known))} "
        "(a middleware owns more when it lists them in its options attribute and is added to "
        "sidequest.get_config().client_middleware or server_middleware)"
    )


def _check_value(key: str, value: Any, where: str) -> None:
    if key in ("queue", "retry_queue") and not valid_queue_name(value):
        raise ConfigError(f"{key} option of {where} is {value!r}; use a non-empty name of {QUEUE_NAME_RULE}")
    if key == "retry" and not (isinstance(value, bool) or (isinstance(value, int) and value >= 0)):
        raise ConfigError(
            f"retry option of {where} is {value!r}; use True, False or a number of retries (>= 0)"
        )
    if key == "dead" and not isinstance(value, bool):
        raise ConfigError(f"dead option of {where} is {value!r}; use True or False")
    if key == "backtrace" and not (isinstance(value, bool) or (isinstance(value, int) and value >= 0)):
        raise ConfigError(f"backtrace option of {where} is {value!r}; use True, False or a number of lines")
    if key == "retry_for" and (isinstance(value, bool) or not isinstance(value, int | float) or value <= 0):
        raise ConfigError(f"retry_for option of {where} is {value!r}; use a number of seconds")
    if key == "tags" and (not isinstance(value, list | tuple) or not all(isinstance(t, str) for t in value)):
        raise ConfigError(f"tags option of {where} is {value!r}; use a list of strings")
    if key == "jid" and value is not None and (not isinstance(value, str) or not value):
        raise ConfigError(f"jid option of {where} is {value!r}; use a non-empty string (or leave it out)")


def close_attribute(name: str) -> str | None:
    """The option a Job class attribute name was probably meant to be (``queu`` -> ``queue``), or None."""
    if name in CORE_OPTIONS:
        return None
    close = close_matches(name, sorted(CORE_OPTIONS), n=1, cutoff=0.75)
    return close[0] if close else None
