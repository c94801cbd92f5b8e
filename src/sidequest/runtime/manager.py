"""The job pipeline of one worker process: concurrency + 1 processor threads, one of them fetching.

    fetch role (fetch.py)  --works-->  ready queue  -->  processor threads  -->  acknowledger.py

A job is fetched only when a thread is free to start it (plus ``prefetch``, 0 by default), so no job
waits here behind a slow one while a worker elsewhere is idle. Fetching is a role two threads (the
fetch pair) take turns at: when a fetch brings one job and the partner is parked, the fetching
thread wakes it to fetch next and runs that job itself, so an idle worker starts a job without a
thread hand-off; a fetch that brings several hands them all to the ready queue and the same thread
fetches again (under a steady flow, a hand-off per fetch cost 10-15 % of the drain). One thread
fetches at a time, so at most concurrency jobs run.

Threads are woken only when needed, as handoff.py describes: every runnable thread competes for
the GIL. The acknowledger's watch runs the stall check.

Once quieted no job starts: fetched ones go back to their queues at once; at stop, jobs still
running at the deadline are pushed back too (one that finishes later may run twice: at least once).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

from sidequest.config import Config
from sidequest.errors import StoreError
from sidequest.logging import thread_id
from sidequest.runtime.acknowledger import Acknowledger
from sidequest.runtime.fetch import Fetcher, QueueOrder
from sidequest.runtime.handoff import STALL, Handoff, Seat
from sidequest.runtime.loop import EventLoop
from sidequest.runtime.processor import Processor
from sidequest.runtime.store_retry import HardStop, StoreRetry
from sidequest.stores.base import JobCounts, Store, Work

logger = logging.getLogger("sidequest")

#: At stop, how long threads get to end once the pipeline closes, when the deadline leaves less.
JOIN_GRACE = 1.0


class Manager:
    def __init__(self, config: Config, store: Store, identity: str, *, burst: bool = False) -> None:
        settings = config.settings
        self.config = config
        self.store = store
        self.identity = identity
        self.concurrency = settings.concurrency
        self.fetch_batch = settings.fetch_batch
        #: Jobs in hand (running, or fetched and waiting for a thread): one per thread, plus prefetch.
        self.capacity = settings.concurrency + settings.prefetch
        self.store_retry = StoreRetry()
        order = QueueOrder(settings.queues, strict=settings.strict)
        self.fetcher = Fetcher(store, identity, order, self.store_retry, wait=0.05 if burst else 1.0)
        self._threads: list[threading.Thread] = []
        self.event_loop = EventLoop(self._spawn)
        self.processor = Processor(config, store, identity, self.event_loop.run, self.store_retry.keep_trying)
        self.acknowledger = Acknowledger(store, identity, self.store_retry, self.fetcher.let_go, self._watch)
        self.running: dict[str, tuple[Work, int]] = {}
        #: the heartbeat holds it while it recovers and logs jobs of dead processes: no job starts then
        self.start_gate = threading.Lock()
        self.quieted = threading.Event()

        self.handoff = Handoff(self.concurrency)
        self._fetch_pair = (Seat(), Seat())
        self._fetch_ended = threading.Event()
        # jobs in hand = fetched - finished - released; each counter has a single writer (or a lock)
        self._finished = [0] * (self.concurrency + 1)
        self._released = 0
        self._release_lock = threading.Lock()
        # jobs started per thread slot (progress for the stall check)
        self._started = [0] * (self.concurrency + 1)
        # while the fetching thread waits for room: it wants waking once jobs in hand fall to the floor
        self._fetcher_waiting = False
        self._room_wakeup = threading.Event()
        self._room_floor = 0
        self._closing = False

    # ---- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        self.acknowledger.start()
        for index in range(self.concurrency + 1):
            seat = self._fetch_pair[index] if index < 2 else Seat()
            loop = functools.partial(self._work_loop, index, seat, index == 0)
            self._spawn(loop, f"sidequest-processor-{index}")

    def _spawn(self, target: Callable[[], None], name: str) -> threading.Thread:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)
        return thread

    def quiet(self) -> None:
        """Start no more jobs: running ones carry on, fetched ones go back to their queues at once.

        May run in a signal handler, so the push back happens on the acknowledger's thread.
        """
        self.quieted.set()
        self._room_wakeup.set()
        self.acknowledger.wake()

    def stop(self, deadline: float) -> None:
        """Quiet, push back unstarted jobs, wait for running ones until deadline, push back the rest."""
        self.quiet()
        # The fetching thread may be blocked in a fetch; let it finish (it pushes back what it got
        # after quiet) before we push jobs back, or its blocking fetch could take them again.
        self._fetch_ended.wait(timeout=max(2.0, deadline - time.monotonic()))
        self.fetcher.requeue(self._drain_ready(), "not started")
        while self.running and time.monotonic() < deadline:
            time.sleep(0.02)
        self.fetcher.requeue(self._drain_ready(), "not started")
        leftover = [work for work, _ in list(self.running.values())]
        if leftover:
            logger.warning(
                "%d job(s) still running at the shutdown deadline; pushing them back to their queues",
                len(leftover),
            )
            self.store_retry.hard_stop = True
            self.fetcher.requeue(leftover, "still running")
        self._closing = True
        self.handoff.close()
        self.acknowledger.close()
        self.event_loop.close()
        self._join_threads(max(JOIN_GRACE, deadline - time.monotonic()))

    def _join_threads(self, seconds: float) -> None:
        """Wait for the processor threads to end, so none still uses the store when the process exits.

        Each ends as soon as it sees the pipeline closing; only a thread still inside a job that
        outlived the deadline (its job pushed back above) is left behind after seconds.
        """
        until = time.monotonic() + seconds
        for thread in self._threads:
            thread.join(max(0.0, until - time.monotonic()))
        left = [thread.name for thread in self._threads if thread.is_alive()]
        if left:
            logger.warning("%d thread(s) still busy in a job at exit: %s", len(left), ", ".join(left))

    @property
    def idle(self) -> bool:
        """True when nothing is in hand or being acknowledged and a fetch that started after the last
        acknowledgement found nothing (burst mode's exit test): an acknowledgement may push jobs
        (a batch job's report), which an earlier empty fetch could not have seen."""
        since = self.fetcher.nothing_since
        acknowledger = self.acknowledger
        return (
            since is not None
            and not acknowledger.pending
            and since > acknowledger.acked_at
            and self._in_hand() == 0
        )

    # ---- the heartbeat's port (heartbeat.Pipeline) ----------------------------------------------
    def take_counts(self) -> tuple[int, int]:
        return self.acknowledger.take_counts()

    def return_counts(self, processed: int, failed: int) -> None:
        self.acknowledger.return_counts(processed, failed)

    def take_metrics(self) -> dict[str, JobCounts]:
        return self.processor.metrics.take()

    def return_metrics(self, metrics: dict[str, JobCounts]) -> None:
        self.processor.metrics.give_back(metrics)

    def record_alive(self, beat_started: float) -> None:
        """A beat that started at beat_started (monotonic) found this process's record alive."""
        self.processor.beat_ok_at = beat_started

    def forget_recovered(self) -> None:
        """After our process record vanished (frozen past its TTL), drop fetched-but-unstarted jobs that
        another process already recovered, so they do not run twice. Jobs still ours are kept."""
        unstarted = self._drain_ready()
        if not unstarted:
            return
        self.fetcher.let_go(unstarted)
        try:
            still_ours = Counter(self.store.in_progress(self.identity))
        except StoreError:
            still_ours = Counter(unstarted)
        kept: list[Work] = []
        for work in unstarted:
            if still_ours[work] > 0:
                still_ours[work] -= 1
                kept.append(work)
        if len(kept) < len(unstarted):
            logger.warning(
                "%d fetched job(s) were recovered by another process while this one was unresponsive; "
                "not running them here",
                len(unstarted) - len(kept),
            )
        if kept:
            self.fetcher.hold_again(kept)
            self._release(-len(kept))
            self._hand_out(kept)

    # ---- the fetch role and the processor threads ------------------------------------------------
    def _work_loop(self, index: int, seat: Seat, lead: bool) -> None:
        """Run jobs from the ready queue, parking when there are none; fetch while holding the role."""
        tid = thread_id()
        ready = self.handoff.ready
        while True:
            if lead:
                lead = False
                first = self._fetch_until_handover(seat)
                if first is not None and not self._run(index, tid, first):
                    return
                continue
            try:
                work = ready.popleft()
            except IndexError:
                if self._closing:
                    return
                if not self.handoff.park(seat):
                    continue
                seat.wake.acquire()
                lead, seat.lead = seat.lead, False
                continue
            if not self._run(index, tid, work):
                return

    def _fetch_until_handover(self, seat: Seat) -> Work | None:
        """Fetch until quieted (returns None), or until the fetch pair's other thread can take over.

        When a fetch brings work and the partner is parked, the partner is woken to fetch next and
        the first job comes back to be run by this thread at once.
        """
        first, second = self._fetch_pair
        partner = second if seat is first else first
        handed_over = False
        try:
            while not self.quieted.is_set():
                # fetch for every free thread once none waits for work, or once half of them are free
                room = self._wait_for_room(max(1, self.capacity // 2))
                if self.quieted.is_set():
                    break
                works = self.fetcher.fetch(min(room, self.fetch_batch))
                if not works:
                    continue
                if self.quieted.is_set():
                    self.fetcher.requeue(works, "fetched while quieting")
                    self._release(len(works))
                    break
                # a lone job (an idle worker's next job) runs here at once while the partner fetches
                # next; more jobs go to the ready queue and this thread keeps fetching, which saves
                # a thread hand-off per fetch when jobs keep coming
                if len(works) == 1 and self.handoff.unpark(partner):
                    partner.lead = True
                    handed_over = True
                    partner.wake.release()
                    return works[0]
                self._hand_out(works)
                if self.quieted.is_set():  # quiet() may have drained the ready queue before these arrived
                    self.fetcher.requeue(self._drain_ready(), "fetched while quieting")
        finally:
            # The role ends here unless the partner took it over (it sets this when its turn ends).
            # Also set on a bug of ours: stop() must not wait for a fetch that never ends.
            if not handed_over:
                self._fetch_ended.set()
        return None

    def _wait_for_room(self, refill: int) -> int:
        ready = self.handoff.ready
        room = self.capacity - self._in_hand()
        if room >= refill or (room > 0 and not ready):
            return room
        # processors set the wake-up only while this flag is up, and only once there is room enough
        # (not after every job: each wake-up is a futex call and a GIL hand-off); clear, then
        # re-check, then wait
        self._room_floor = self.capacity - refill
        self._fetcher_waiting = True
        try:
            while not self.quieted.is_set():
                self._room_wakeup.clear()
                room = self.capacity - self._in_hand()
                if room >= refill or (room > 0 and not ready):
                    return room
                self._room_wakeup.wait(0.5)
        finally:
            self._fetcher_waiting = False
        return 0

    def _run(self, index: int, tid: str, work: Work) -> bool:
        """Run one job and queue it for acknowledgement; False once the thread must end (hard stop)."""
        finished = self._finished
        if self.quieted.is_set():  # Sidekiq too requeues a job fetched after the stop was decided
            self.fetcher.requeue([work], "not started")
            finished[index] += 1
            return True
        with self.start_gate:
            self._started[index] += 1
        running = self.running
        running[tid] = (work, int(time.time()))
        try:
            failed = self.processor.process(work)
        except HardStop:
            return False
        except BaseException as exc:  # a bug of ours: keep the job (not acked) and the thread alive
            self.config.handle_error(exc, {"context": "Internal exception!", "jobstr": work.payload})
            del running[tid]
            finished[index] += 1
            return True
        del running[tid]
        self.acknowledger.done(work, failed)
        finished[index] += 1
        if self._fetcher_waiting and (not self.handoff.ready or self._in_hand() <= self._room_floor):
            self._room_wakeup.set()
        return True

    # ---- helpers -------------------------------------------------------------------------------
    def _in_hand(self) -> int:
        """Jobs fetched and not yet finished (running or waiting in the ready queue)."""
        return self.fetcher.fetched - sum(self._finished) - self._released

    def _hand_out(self, works: list[Work]) -> None:
        """Queue works for the processor threads (see handoff.py for who is woken)."""
        if works and self.handoff.put(works) and self.acknowledger.waiting:
            self.acknowledger.wake()  # awake threads may be stuck in slow jobs: let the stall check look

    def _watch(self) -> float:
        """Run by the acknowledger between batches: push back what waits once quiet, and the stall
        check. Returns how long the acknowledger may sleep if nothing finishes."""
        if self.handoff.ready and self.quieted.is_set():
            self.fetcher.requeue(self._drain_ready(), "not started")
        self.handoff.unstall(sum(self._started) + sum(self._finished))
        return STALL if self.handoff.stuck_possible else 0.5

    def _release(self, count: int) -> None:
        with self._release_lock:
            self._released += count
        self._room_wakeup.set()

    def _drain_ready(self) -> list[Work]:
        """Take every job not yet started out of hand."""
        drained = self.handoff.drain()
        if drained:
            self._release(len(drained))
        return drained
