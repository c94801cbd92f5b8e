"""The client: turn a job call into payloads and hand them to the store.

One path for every enqueue (perform_*, sidequest.enqueue, enqueue_bulk, Client.push): check the
options (sidequest.options, once per distinct options and middleware) -> payload (without client
middleware: rendered from a cached payload.Template; with it: payload.build, the dict the middleware
may edit, then payload.dumps; both write the same bytes) -> store.push (now) or store.schedule (later).
Testing modes replace only the last step (``deliver``), so fake and inline jobs see exactly the
payload production would write.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sidequest import payload as wire
from sidequest._time import now, run_at
from sidequest.config import Config, get_config
from sidequest.errors import JobArgumentError
from sidequest.options import check_push, typed_key

if TYPE_CHECKING:
    from sidequest.stores.base import Store

#: (queue, run_at or None, serialised payload) for each job of one push.
Delivery = list[tuple[str, float | None, str]]

_override_lock = threading.Lock()
_delivery_override: Callable[[Delivery], None] | None = None


def set_delivery_override(target: Callable[[Delivery], None] | None) -> Callable[[Delivery], None] | None:
    """Route pushes to target instead of the store (testing modes); returns the previous override."""
    global _delivery_override
    with _override_lock:
        previous, _delivery_override = _delivery_override, target
    return previous


def get_delivery_override() -> Callable[[Delivery], None] | None:
    return _delivery_override


class Client:
    """Enqueue jobs through a Config's middleware into its store."""

    def __init__(self, config: Config | None = None) -> None:
        self._config = config

    @property
    def config(self) -> Config:
        return self._config or get_config()

    def push_job(
        self, job_class: str, args: Sequence[Any], options: Mapping[str, Any], *, at: float | None
    ) -> str | None:
        """Enqueue one job; returns its jid, or None when a client middleware stopped the push."""
        config = self.config
        template = self._checked(job_class, options, config)
        if template is not None and self._renders(options, config):
            # the common call, kept short: one enqueue is one round trip, and this is the CPU around it
            stamp = now()
            scheduled = at is not None and at > stamp
            explicit = options.get("jid")
            jid = explicit or wire.new_jids(1)[0]
            stamps = wire.Template.stamps(stamp, None if scheduled else stamp)
            raw = _render(template, job_class, args, jid, bool(explicit), stamps)
            self.deliver([(template.queue, at if scheduled else None, raw)])
            return jid
        return self.push_bulk_jobs(job_class, [args], options, at=at)[0]

    def _checked(self, job_class: str, options: Mapping[str, Any], config: Config) -> wire.Template | None:
        """Check options against sidequest.options and the middleware configured now; returns the
        payload template, or None when an option value is not JSON-native (the dict path then names
        it). Both are kept per distinct job, options (typed: True is not 1) and middleware."""
        owned = (config.client_middleware.owned_options(), config.server_middleware.owned_options())
        try:
            key: _Key | None = (job_class, typed_key(options), owned)
            template = _templates.get(key)  # type: ignore[arg-type]
        except TypeError:  # an unhashable option value (a dict): check and build it each time
            key, template = None, None
        if template is None:
            check_push(job_class, options, owned[0] | owned[1])
            try:
                template = wire.Template(job_class, options)
            except (TypeError, ValueError):
                return None
            if key is not None:
                if len(_templates) >= 1000:
                    _templates.clear()
                _templates[key] = template
        return template

    def _renders(self, options: Mapping[str, Any], config: Config) -> bool:
        """Whether payloads can be rendered from a template: no client middleware may edit them, and
        the client writes both timestamps itself."""
        return (
            not len(config.client_middleware) and "created_at" not in options and "enqueued_at" not in options
        )

    def push_bulk_jobs(
        self,
        job_class: str,
        args_list: Sequence[Sequence[Any]],
        options: Mapping[str, Any],
        *,
        at: float | None = None,
        batch_size: int = 1000,
    ) -> list[str | None]:
        """Enqueue one job per args entry, in batches of batch_size per store round trip."""
        if len(args_list) > 1 and options.get("jid"):
            raise JobArgumentError("an explicit jid cannot be given for more than one job")
        for index, args in enumerate(args_list):
            if type(args) is list or type(args) is tuple:
                continue
            if isinstance(args, str | bytes) or not isinstance(args, Sequence):
                raise JobArgumentError(
                    f"perform_bulk entry {index + 1} of {job_class} is a {type(args).__name__}; each entry must be a list of arguments"
                )
        config = self.config
        template = self._checked(job_class, options, config)
        if template is not None and self._renders(options, config):
            return self._push_rendered(template, job_class, args_list, options, at, batch_size)
        created = now()
        payloads = []
        for index, args in enumerate(args_list):
            try:
                payloads.append(wire.build(job_class, args, options, created))
            except JobArgumentError as exc:
                if len(args_list) == 1:
                    raise
                raise JobArgumentError(f"bulk entry {index + 1}: {exc}") from None
        jids: list[str | None] = []
        for start in range(0, len(payloads), batch_size):
            jids.extend(self._push_payloads(payloads[start : start + batch_size], at))
        return jids

    def _push_rendered(
        self,
        template: wire.Template,
        job_class: str,
        args_list: Sequence[Sequence[Any]],
        options: Mapping[str, Any],
        at: float | None,
        batch_size: int,
    ) -> list[str | None]:
        """The path without client middleware: render each payload from a template, no dict per job.

        Writes the same bytes as the dict path (payload.Template keeps Sidekiq's key order).
        """
        stamp = now()
        scheduled = at is not None and at > stamp
        stamps = wire.Template.stamps(stamp, None if scheduled else stamp)
        explicit = options.get("jid")
        jids: list[str] = [explicit] if explicit else wire.new_jids(len(args_list))
        raws: list[str] = []
        for index, args in enumerate(args_list):
            try:
                raws.append(_render(template, job_class, args, jids[index], bool(explicit), stamps))
            except JobArgumentError as exc:
                if len(args_list) == 1:
                    raise
                raise JobArgumentError(f"bulk entry {index + 1}: {exc}") from None
        queue, when = template.queue, at if scheduled else None
        for start in range(0, len(raws), batch_size):
            self.deliver([(queue, when, raw) for raw in raws[start : start + batch_size]])
        return list(jids)

    def push(self, item: Mapping[str, Any]) -> str | None:
        """Enqueue a raw payload dict with at least "class" and "args" (and optionally "at"), like
        Sidekiq::Client.push. Options are checked as at any enqueue; fields of a payload read back
        from a store (retry_count, error_message, ...) are kept as they are."""
        if not isinstance(item.get("class"), str) or not item.get("class"):
            raise JobArgumentError(f'Client.push needs a "class" string naming the job, got {item!r}')
        job_class = str(item["class"])
        options = {k: v for k, v in item.items() if k not in ("class", "args", "at", "enqueued_at")}
        at = item.get("at")
        when = None if at is None else run_at(at, relative=False, job=job_class)
        return self.push_job(job_class, item.get("args", []), options, at=when)

    def _push_payloads(self, payloads: list[wire.Payload], at: float | None) -> list[str | None]:
        chain = self.config.client_middleware
        delivery: Delivery = []
        jids: list[str | None] = []
        stamp = now()
        for job in payloads:
            if at is not None and at > stamp:
                job["at"] = at  # client middleware sees the run time, as in Sidekiq; not stored
            reached, _ = chain.invoke((job["class"], job, job["queue"]), _noop)
            job.pop("at", None)
            if not reached:
                jids.append(None)
                continue
            if at is not None and at > stamp:
                job.pop("enqueued_at", None)
                delivery.append((job["queue"], at, self._dump(job)))
            else:
                job["enqueued_at"] = stamp
                delivery.append((job["queue"], None, self._dump(job)))
            jids.append(job["jid"])
        if delivery:
            self.deliver(delivery)
        return jids

    @staticmethod
    def _dump(job: wire.Payload) -> str:
        # Middleware may have added values; check them with the same rule as the caller's arguments.
        try:
            return wire.dumps(job)
        except (TypeError, ValueError):
            wire.check_args(job.get("args", []), job.get("class", "job"))
            for key, value in job.items():
                if key != "args":
                    wire.check_args([value], f"{job.get('class')} (payload field {key!r})")
            raise

    def deliver(self, delivery: Delivery) -> None:
        """Write serialised payloads: immediate ones to their queues, later ones to the schedule set."""
        override = _delivery_override
        if override is not None:
            override(delivery)
            return
        config = self.config
        if not config.settings.queue_urls:
            _write(config.store, delivery)
            return
        # queue_urls sends some queues elsewhere: one write per store
        by_store: dict[int, tuple[Store, Delivery]] = {}
        for item in delivery:
            store = config.store_for(item[0])
            by_store.setdefault(id(store), (store, []))[1].append(item)
        for store, part in by_store.values():
            _write(store, part)


def _write(store: Store, delivery: Delivery) -> None:
    """Immediate jobs to their queues, later ones to the schedule set (whose workers promote them)."""
    immediate = [(queue, raw) for queue, at, raw in delivery if at is None]
    scheduled = [(at, raw) for _, at, raw in delivery if at is not None]
    if immediate:
        store.push(immediate)
    if scheduled:
        store.schedule(scheduled)


def _render(
    template: wire.Template, job_class: str, args: Sequence[Any], jid: str, explicit: bool, stamps: str
) -> str:
    """One job's payload from its template; raises JobArgumentError naming a non-native argument.
    A generated jid is hex and needs no escaping; one given by the caller is encoded."""
    checked = wire.check_args(args, job_class)
    return template.render(checked, json.dumps(jid, ensure_ascii=False) if explicit else f'"{jid}"', stamps)


def _noop() -> None:
    return None


_Key = tuple[str, tuple[tuple[Any, ...], ...], tuple[frozenset[str], frozenset[str]]]
_templates: dict[_Key, wire.Template] = {}


_default_client = Client()


def get_client() -> Client:
    """The client used by perform_async and friends (it follows sidequest.configure)."""
    return _default_client


def enqueue(
    job_class: str, args: Sequence[Any] = (), *, at: float | datetime | None = None, **options: Any
) -> str | None:
    """Enqueue a job by name only, e.g. a Ruby job: ``enqueue("HardJob", [1, 2], queue="critical")``.

    No Python body is needed; options default to Sidekiq's (retry=True, queue="default") and are
    checked like @job's (see help(sidequest.job)); at: epoch seconds or an aware datetime.
    """
    when = None if at is None else run_at(at, relative=False, job=job_class)
    return get_client().push_job(job_class, args, {"retry": True, "queue": "default", **options}, at=when)


def enqueue_bulk(
    job_class: str,
    args_list: Sequence[Sequence[Any]],
    *,
    batch_size: int = 1000,
    at: float | datetime | None = None,
    **options: Any,
) -> list[str | None]:
    """Enqueue many jobs by name, one round trip per batch (Sidekiq's push_bulk)."""
    when = None if at is None else run_at(at, relative=False, job=job_class)
    return get_client().push_bulk_jobs(
        job_class, args_list, {"retry": True, "queue": "default", **options}, at=when, batch_size=batch_size
    )
