"""The job pipeline of one worker process: N + 1 worker threads, one of them fetching, and an acknowledger.

    fetching thread  --(batches of Work)-->  ready queue  -->  worker threads  -->  ack queue  -->  acknowledger

The thread that fetches moves jobs into this process's in-progress list, as many per store call as
there are idle threads (at most ``fetch_batch``): a job is fetched only when a thread is free to start
it, so no job waits here behind a slow one while a worker elsewhere is idle (Sidekiq fetches one job
per idle thread; Celery users know the opposite as the prefetch trap). The ``prefetch`` setting lets a
worker hold that many jobs more, which saves round trips for tiny jobs at the price of those jobs
waiting behind slow ones. The acknowledger removes finished jobs from the in-progress list in
batches (one round trip for many jobs, gathered for up to ACK_GATHER) and counts them.

Handing work between threads is what a Python worker pays for most, after round trips: each wake-up
of a blocked thread is a futex call and a GIL handoff. So the ready and done queues are plain deques
(append and popleft are atomic), a processor thread that finds work waiting takes the next job
without blocking, and the fetching thread and acknowledger are woken only when they actually wait.

Threads are woken only when they are needed. Every thread that runs Python competes for the one GIL,
and each job that makes a system call (a log line, a socket) hands the GIL to another runnable
thread: ten threads sharing no-op jobs drained about 15,000 jobs/s here, one thread 23,000. So new
work wakes a parked thread only when no other one is awake to take it, and the acknowledger watches
for a stall: when jobs are waiting and no job started or finished for STALL seconds, the awake
threads are all in slow or blocking jobs, and it wakes as many more as are awake (at least one, at
most one per waiting job). A burst of jobs that block on I/O fans out to all N threads within a few
STALL periods; a stream of short jobs is run by one or two.

Fetching is a role, not a thread. Two of the N + 1 threads (the fetch pair) take turns at it: when a
fetch brings work while the other one is parked, the fetching thread wakes it to fetch next and runs
the first job itself. An idle worker then starts a job without waiting for another thread to wake
(two futex wake-ups and a GIL hand-off, about a third of its enqueue-to-start latency here); when the
partner is busy, the fetching thread hands the batch out. At most one thread fetches at any
time, so at most N jobs run, and only two threads ever hold a fetch connection. In-hand accounting is lock-free: each
processor thread counts its own finished jobs in its own slot. ``async def`` jobs run on one event
loop owned by this manager; each occupies a processor thread while it runs, so they share the same
concurrency limit as sync jobs.

Delivery is at least once: a job leaves the in-progress list only after its outcome is stored. Once
quieted, no job starts: jobs fetched and not started are pushed back at once, and at stop jobs still
running at the deadline are pushed back too; if one of those finishes later it may run twice, which is better than losing it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from sidequest.config import Config
from sidequest.errors import StoreError
from sidequest.logging import thread_id
from sidequest.runtime.fetch import QueueOrder
from sidequest.runtime.processor import Processor
from sidequest.stores.base import Store, Work

logger = logging.getLogger("sidequest")
T = TypeVar("T")

#: The acknowledger waits this long for a batch of ACK_BATCH to gather (a finished job is already
#: counted out of the hand, so this delays only its removal from the in-progress list).
ACK_GATHER = 0.001
ACK_BATCH = 100
#: Jobs waiting this long while no job starts or finishes wake more threads (see the module docstring).
STALL = 0.001


class HardStop(Exception):
    """Raised out of store retries once the shutdown deadline has passed."""


class _Raised:
    """What an async job raised that is not an Exception, carried out of the event loop as a value."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


async def _guarded(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run an async job so that SystemExit or KeyboardInterrupt fail the job, not the shared loop.

    asyncio re-raises those two out of run_forever, which would end the loop every async job runs on.
    """
    try:
        return await coroutine
    except (SystemExit, KeyboardInterrupt) as exc:
        return _Raised(exc)


class _Seat:
    """A worker thread's place while parked: the lock it sleeps on, and whether it was woken to fetch."""

    __slots__ = ("wake", "lead")

    def __init__(self) -> None:
        self.wake = threading.Lock()
        self.wake.acquire()
        self.lead = False


class Manager:
    def __init__(self, config: Config, store: Store, identity: str, *, burst: bool = False) -> None:
        settings = config.settings
        self.config = config
        self.store = store
        self.identity = identity
        self.burst = burst
        self.concurrency = settings.concurrency
        # jobs in hand (running + fetched and waiting for a thread): one per thread, plus prefetch
        self.fetch_batch = settings.fetch_batch
        self.capacity = settings.concurrency + settings.prefetch
        self.order = QueueOrder(settings.queues, strict=settings.strict)
        self.processor = Processor(config, store, self._run_coroutine, self.keep_trying)

        # fetcher -> processors: jobs fetched and not started; parked processors wait on their own lock
        self._ready: deque[Work] = deque()
        self._parked: list[_Seat] = []
        self._park_lock = threading.Lock()
        # the two threads that take turns fetching (see the module docstring)
        self._fetch_pair = (_Seat(), _Seat())
        self._fetch_ended = threading.Event()
        # processors -> acknowledger: finished jobs and whether they failed
        self._done: deque[tuple[Work, bool]] = deque()
        self._acker_waiting = False
        self._ack_wakeup = threading.Event()
        # jobs in hand = fetched - finished - released; each counter has a single writer (or a lock)
        self._fetched = 0
        self._finished = [0] * (self.concurrency + 1)
        # progress for the stall check: jobs started (per thread slot) and when progress was last seen
        self._started = [0] * (self.concurrency + 1)
        self._progress_seen, self._progress_at = 0, time.monotonic()
        self._released = 0
        self._release_lock = threading.Lock()
        # every job fetched and not yet acked or pushed back: what this process knows it holds, as
        # (queue, payload) keys (a tuple hashes in C; the Work dataclass would hash in Python)
        self._held: Counter[tuple[str, str]] = Counter()
        self._held_lock = threading.Lock()
        self._fetch_failed = False
        self._fetcher_waiting = False
        self._room_wakeup = threading.Event()
        # while the fetching thread waits for room: it wants waking once jobs in hand fall to this
        self._room_floor = 0
        self._closing = False
        self.running: dict[str, tuple[Work, int]] = {}
        self._counts_lock = threading.Lock()
        self._processed = 0
        self._failed = 0
        self.quieted = threading.Event()
        self._hard_stop = False
        self._last_fetch_empty = False
        self._outage_logged = False
        self._threads: list[threading.Thread] = []
        self._acker: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_lock = threading.Lock()
        self._loop_thread: threading.Thread | None = None

    # ---- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        self._acker = self._spawn(self._ack_loop, "sidequest-acker")
        for index in range(self.concurrency + 1):
            seat = self._fetch_pair[index] if index < 2 else _Seat()
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
        self._ack_wakeup.set()

    def stop(self, deadline: float) -> None:
        """Quiet, push back unstarted jobs, wait for running ones until deadline, push back the rest."""
        self.quiet()
        # The fetching thread may be blocked in a fetch; let it finish (it pushes back what it got
        # after quiet) before we push jobs back, or its blocking fetch could take them again.
        self._fetch_ended.wait(timeout=max(2.0, deadline - time.monotonic()))
        self._requeue(self._drain_ready(), "not started")
        while self.running and time.monotonic() < deadline:
            time.sleep(0.02)
        self._requeue(self._drain_ready(), "not started")
        leftover = [work for work, _ in list(self.running.values())]
        if leftover:
            logger.warning(
                "%d job(s) still running at the shutdown deadline; pushing them back to their queues",
                len(leftover),
            )
            self._hard_stop = True
            self._requeue(leftover, "still running")
        self._closing = True
        self._wake_processors(self.concurrency + 1)
        self._ack_wakeup.set()
        if self._acker is not None:
            self._acker.join(timeout=5)
        self._close_event_loop()

    @property
    def idle(self) -> bool:
        """True when the last fetch found nothing and no job is in hand (burst mode's exit test)."""
        return self._last_fetch_empty and self._in_hand() == 0 and not self._done

    def take_counts(self) -> tuple[int, int]:
        """Processed and failed counts since the last call (the heartbeat flushes them)."""
        with self._counts_lock:
            counts = (self._processed, self._failed)
            self._processed = self._failed = 0
        return counts

    def return_counts(self, processed: int, failed: int) -> None:
        """Give back counts a heartbeat could not store, so the next one adds them."""
        with self._counts_lock:
            self._processed += processed
            self._failed += failed

    # ---- the three loops -----------------------------------------------------------------------
    def _fetch_loop(self, seat: _Seat) -> Work | None:
        """Fetch until quieted (returns None), or until the fetch pair's other thread can take over.

        When a fetch brings work and the partner is parked, the partner is woken to fetch next and
        the first job comes back to be run by this thread at once.
        """
        try:
            return self._fetch_until_handover(seat)
        except BaseException:
            self._fetch_ended.set()  # a bug of ours: stop() must not wait for a fetch that never ends
            raise

    def _fetch_until_handover(self, seat: _Seat) -> Work | None:
        timeout = 0.05 if self.burst else 1.0
        first, second = self._fetch_pair
        partner = second if seat is first else first
        while not self.quieted.is_set():
            # fetch for every free thread once none waits for work, or once half of them are free
            room = self._wait_for_room(max(1, self.capacity // 2))
            if self.quieted.is_set():
                break
            try:
                if self._fetch_failed:
                    self._return_unknown()
                works = self.store.fetch(
                    self.identity, self.order.next(), min(room, self.fetch_batch), timeout
                )
            except StoreError as exc:
                self._fetch_failed = True
                self._outage(exc, "fetch")
                continue
            self._recovered_from_outage()
            if not works:
                self._last_fetch_empty = True
                continue
            if self.quieted.is_set():
                self._requeue(works, "fetched while quieting")
                break
            self._fetched += len(works)
            self._last_fetch_empty = False
            if self._unpark(partner):
                self._hand_out(works[1:], also_held=works[:1])
                partner.lead = True
                partner.wake.release()
                return works[0]
            self._hand_out(works)
            if self.quieted.is_set():  # quiet() may have drained the ready queue before these arrived
                self._requeue(self._drain_ready(), "fetched while quieting")
        self._fetch_ended.set()
        return None

    def _wait_for_room(self, refill: int) -> int:
        room = self.capacity - self._in_hand()
        if room >= refill or (room > 0 and not self._ready):
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
                if room >= refill or (room > 0 and not self._ready):
                    return room
                self._room_wakeup.wait(0.5)
        finally:
            self._fetcher_waiting = False
        return 0

    def _work_loop(self, index: int, seat: _Seat, lead: bool) -> None:
        """Run jobs from the ready queue, parking when there are none; fetch while holding the role."""
        tid = thread_id()
        ready = self._ready
        while True:
            if lead:
                lead = False
                first = self._fetch_loop(seat)
                if first is not None and not self._run(index, tid, first):
                    return
                continue
            try:
                work = ready.popleft()
            except IndexError:
                if self._closing:
                    return
                with self._park_lock:
                    # checked under the lock the fetching thread takes to wake us, so no wake-up is lost
                    if ready or self._closing:
                        continue
                    self._parked.append(seat)
                seat.wake.acquire()
                lead, seat.lead = seat.lead, False
                continue
            if not self._run(index, tid, work):
                return

    def _run(self, index: int, tid: str, work: Work) -> bool:
        """Run one job and queue it for acknowledgement; False once the thread must end (hard stop)."""
        finished = self._finished
        if self.quieted.is_set():  # Sidekiq too requeues a job fetched after the stop was decided
            self._requeue([work], "not started")
            finished[index] += 1
            return True
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
        self._done.append((work, failed))
        finished[index] += 1
        if self._acker_waiting:
            self._ack_wakeup.set()
        if self._fetcher_waiting and (not self._ready or self._in_hand() <= self._room_floor):
            self._room_wakeup.set()
        return True

    def _ack_loop(self) -> None:
        done = self._done
        while True:
            if self._ready and self.quieted.is_set():
                self._requeue(self._drain_ready(), "not started")
            self._unstall()
            if not done:
                if self._closing:
                    return
                self._acker_waiting = True
                self._ack_wakeup.clear()
                if not done and not self._closing:
                    # while jobs wait for a thread, look again for a stall soon
                    self._ack_wakeup.wait(STALL if self._ready and self._parked else 0.5)
                self._acker_waiting = False
                continue
            if len(done) < ACK_BATCH and not self._closing:
                # a round trip costs as much CPU as dozens of no-op jobs: let a batch gather first
                time.sleep(ACK_GATHER)
            batch: list[tuple[Work, bool]] = []
            while done and len(batch) < 1000:
                batch.append(done.popleft())
            works = [work for work, _ in batch]
            try:
                self.keep_trying(
                    functools.partial(self.store.ack, self.identity, works), "acknowledge finished jobs"
                )
            except HardStop:
                return
            self._let_go(works)
            failed = sum(1 for _, flag in batch if flag)
            with self._counts_lock:
                self._processed += len(batch)
                self._failed += failed

    # ---- helpers -------------------------------------------------------------------------------
    def _in_hand(self) -> int:
        """Jobs fetched and not yet finished (running or waiting in the ready queue)."""
        return self._fetched - sum(self._finished) - self._released

    def _hand_out(self, works: list[Work], also_held: list[Work] | None = None) -> None:
        """Queue works for the processors; wake one only when no other thread is awake to take them.

        When some are awake, the stall check (_unstall) wakes more if they turn out to be stuck.
        also_held: fetched works this thread runs itself; they are held (until acked) like the rest.
        """
        keys = [(work.queue, work.payload) for work in (works + also_held if also_held else works)]
        with self._held_lock:
            self._held.update(keys)
        if not works:
            return
        self._ready.extend(works)
        self._progress_at = time.monotonic()  # the stall clock starts when work is waiting
        if len(self._parked) >= self.concurrency:
            self._wake_processors(1)  # every thread but the fetching one is parked
        elif self._acker_waiting:
            self._ack_wakeup.set()  # awake threads may be stuck in slow jobs: let the stall check look

    def _unstall(self) -> None:
        """Wake more threads when jobs wait and none started or finished for STALL seconds."""
        progress = sum(self._started) + sum(self._finished)
        clock = time.monotonic()
        if progress != self._progress_seen:
            self._progress_seen, self._progress_at = progress, clock
        elif self._ready and self._parked and clock - self._progress_at >= STALL:
            awake = max(1, self.concurrency - len(self._parked))
            self._wake_processors(min(awake, len(self._ready)))
            self._progress_at = clock

    def _wake_processors(self, count: int) -> None:
        if count <= 0:
            return
        with self._park_lock:
            woken = self._parked[-count:] if count < len(self._parked) else self._parked
            self._parked = self._parked[: len(self._parked) - len(woken)]
        for seat in woken:
            seat.wake.release()

    def _unpark(self, seat: _Seat) -> bool:
        """Take seat off the parked list; False when its thread is not parked (busy with a job)."""
        with self._park_lock:
            try:
                self._parked.remove(seat)
            except ValueError:
                return False
        return True

    def _release(self, count: int) -> None:
        with self._release_lock:
            self._released += count
        self._room_wakeup.set()

    def _drain_ready(self) -> list[Work]:
        drained: list[Work] = []
        while True:
            try:
                drained.append(self._ready.popleft())
            except IndexError:
                break
        if drained:
            self._release(len(drained))
        return drained

    def _let_go(self, works: list[Work]) -> None:
        """Forget works that left our in-progress list (acked or pushed back)."""
        keys = [(work.queue, work.payload) for work in works]
        with self._held_lock:
            held = self._held
            for key in keys:
                count = held.pop(key, 0)
                if count > 1:
                    held[key] = count - 1

    def _return_unknown(self) -> None:
        """After a failed fetch, push back jobs in our in-progress list that this process never received.

        A fetch whose connection dropped after Redis ran it moved jobs into our list, but the reply
        carrying them was lost: no thread here will run or ack them, and no other process recovers
        them while we are alive. Only one thread fetches at a time (this one), so anything in the
        list that is not held is such a job. What we hold is read before the list: a job acked in
        between is then in neither, never in the list alone.
        """
        with self._held_lock:
            held = Counter(self._held)
        listed = Counter((work.queue, work.payload) for work in self.store.in_progress(self.identity))
        unknown = [Work(queue, payload) for queue, payload in (listed - held).elements()]
        self._fetch_failed = False
        if unknown:
            logger.warning(
                "%d job(s) were fetched by a call whose reply was lost; pushing them back", len(unknown)
            )
            self._requeue(unknown, "reply lost")

    def _requeue(self, works: list[Work], why: str) -> None:
        if not works:
            return
        self._let_go(works)
        try:
            self.store.requeue(self.identity, works)
            logger.info("pushed %d job(s) back to their queues (%s)", len(works), why)
        except StoreError as exc:
            # They stay in our in-progress list; recovery returns them once our heartbeat expires.
            logger.error(
                "could not push %d job(s) back (%s): %s; they will be recovered from the in-progress list",
                len(works),
                why,
                exc,
            )

    def forget_recovered(self) -> None:
        """After our process record vanished (frozen past its TTL), drop fetched-but-unstarted jobs that
        another process already recovered, so they do not run twice. Jobs still ours are kept."""
        unstarted = self._drain_ready()
        if not unstarted:
            return
        self._let_go(unstarted)  # those kept are handed out, and held, again below
        try:
            still_ours = Counter(self.store.in_progress(self.identity))
        except StoreError:
            still_ours = Counter(unstarted)
        kept: list[Work] = []
        for work in unstarted:
            if still_ours[work] > 0:
                still_ours[work] -= 1
                kept.append(work)
        dropped = len(unstarted) - len(kept)
        if dropped:
            logger.warning(
                "%d fetched job(s) were recovered by another process while this one was unresponsive; not running them here",
                dropped,
            )
        if kept:
            self._release(-len(kept))
            self._hand_out(kept)

    def keep_trying(self, operation: Callable[[], T], what: str) -> T:
        """Run a store operation until it succeeds: a job's outcome must never be dropped on the floor."""
        delay = 0.05
        while True:
            try:
                result = operation()
            except StoreError as exc:
                if self._hard_stop:
                    raise HardStop(what) from exc
                self._outage(exc, what)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            self._recovered_from_outage()
            return result

    def _outage(self, exc: Exception, what: str) -> None:
        if not self._outage_logged:
            self._outage_logged = True
            logger.error("store unavailable during %s: %s; retrying until it is back", what, exc)
        if what == "fetch":
            time.sleep(0.5)

    def _recovered_from_outage(self) -> None:
        if self._outage_logged:
            self._outage_logged = False
            logger.warning("store is reachable again")

    def _close_event_loop(self) -> None:
        loop, thread = self._loop, self._loop_thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        if not thread.is_alive():
            loop.close()

    def _run_coroutine(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        outcome = asyncio.run_coroutine_threadsafe(_guarded(coroutine), self._event_loop()).result()
        if isinstance(outcome, _Raised):
            raise outcome.exc
        return outcome

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None:
            with self._loop_lock:
                if self._loop is None:
                    new_loop = asyncio.new_event_loop()
                    self._loop_thread = self._spawn(new_loop.run_forever, "sidequest-event-loop")
                    self._loop = new_loop
                loop = self._loop
        return loop
