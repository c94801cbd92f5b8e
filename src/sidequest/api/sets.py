"""The schedule, retry and dead sets (Sidekiq's ScheduledSet, RetrySet and DeadSet).

Entries are listed newest (highest score) first and read a page at a time, never a whole set.
Every move (retry now, add to queue, kill) is one atomic store step per entry: an entry two
operators act on at once moves once, and a failed move leaves it where it was. Like the poller's
moves, these do not run client middleware.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

from sidequest._time import now
from sidequest.api._store import resolve
from sidequest.api.queues import _check_paging
from sidequest.api.records import Page, SortedEntry
from sidequest.config import get_config
from sidequest.errors import JobNotFound
from sidequest.payload import dumps, loads
from sidequest.stores import Store

#: Entries read per store call when walking a set or acting on all of it.
WALK_PAGE = 100
#: At most this many entries match a search (Sidekiq's filter box scans the same way).
SEARCH_LIMIT = 1000

_Act = Callable[[Sequence[str]], int]


class JobSet:
    """A sorted set of jobs by name; see ScheduledSet, RetrySet and DeadSet."""

    name = ""

    def __init__(self, store: Store | None = None) -> None:
        self.store = resolve(store)

    def size(self) -> int:
        return self.store.set_size(self.name)

    def page(
        self, page: int = 1, per_page: int = 25, *, oldest_first: bool = False, total: int | None = None
    ) -> Page[SortedEntry]:
        """Entries newest (highest score) first, or lowest score first with oldest_first.

        total: the set's size if the caller has just read it (the dashboard's summary bar has), to
        skip counting again: on SQLite a count reads the whole set (about 17 ms per 100,000 entries).
        """
        _check_paging(page, per_page)
        start = (page - 1) * per_page
        entries = self.store.set_range(self.name, start, start + per_page - 1, reverse=not oldest_first)
        size = self.size() if total is None else total
        return Page([self._entry(score, raw) for score, raw in entries], page, per_page, size)

    def __iter__(self) -> Iterator[SortedEntry]:
        """Every entry, newest first, a page at a time (entries moving meanwhile may shift a page)."""
        start = 0
        while True:
            entries = self.store.set_range(self.name, start, start + WALK_PAGE - 1, reverse=True)
            for score, raw in entries:
                yield self._entry(score, raw)
            if len(entries) < WALK_PAGE:
                return
            start += WALK_PAGE

    def search(
        self, text: str = "", *, job_class: str | None = None, limit: int = SEARCH_LIMIT
    ) -> list[SortedEntry]:
        """Entries whose args, error, jid... contain text and, if given, of job_class; newest
        first, at most limit (the newest limit when more match).

        text matches as the job holds it (say "hi") and as the stored JSON spells it (say \\"hi\\",
        which is how the dashboard's lists show args): text with a quote, a backslash or a control
        character is looked for both ways, in one read of the set.
        """
        class_needle = "" if job_class is None else '"class":' + json.dumps(job_class, ensure_ascii=False)
        texts = tuple(dict.fromkeys((json_text(text), text)))
        required = [class_needle] if class_needle else []
        if not text:  # the class alone: its text turns most entries away in one look
            texts, required = (class_needle,), []
        elif len(texts) > 1 and _common_piece(text):
            # both spellings hold the text's longest piece without characters JSON escapes: the store
            # tests that once per entry, and the two spellings only on the few that hold it
            required.insert(0, _common_piece(text))
        found = self.store.set_scan(self.name, texts, limit, also=required)
        entries = [self._entry(score, raw) for score, raw in found]
        if job_class is not None:  # the class text may also appear inside args
            entries = [entry for entry in entries if entry.job_class == job_class]
        entries.sort(key=lambda e: (e.score, e.raw), reverse=True)
        return entries

    def find_job(self, jid: str) -> SortedEntry | None:
        """The entry with this jid, or None."""
        if not jid:
            return None
        for entry in self.search(jid):
            if entry.jid == jid:
                return entry
        return None

    def fetch(self, key: str) -> SortedEntry | None:
        """The entry a Web UI key ("{score}-{jid}") names, or None."""
        score_text, _, jid = key.rpartition("-")
        try:
            score = float(score_text)
        except ValueError:
            return None
        for raw in self.store.set_by_score(self.name, score):
            entry = self._entry(score, raw)
            if entry.jid == jid:
                return entry
        return None

    def get(self, ref: SortedEntry | str) -> SortedEntry:
        """The entry ref names: an entry, a key "{score}-{jid}" or a jid; JobNotFound when gone."""
        if isinstance(ref, SortedEntry):
            return ref
        entry = self.fetch(ref) if "-" in ref else self.find_job(ref)
        if entry is None:
            raise JobNotFound(
                f"no job {ref!r} in the {self.name} set; it may have run, moved or been deleted "
                f"(list the set to see what is there)"
            )
        return entry

    # ---- actions on one entry -----------------------------------------------------------------
    def delete(self, ref: SortedEntry | str) -> bool:
        """Remove the entry; False when it was already gone."""
        return self.store.set_remove(self.name, [self.get(ref).raw]) == 1

    def add_to_queue(self, ref: SortedEntry | str) -> bool:
        """Enqueue the job now, unchanged; False when it was already gone."""
        entry = self.get(ref)
        return self.store.set_enqueue(self.name, [(entry.raw, entry.raw)], now()) == 1

    def retry(self, ref: SortedEntry | str) -> bool:
        """Enqueue the job now for another try; False when it was already gone.

        Like Sidekiq, retry_count goes down by one, so the manual retry does not use up an attempt.
        """
        entry = self.get(ref)
        return self.store.set_enqueue(self.name, [(entry.raw, _for_retry(entry.raw))], now()) == 1

    def kill(self, ref: SortedEntry | str) -> bool:
        """Move the entry to the dead set now (trimmed as the worker trims it); False when it was already gone."""
        return self._kill([self.get(ref).raw]) == 1

    # ---- actions on the whole set ---------------------------------------------------------------
    def retry_all(self) -> int:
        """Retry every entry there is now (entries added meanwhile wait); returns how many moved."""
        return self._each_batch(
            lambda raws: self.store.set_enqueue(self.name, [(r, _for_retry(r)) for r in raws], now())
        )

    def add_all_to_queue(self) -> int:
        return self._each_batch(lambda raws: self.store.set_enqueue(self.name, [(r, r) for r in raws], now()))

    def kill_all(self) -> int:
        return self._each_batch(self._kill)

    def delete_all(self) -> int:
        """Empty the set; returns how many entries it held."""
        size = self.size()
        self.store.set_clear(self.name)
        return size

    def _kill(self, raws: Sequence[str]) -> int:
        # the configured dead set limits, as the worker's kills use them
        settings = get_config().settings
        return self.store.set_kill(self.name, raws, now(), settings.dead_max_jobs, settings.dead_timeout)

    def _each_batch(self, act: _Act) -> int:
        """Act on the set's entries oldest first, a page at a time, at most as many as it holds now
        (a job that fails again during retry_all must not make it loop)."""
        budget = self.size()
        done = 0
        while budget > 0:
            entries = self.store.set_range(self.name, 0, min(WALK_PAGE, budget) - 1)
            if not entries:
                break
            budget -= len(entries)
            done += act([raw for _, raw in entries])
        return done

    def _entry(self, score: float, raw: str) -> SortedEntry:
        return replace(SortedEntry.from_raw(raw), score=score, set_name=self.name)


class ScheduledSet(JobSet):
    """Jobs to run later (perform_in / perform_at), scored by run-at time."""

    name = "schedule"


class RetrySet(JobSet):
    """Failed jobs waiting for their next try, scored by next retry time."""

    name = "retry"


class DeadSet(JobSet):
    """Jobs out of retries (the morgue), scored by time of death."""

    name = "dead"


def json_text(text: str) -> str:
    """text as it appears inside a JSON string of a payload: the escapes Ruby's JSON.generate and
    ours write (\\" \\\\ \\n \\t ...), other characters as they are (both write raw UTF-8)."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


#: The characters json_text writes as escapes (a quote, a backslash, control characters).
_ESCAPED = re.compile(r'["\\\x00-\x1f]')


def _common_piece(text: str) -> str:
    """The longest run of text that json_text leaves as it is, so both spellings contain it; of
    equally long ones the last (in `"key":value` the value tells entries apart, the key rarely)."""
    return max(reversed(_ESCAPED.split(text)), key=len)


def _for_retry(raw: str) -> str:
    """raw with retry_count one lower (Sidekiq's SortedEntry#retry); unreadable payloads go as they are."""
    try:
        item = loads(raw)
    except Exception:
        return raw
    count = item.get("retry_count")
    if isinstance(count, int) and not isinstance(count, bool):
        item["retry_count"] = count - 1
        return dumps(item)
    return raw
