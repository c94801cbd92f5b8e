"""The client: turn a job call into payloads and hand them to the store.

One path for every enqueue: payload.build (jid, created_at, options, argument check) -> client
middleware -> serialise -> store.push (now) or store.schedule (later). Testing modes replace only the
last step (``deliver``), so fake and inline jobs see exactly the payload production would write.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sidequest import payload as wire
from sidequest._time import now
from sidequest.config import Config, get_config
from sidequest.errors import JobArgumentError

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
        if self._renders(options):
            # the common call, kept short: one enqueue is one round trip, and this is the CPU around it
            try:
                template = _template(job_class, options)
            except _NotNative:
                pass  # the dict path below names the offending option value
            else:
                stamp = now()
                scheduled = at is not None and at > stamp
                explicit = options.get("jid")
                jid = explicit or wire.new_jids(1)[0]
                stamps = wire.Template.stamps(stamp, None if scheduled else stamp)
                raw = _render(template, job_class, args, jid, bool(explicit), stamps)
                self.deliver([(template.queue, at if scheduled else None, raw)])
                return jid
        return self.push_bulk_jobs(job_class, [args], options, at=at)[0]

    def _renders(self, options: Mapping[str, Any]) -> bool:
        """Whether payloads can be rendered from a template: no client middleware may edit them, and
        the client writes both timestamps itself."""
        return (
            not len(self.config.client_middleware)
            and "created_at" not in options
            and "enqueued_at" not in options
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
        if self._renders(options):
            try:
                return self._push_rendered(job_class, args_list, options, at, batch_size)
            except _NotNative:
                pass  # the dict path below names the offending option value
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
        template = _template(job_class, options)
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
        """Enqueue a raw payload dict with at least "class" and "args" (and optionally "at"), like Sidekiq::Client.push."""
        options = {k: v for k, v in item.items() if k not in ("class", "args", "at", "enqueued_at")}
        at = item.get("at")
        return self.push_job(
            str(item["class"]), item.get("args", []), options, at=float(at) if at is not None else None
        )

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
        store = self.config.store
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


class _NotNative(Exception):
    """An option value is not JSON-native; the dict path reports it with the value named."""


_templates: dict[tuple[str, tuple[tuple[str, Any], ...]], wire.Template] = {}


def _template(job_class: str, options: Mapping[str, Any]) -> wire.Template:
    """The payload template for job_class and options, kept for options seen before (when hashable)."""
    try:
        key: tuple[str, tuple[tuple[str, Any], ...]] | None = (job_class, tuple(options.items()))
        template = _templates.get(key)  # type: ignore[arg-type]
    except TypeError:  # an unhashable option value (a list or dict): build it each time
        key, template = None, None
    if template is None:
        try:
            template = wire.Template(job_class, options)
        except (TypeError, ValueError):
            raise _NotNative from None
        if key is not None:
            if len(_templates) >= 1000:
                _templates.clear()
            _templates[key] = template
    return template


_default_client = Client()


def get_client() -> Client:
    """The client used by perform_async and friends (it follows sidequest.configure)."""
    return _default_client


def enqueue(
    job_class: str, args: Sequence[Any] = (), *, at: float | None = None, **options: Any
) -> str | None:
    """Enqueue a job by name only, e.g. a Ruby job: ``enqueue("HardJob", [1, 2], queue="critical")``.

    No Python body is needed; options default to Sidekiq's (retry=True, queue="default").
    """
    from sidequest._time import run_at

    when = None if at is None else run_at(at, relative=False)
    return get_client().push_job(job_class, args, {"retry": True, "queue": "default", **options}, at=when)


def enqueue_bulk(
    job_class: str, args_list: Sequence[Sequence[Any]], *, batch_size: int = 1000, **options: Any
) -> list[str | None]:
    """Enqueue many jobs by name, one round trip per batch (Sidekiq's push_bulk)."""
    return get_client().push_bulk_jobs(
        job_class, args_list, {"retry": True, "queue": "default", **options}, batch_size=batch_size
    )
