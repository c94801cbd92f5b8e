"""The test clock: frozen time reaches every timestamp sidequest writes, and always comes back."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from sidequest import _time, job, testing
from sidequest.testing import clock

MOMENT = 1_800_000_000.0  # 2027-01-15T08:00:00Z


@job
def remind(text: str) -> None:
    return None


def test_a_frozen_clock_stamps_payloads_with_the_frozen_time() -> None:
    clock.freeze(MOMENT)
    with testing.fake():
        remind.perform_async("now")
        remind.perform_in(timedelta(minutes=5), "later")
        remind.perform_at(datetime(2027, 1, 16, tzinfo=UTC), "tomorrow")

    now_job, later_job, tomorrow_job = remind.jobs
    assert now_job["created_at"] == MOMENT and now_job["enqueued_at"] == MOMENT
    assert later_job["at"] == MOMENT + 300
    assert tomorrow_job["at"] == datetime(2027, 1, 16, tzinfo=UTC).timestamp()


def test_advance_and_travel_move_the_frozen_time() -> None:
    clock.freeze(MOMENT)
    assert clock.advance(30) == MOMENT + 30
    assert clock.advance(timedelta(hours=1)) == MOMENT + 3630
    assert clock.travel(datetime(2027, 1, 15, 7, tzinfo=UTC)) == MOMENT - 3600
    assert _time.now() == MOMENT - 3600


def test_advance_without_freezing_first_freezes_at_the_current_time() -> None:
    before = time.time()
    moved = clock.advance(10)
    assert clock.frozen
    assert before + 10 <= moved <= time.time() + 10


def test_unfreeze_returns_to_real_time() -> None:
    clock.freeze(MOMENT)
    clock.unfreeze()
    assert not clock.frozen
    assert abs(_time.now() - time.time()) < 1


def test_freeze_as_a_with_block_restores_the_previous_state_in_order() -> None:
    with clock.freeze(MOMENT):
        with clock.freeze(MOMENT + 100):
            assert _time.now() == MOMENT + 100
        assert _time.now() == MOMENT
    assert not clock.frozen
    assert abs(_time.now() - time.time()) < 1


def test_bad_times_are_refused_with_a_hint() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        clock.freeze(datetime(2027, 1, 1))
    with pytest.raises(ValueError, match="use travel"):
        clock.advance(-5)
    with pytest.raises(TypeError, match="seconds or a timedelta"):
        clock.advance("5")  # type: ignore[arg-type]
