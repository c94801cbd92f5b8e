"""The job pipeline of one worker process: concurrency + 1 processor threads, one of them fetching.

    fetch role (fetch.py)  --works-->  ready queue  -->  processor threads  -->  acknowledger.py

A job is fetched only when a thread is free to start it (plus ``prefetch``, 0 by default), so no job
waits here behind a slow one while a worker elsewhere is idle. Fetching is a role one thread holds
at a time, so at most concurrency jobs run.

On a busy worker, waking a thread costs more than a short job (a futex call, a GIL hand-off, and
on a virtual machine an interrupt between cores). So the thread holding the role runs the jobs it
fetched itself, and overlaps the next fetch with them: it sends the fetch once REFILL_SHARE of the
jobs in hand are done, runs jobs while the reply travels, and reads it when it has arrived. No
other thread wakes while jobs are short. When the holder's current job has run for STALL and no job
started or finished meanwhile, the acknowledger's watch takes the fetch's jobs into the ready queue
and passes the role to a parked thread, so a slow job holds back neither fetching nor the jobs
fetched with it; the stall check (handoff.py) wakes more threads for jobs still waiting. With
prefetch, jobs in hand can outnumber the threads, so the holder only fetches and hands out, as
before.

With nothing to run, the holder waits for a free thread and makes a fetch that waits for jobs.
When that brings one job and the fetch pair's other thread is parked, the partner takes the role
and the holder runs the job at once: an idle worker starts a job without a thread hand-off.

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

#: The fetching thread fetches once this share (%) of the jobs in hand have finished: the jobs still in
#: hand cover the round trip, and fetches stay large (measured, docs/benchmarks.md "Later changes").
REFILL_SHARE = 70

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
        # which thread holds the fetch role, and (its seat, monotonic start) while it runs a job
        # itself; both change under the lock
        self._fetch_seat = self._fetch_pair[0]
        self._role_job: tuple[Seat, float] | None = None
        self._role_lock = threading.Lock()
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
            and not self.fetcher.under_way
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
                try:
                    first = self._fetch_role(index, tid, seat)
                except HardStop:
                    return
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

    def _fetch_role(self, index: int, tid: str, seat: Seat) -> Work | None:
        """Hold the fetch role until quieted or until it passes to another thread; returns a job to
        run first (a lone job fetched for an idle worker) or None. Raises HardStop to end the thread.

        While jobs wait in the ready queue, this thread runs them itself and overlaps each fetch with
        them (begin, run jobs, collect); no other thread is woken for them unless the stall check
        finds this one stuck in a slow job (then the watch takes the fetch role away, see _watch).
        With nothing to run, it waits for a free thread and makes a fetch that waits for jobs; when
        that brings one job and the partner is parked, the partner takes the role and this thread
        runs the job at once.
        """
        first, second = self._fetch_pair
        partner = second if seat is first else first
        fetcher = self.fetcher
        ready = self.handoff.ready
        refill = -(-self.capacity * REFILL_SHARE // 100)  # ceil: at least 1
        # with prefetch, jobs in hand may outnumber the threads: this thread only fetches, so at
        # most concurrency jobs run (without, jobs in hand never outnumber the threads)
        runs_jobs = self.capacity == self.concurrency
        passed = False
        try:
            while not self.quieted.is_set():
                if not runs_jobs or not (fetcher.under_way or ready):
                    # this thread only fetches, or has nothing to run: a fetch that waits for jobs
                    lone = self._fetch_waiting(refill if not runs_jobs else 1, wake=not runs_jobs)
                    if lone is not None:
                        if self._give_role(partner):
                            passed = True
                            return lone
                        self._hand_out([lone], wake=not runs_jobs)
                    continue
                if fetcher.under_way:
                    if not ready or fetcher.arrived():
                        self._collect()
                        continue
                else:
                    room = self.capacity - self._in_hand()
                    if room >= refill:
                        fetcher.begin(min(room, self.fetch_batch))
                        continue
                # run a waiting job here while the fetch is under way, or until threads free up
                try:
                    work = ready.popleft()
                except IndexError:
                    continue
                # under the lock: the watch passes the role on only while its holder is in a job
                with self._role_lock:
                    self._role_job = (seat, time.monotonic())
                if self.acknowledger.waiting:
                    self.acknowledger.wake()  # its watch passes the role on if this job turns out slow
                try:
                    ran = self._run(index, tid, work)
                finally:
                    with self._role_lock:
                        if self._role_job is not None and self._role_job[0] is seat:
                            self._role_job = None
                        passed = self._fetch_seat is not seat
                if not ran:
                    raise HardStop
                if passed:
                    return None
        finally:
            if not passed:
                self._collect()  # a fetch still under way: its jobs go back to their queues
                # stop() waits for this; also set on a bug of ours, so stop() never waits in vain
                self._fetch_ended.set()
        return None

    def _fetch_waiting(self, refill: int, wake: bool = True) -> Work | None:
        """Wait for room (see _wait_for_room), then fetch for all of it, waiting up to the fetcher's
        wait for a job. Returns a lone job for the caller to place; several go to the ready queue."""
        room = self._wait_for_room(refill)
        if self.quieted.is_set():
            return None
        works = self.fetcher.fetch(min(room, self.fetch_batch))
        if len(works) == 1 and not self.quieted.is_set():
            return works[0]
        self._take(works, wake)
        return None

    def _collect(self, wake: bool = False) -> None:
        """Take the jobs of the fetch under way (see _take)."""
        self._take(self.fetcher.collect() or [], wake)

    def _take(self, works: list[Work], wake: bool) -> None:
        """Put fetched works in the ready queue, or back to their queues once quiet."""
        if not works:
            return
        if self.quieted.is_set():
            self.fetcher.requeue(works, "fetched while quieting")
            self._release(len(works))
            return
        self._hand_out(works, wake)
        if self.quieted.is_set():  # quiet() may have drained the ready queue before these arrived
            self.fetcher.requeue(self._drain_ready(), "fetched while quieting")

    def _give_role(self, seat: Seat) -> bool:
        """Give the fetch role to seat's thread if it is parked; False when it is busy."""
        if not self.handoff.unpark(seat):
            return False
        with self._role_lock:
            self._fetch_seat = seat
        seat.lead = True
        seat.wake.release()
        return True

    def _pass_role(self) -> None:
        """The watch found the fetching thread stuck in a job (no job started or finished for STALL,
        and its own has run that long): take its fetch's jobs into the ready queue and give the role
        to a parked thread, so fetching goes on while that job runs. Jobs finishing elsewhere keep
        the role where it is: a stream of jobs of about STALL each (CPU-bound ones, where a second
        thread only competes for the GIL) would otherwise move it after nearly every job."""
        with self._role_lock:
            role_job = self._role_job
            if role_job is None or role_job[0] is not self._fetch_seat:
                return
            if not self.quieted.is_set() and time.monotonic() - role_job[1] < STALL:
                return
            self._collect(wake=True)
            if self.quieted.is_set():
                return
            first, second = self._fetch_pair
            holder = self._fetch_seat
            partner = second if holder is first else first
            seat = partner if self.handoff.unpark(partner) else self.handoff.unpark_any()
            if seat is None:
                return
            self._fetch_seat = seat
            seat.lead = True
            seat.wake.release()

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

    def _hand_out(self, works: list[Work], wake: bool = True) -> None:
        """Queue works for the processor threads (see handoff.py for who is woken; wake=False: the
        fetching thread will run them itself unless the stall check finds it stuck)."""
        if works and self.handoff.put(works, wake) and self.acknowledger.waiting:
            self.acknowledger.wake()  # awake threads may be stuck in slow jobs: let the stall check look

    def _watch(self) -> float:
        """Run by the acknowledger between batches: push back what waits once quiet, and the stall
        check. Returns how long the acknowledger may sleep if nothing finishes."""
        if self.handoff.ready and self.quieted.is_set():
            self.fetcher.requeue(self._drain_ready(), "not started")
        stalled = self.handoff.unstall(sum(self._started) + sum(self._finished))
        if self._role_job is not None and (stalled or self.quieted.is_set()):
            self._pass_role()
        if self.handoff.stuck_possible or self.fetcher.under_way or self._role_job is not None:
            return STALL
        return 0.5

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
