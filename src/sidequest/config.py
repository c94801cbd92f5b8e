"""Settings and the process-wide configuration: store, middleware, handlers, lifecycle hooks.

Settings come, lowest precedence first, from defaults, a TOML file, environment variables, then code
(``sidequest.configure``) and command-line flags. Every value is validated here with a message that names
the setting and the bad value, so the worker never starts half-configured.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sidequest._closest import close_matches
from sidequest.errors import ConfigError
from sidequest.middleware.chain import Chain
from sidequest.options import valid_queue_name

if TYPE_CHECKING:
    from sidequest.stores.base import Store

logger = logging.getLogger("sidequest")

DEFAULT_SQLITE_URL = "sqlite:///sidequest.db"
LIFECYCLE_EVENTS = ("startup", "quiet", "shutdown", "heartbeat", "beat")

ErrorHandler = Callable[[BaseException, dict[str, Any]], None]
DeathHandler = Callable[[dict[str, Any], BaseException], None]


@dataclass(frozen=True)
class Settings:
    """Every tunable, with Sidekiq's defaults where Sidekiq has one."""

    url: str | None = None
    namespace: str = ""
    concurrency: int = 10
    queues: tuple[tuple[str, int], ...] = (("default", 1),)
    strict: bool = False
    timeout: float = 25.0
    max_retries: int = 25
    dead_max_jobs: int = 10_000
    dead_timeout: float = 180 * 24 * 3600
    heartbeat_interval: float = 10.0
    process_ttl: float = 60.0
    poll_interval: float = 0.5
    fetch_batch: int = 100
    #: Jobs a worker may hold beyond its idle threads. 0 (the default): a job is fetched only when a
    #: thread is free to start it, so a short job never waits behind a long one while another worker
    #: is idle. More saves store round trips for tiny jobs, at the price of that wait.
    prefetch: int = 0
    #: A job whose worker process died under it this many times (recovered each time) is a poison
    #: pill: it goes to the dead set as ProcessCrashed instead of killing the next worker.
    max_recoveries: int = 3
    sidekiq_version: Literal["6", "7", "8"] = "7"
    tag: str = ""
    labels: tuple[str, ...] = ()
    log_format: Literal["text", "json"] = "text"
    log_level: str = "INFO"
    #: "failures": a job logs its fail line only, no start and done lines, while INFO stays on for the rest
    job_logging: Literal["all", "failures"] = "all"
    require: tuple[str, ...] = ()
    processes: int = 1
    max_rss_mb: int = 0
    #: A --burst worker gives up (exit 3) when the store stays unreachable this long, so cron and CI end.
    burst_store_wait: float = 30.0
    #: [periodic.NAME] tables of the settings file (schedules; checked by sidequest.periodic at worker start)
    periodic: Mapping[str, Any] = field(default_factory=dict)
    #: Queues whose jobs live in another store, queue name -> URL: pushes to them go there, so one
    #: process can enqueue into several Redis instances once one is not enough (docs/scaling.md).
    #: A worker still fetches from the one store of its url.
    queue_urls: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _validate(self)

    def with_changes(self, **changes: Any) -> Settings:
        """A copy with some values changed (and re-validated); unknown names are a ConfigError."""
        unknown = sorted(set(changes) - SETTING_NAMES)
        if unknown:
            raise ConfigError(unknown_settings_message(unknown))
        return replace(self, **{key: _coerce(key, value) for key, value in changes.items()})

    @property
    def store_url(self) -> str:
        """The store this process talks to: url (which the environment may set), else ./sidequest.db."""
        return self.url or DEFAULT_SQLITE_URL

    def routed_url(self, queue: str) -> str | None:
        """The URL of the other store queue_urls sends queue's jobs to; None when they live in this one."""
        url = self.queue_urls.get(queue)
        return None if url is None or url == self.store_url else url

    @property
    def queue_names(self) -> list[str]:
        return list(dict.fromkeys(name for name, _ in self.queues))


def _validate(settings: Settings) -> None:
    if settings.concurrency < 1:
        raise ConfigError(f"concurrency must be at least 1, got {settings.concurrency}")
    if settings.timeout < 0:
        raise ConfigError(f"timeout must be zero or more seconds, got {settings.timeout}")
    if not settings.queues:
        raise ConfigError("at least one queue is needed (e.g. -q default)")
    for name, weight in settings.queues:
        if not valid_queue_name(name):
            raise ConfigError(
                f"queue name {name!r} is not valid; use letters, digits and _ : . - (Sidekiq's rule)"
            )
        if weight < 0:
            raise ConfigError(f"queue {name!r} has a negative weight {weight}")
    for name in ("heartbeat_interval", "process_ttl", "poll_interval", "burst_store_wait"):
        if getattr(settings, name) <= 0:
            raise ConfigError(f"{name} must be positive, got {getattr(settings, name)}")
    if settings.process_ttl <= settings.heartbeat_interval:
        raise ConfigError(
            f"process_ttl ({settings.process_ttl}) must be longer than heartbeat_interval ({settings.heartbeat_interval})"
        )
    if settings.sidekiq_version not in ("6", "7", "8"):
        raise ConfigError(f"sidekiq_version must be 6, 7 or 8, got {settings.sidekiq_version!r}")
    if settings.log_format not in ("text", "json"):
        raise ConfigError(f"log_format must be text or json, got {settings.log_format!r}")
    if settings.job_logging not in ("all", "failures"):
        raise ConfigError(f"job_logging must be all or failures, got {settings.job_logging!r}")
    if settings.fetch_batch < 1:
        raise ConfigError(f"fetch_batch must be at least 1, got {settings.fetch_batch}")
    if settings.max_recoveries < 1:
        raise ConfigError(f"max_recoveries must be at least 1, got {settings.max_recoveries}")
    if settings.prefetch < 0:
        raise ConfigError(f"prefetch must be zero or more jobs, got {settings.prefetch}")
    if settings.processes < 1:
        raise ConfigError(f"processes must be at least 1, got {settings.processes}")
    for name, url in settings.queue_urls.items():
        if not isinstance(name, str) or not valid_queue_name(name):
            raise ConfigError(
                f"queue_urls names queue {name!r}, which is not a valid queue name; use letters, digits and _ : . -"
            )
        scheme = url.split("://", 1)[0].lower() if isinstance(url, str) and "://" in url else None
        if scheme not in ROUTABLE_SCHEMES:
            from sidequest.stores import redact

            shown = redact(url) if isinstance(url, str) else repr(url)
            raise ConfigError(
                f"queue_urls maps queue {name!r} to {shown}, which is not a store URL; "
                "use redis://host:port/db, rediss://, unix:// or sqlite:///path/to/file.db"
            )


#: Stores a queue can be routed to (memory:// is private to a process: nobody else would see the jobs).
ROUTABLE_SCHEMES = ("redis", "rediss", "unix", "sqlite")


def parse_queue_urls(value: str) -> dict[str, str]:
    """SIDEQUEST_QUEUE_URLS: a JSON object, or ``queue=url`` pairs separated by spaces or commas."""
    text = value.strip()
    if text.startswith("{"):
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"queue_urls is not valid JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise ConfigError(f"queue_urls must map queue names to URLs, got {value!r}")
        return parsed
    found: dict[str, str] = {}
    for pair in text.replace(",", " ").split():
        name, sep, url = pair.partition("=")
        if not sep or not name or not url:
            raise ConfigError(
                f"queue_urls entry {pair!r} is not queue=url (e.g. mail=redis://redis-b:6379/0)"
            )
        found[name] = url
    return found


def parse_queue(spec: str) -> tuple[str, int]:
    """Sidekiq's -q syntax: "name" or "name,weight"."""
    name, _, weight = spec.strip().partition(",")
    if not weight:
        return name, 1
    try:
        return name, int(weight)
    except ValueError:
        raise ConfigError(
            f"queue weight in {spec!r} is not an integer; write -q name,weight (e.g. -q critical,3)"
        ) from None


def _coerce(key: str, value: Any) -> Any:
    """Accept the loose forms a TOML file or environment variable gives."""
    if key == "queues":
        items = value.split() if isinstance(value, str) else value
        out: list[tuple[str, int]] = []
        for item in items:
            if isinstance(item, str):
                out.append(parse_queue(item))
            elif isinstance(item, list | tuple) and len(item) == 2:
                out.append((str(item[0]), int(item[1])))
            else:
                raise ConfigError(f"queues entry {item!r} is not 'name' or 'name,weight'")
        return tuple(out)
    if key in ("labels", "require"):
        return tuple(value.split(",") if isinstance(value, str) else value)
    if key == "sidekiq_version":
        return str(value).split(".")[0]
    if key == "processes" and value == "auto":
        return os.cpu_count() or 1
    if key in (
        "concurrency",
        "max_retries",
        "dead_max_jobs",
        "fetch_batch",
        "prefetch",
        "max_recoveries",
        "processes",
        "max_rss_mb",
    ):
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key} must be an integer, got {value!r}") from None
    if key in (
        "timeout",
        "dead_timeout",
        "heartbeat_interval",
        "process_ttl",
        "poll_interval",
        "burst_store_wait",
    ):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key} must be a number of seconds, got {value!r}") from None
    if key == "periodic":
        if isinstance(value, str):  # SIDEQUEST_PERIODIC holds the tables as JSON
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise ConfigError(f"periodic must be JSON of schedule tables, got {value!r}: {exc}") from None
        if not isinstance(value, Mapping) or not all(isinstance(t, Mapping) for t in value.values()):
            raise ConfigError(
                f"periodic must be a table of schedules ([periodic.NAME] with cron and job), got {value!r}"
            )
        return dict(value)
    if key == "queue_urls":
        if isinstance(value, str):
            return parse_queue_urls(value)
        if not isinstance(value, Mapping):
            raise ConfigError(f"queue_urls must map queue names to URLs, got {value!r}")
        return dict(value)
    if key == "strict" and isinstance(value, str):
        return value.lower() in ("1", "true", "yes", "on")
    return value


SETTING_NAMES = frozenset(f.name for f in fields(Settings))

#: Every setting but url can come from SIDEQUEST_<NAME>; the URL has its own three variables.
URL_VARIABLES = ("SIDEQUEST_URL", "SIDEQUEST_REDIS_URL", "REDIS_URL")
ENV_VARIABLES = {f"SIDEQUEST_{name.upper()}": name for name in sorted(SETTING_NAMES - {"url"})}
#: Variables under this prefix belong to sidequest.testing (its pytest plugin), not to settings.
_TESTING_PREFIX = "SIDEQUEST_TEST_"
_warned_variables: set[str] = set()


def close_match(word: str, known: Collection[str]) -> str | None:
    """The known name word was most likely meant to be, if any is close enough to suggest."""
    matches = close_matches(word, sorted(known), n=1, cutoff=0.75)
    return matches[0] if matches else None


def unknown_settings_message(unknown: Collection[str]) -> str:
    """'unknown setting ...; did you mean ...? known settings: ...' for misspelled setting names."""
    parts = []
    for name in sorted(unknown):
        match = close_match(name, SETTING_NAMES)
        parts.append(f"{name!r} (did you mean {match!r}?)" if match else repr(name))
    return f"unknown setting {', '.join(parts)}; known settings: {', '.join(sorted(SETTING_NAMES))}"


def env_sources(environ: Mapping[str, str] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """The settings the environment names, one (variable=value, {setting: value}) per variable.

    SIDEQUEST_URL beats SIDEQUEST_REDIS_URL beats REDIS_URL. A SIDEQUEST_ variable that names no
    setting is logged once, with the setting it was most likely meant to be: a misspelled variable
    would otherwise be ignored without a word.
    """
    env = os.environ if environ is None else environ
    found: list[tuple[str, dict[str, Any]]] = []
    for var in URL_VARIABLES:
        if env.get(var):
            from sidequest.stores import redact  # the label may reach a log: never its password

            found.append((f"{var}={redact(env[var])!r}", {"url": env[var]}))
            break
    for var, key in ENV_VARIABLES.items():
        if env.get(var):
            found.append((f"{var}={env[var]!r}", {key: env[var]}))
    for var in sorted(env):
        if (
            var.startswith("SIDEQUEST_")
            and var not in ENV_VARIABLES
            and var not in URL_VARIABLES
            and not var.startswith(_TESTING_PREFIX)
            and var not in _warned_variables
        ):
            _warned_variables.add(var)
            # compare what follows the prefix: the shared prefix would make every name look close
            prefix = len("SIDEQUEST_")
            known = [name[prefix:] for name in [*ENV_VARIABLES, *URL_VARIABLES[:2]]]
            match = close_match(var[prefix:], known)
            hint = (
                f"did you mean SIDEQUEST_{match}?"
                if match
                else f"settings are {', '.join([*URL_VARIABLES[:2], *ENV_VARIABLES])}"
            )
            logger.warning("environment variable %s is not a sidequest setting and is ignored; %s", var, hint)
    return found


def settings_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Settings named by environment variables, as raw strings (see env_sources)."""
    found: dict[str, Any] = {}
    for _, values in env_sources(environ):
        found.update(values)
    return found


def settings_from_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file: top-level keys, or a [sidequest] / [tool.sidequest] table (pyproject.toml)."""
    import tomllib  # here, not at the top: most processes read no file, and modules stay in memory

    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    table = data.get("tool", {}).get("sidequest") or data.get("sidequest") or data
    settings = dict(table)
    if "redis_url" in settings:
        settings["url"] = settings.pop("redis_url")
    unknown = set(settings) - SETTING_NAMES
    if unknown:
        raise ConfigError(f"config file {path}: {unknown_settings_message(unknown)}")
    return settings


def apply_sources(settings: Settings, sources: Sequence[tuple[str, Mapping[str, Any]]]) -> Settings:
    """settings with every source's values applied, later sources winning.

    The values are checked together (one may depend on another), and when they fail the error
    names the source of the bad value: "SIDEQUEST_CONCURRENCY='abc': concurrency must be an
    integer", not only the setting, which the user may not know they set from the environment.
    """
    merged: dict[str, Any] = {}
    for _, values in sources:
        merged.update(values)
    try:
        return settings.with_changes(**merged)
    except ConfigError as exc:
        for source, values in sources:
            try:
                settings.with_changes(**values)
            except ConfigError as own:
                raise ConfigError(f"{source}: {own}") from None
        raise ConfigError(str(exc)) from None


def _batch_parts() -> tuple[Chain, list[DeathHandler]]:
    """Batches and job status report from whichever process runs the job, so every Config has their
    server middleware and death handler (they pass other jobs through without a store call)."""
    from sidequest.middleware.batches import BatchServer, on_death

    chain = Chain()
    chain.add(BatchServer)
    return chain, [on_death]


@dataclass
class Config:
    """Everything a process shares: settings, the store, middleware chains, handlers and hooks."""

    settings: Settings = field(default_factory=Settings)
    client_middleware: Chain = field(default_factory=Chain)
    server_middleware: Chain = field(default_factory=lambda: _batch_parts()[0])
    error_handlers: list[ErrorHandler] = field(default_factory=list)
    death_handlers: list[DeathHandler] = field(default_factory=lambda: _batch_parts()[1])
    hooks: dict[str, list[Callable[[], None]]] = field(
        default_factory=lambda: {e: [] for e in LIFECYCLE_EVENTS}
    )
    _store: Store | None = None
    #: the stores of settings.queue_urls, by URL, opened on first push
    _routed: dict[str, Store] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def store(self) -> Store:
        """The store for this process, opened on first use from settings.store_url."""
        store = self._store
        if store is None:
            with self._lock:
                if self._store is None:
                    from sidequest.stores import open_store

                    self._store = open_store(
                        self.settings.store_url,
                        namespace=self.settings.namespace,
                        sidekiq_version=self.settings.sidekiq_version,
                    )
                store = self._store
        return store

    def store_for(self, queue: str) -> Store:
        """The store that holds queue's jobs: the one settings.queue_urls names, else this process's."""
        url = self.settings.routed_url(queue)
        if url is None:
            return self.store
        store = self._routed.get(url)
        if store is None:
            with self._lock:
                store = self._routed.get(url)
                if store is None:
                    from sidequest.stores import open_store

                    store = self._routed[url] = open_store(
                        url, namespace=self.settings.namespace, sidekiq_version=self.settings.sidekiq_version
                    )
        return store

    def close_stores(self, *, routed_only: bool = False) -> None:
        """Close the stores this config opened (its own too, unless routed_only); they reopen on use."""
        with self._lock:
            opened: list[Store | None] = list(self._routed.values())
            self._routed = {}
            if not routed_only:
                opened.append(self._store)
                self._store = None
        for store in opened:
            if store is not None:
                store.close()

    def use_store(self, store: Store | None) -> None:
        """Use this store instead of opening one from the URL (tests, embedding)."""
        with self._lock:
            self._store = store

    def update(self, **changes: Any) -> None:
        self.settings = self.settings.with_changes(**changes)
        if {"url", "namespace", "sidekiq_version"} & set(changes):
            self.close_stores()
        elif "queue_urls" in changes:
            self.close_stores(routed_only=True)

    def on(self, event: str, hook: Callable[[], None]) -> None:
        """Run hook at a lifecycle event: startup, quiet, shutdown, heartbeat (first beat) or beat (every beat)."""
        if event not in self.hooks:
            raise ConfigError(f"unknown lifecycle event {event!r}; events are {', '.join(LIFECYCLE_EVENTS)}")
        self.hooks[event].append(hook)

    def fire(self, event: str) -> None:
        """Call the hooks for event; quiet and shutdown run in reverse order, as in Sidekiq."""
        hooks = self.hooks[event]
        for hook in reversed(hooks) if event in ("quiet", "shutdown") else list(hooks):
            try:
                hook()
            except Exception as exc:  # a broken hook must not stop the worker
                self.handle_error(exc, {"context": f"lifecycle hook {event}"})

    def handle_error(self, exc: BaseException, context: dict[str, Any]) -> None:
        """Report exc to every error handler; a failing handler is logged, never raised."""
        if not self.error_handlers:
            logger.error(
                "%s: %s: %s",
                context.get("context", "error"),
                type(exc).__name__,
                exc,
                exc_info=(type(exc), exc, exc.__traceback__),
            )
            return
        for handler in self.error_handlers:
            try:
                handler(exc, context)
            except Exception:
                logger.exception("error handler %r failed", handler)


_config = Config()
_env_applied = False


def get_config() -> Config:
    """The process-wide configuration (environment variables applied on first use).

    A bad environment value raises here, naming the variable, on every call until it is fixed.
    """
    global _env_applied
    if not _env_applied:
        sources = env_sources()
        if sources:
            _config.settings = apply_sources(_config.settings, sources)
        _env_applied = True
    return _config


def configure(**settings: Any) -> Config:
    """Change settings from code, e.g. ``sidequest.configure(url="redis://localhost:6379/0", concurrency=20)``."""
    config = get_config()
    config.update(**settings)
    return config
