"""The pytest plugin, exercised the way users meet it: real test files run by pytester."""

from __future__ import annotations

import importlib.util

import pytest

from sidequest import testing

JOBS = """
from sidequest import job

@job(queue="mailers", retry=5)
def send_email(to, template="welcome"):
    SENT.append((to, template))
    return to

@job
def explode(message):
    raise RuntimeError(message)

SENT = []
"""

#: Other installed plugins cost a second per run and play no part here; blocking an absent one is harmless.
QUIET = ("-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:hypothesispytest", "-p", "no:anyio")

HAS_SQLITE_STORE = importlib.util.find_spec("sidequest.stores.sqlite") is not None


def assert_lines(result: pytest.RunResult, *expected: str) -> None:
    """Each expected text appears in the run's output, on its own line and in this order (no wildcards)."""
    lines = result.outlines
    position = 0
    for text in expected:
        found = next((i for i in range(position, len(lines)) if text in lines[i]), None)
        assert found is not None, f"{text!r} not in the output after line {position}:\n" + "\n".join(lines)
        position = found + 1


@pytest.fixture(autouse=True)
def _no_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIDEQUEST_TEST_REDIS_URL", raising=False)


def test_a_users_suite_passes_with_the_fixtures_and_assertions(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(myjobs=JOBS)
    pytester.makepyfile(
        test_users="""
        from sidequest.testing import assert_enqueued, refute_enqueued, drain_all
        from myjobs import send_email, SENT

        def test_fake_captures(sidequest_fake):
            send_email.perform_async("ada@example.com")
            assert_enqueued(send_email, args=["ada@example.com"], queue="mailers", count=1)
            assert sidequest_fake.jobs_for(send_email) == send_email.jobs
            assert drain_all() == 1
            assert SENT[-1] == ("ada@example.com", "welcome")

        def test_inline_runs_at_once(sidequest_inline):
            send_email.perform_async("bob@example.com", "reset")
            assert SENT[-1] == ("bob@example.com", "reset")
            assert [p["args"] for p in sidequest_inline.performed] == [["bob@example.com", "reset"]]

        def test_clock_holds_back_scheduled_jobs(sidequest_fake, sidequest_clock):
            send_email.perform_in(600, "later@example.com")
            assert_enqueued(send_email, at=sidequest_clock.now() + 600, within=0)
            assert send_email.drain() == 0
            sidequest_clock.advance(600)
            assert send_email.drain() == 1

        def test_fixtures_do_not_leak_into_the_next_test():
            from sidequest import testing
            assert testing.mode() == "disabled"
            assert testing.all_jobs() == []
            assert not testing.clock.frozen
        """
    )

    result = pytester.runpytest(*QUIET)

    result.assert_outcomes(passed=4)
    assert testing.mode() == "disabled"


def test_a_failing_assertion_shows_what_was_enqueued_instead(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(myjobs=JOBS)
    pytester.makepyfile(
        test_signup="""
        from sidequest.testing import assert_enqueued
        from myjobs import send_email

        def test_signup_sends_a_welcome_email(sidequest_fake):
            send_email.set(queue="default").perform_async("ada@example.com", "reset")
            assert_enqueued(send_email, args=["ada@example.com", "welcome"], queue="mailers")
        """
    )

    result = pytester.runpytest(*QUIET)

    result.assert_outcomes(failed=1)
    assert_lines(
        result,
        '>       assert_enqueued(send_email, args=["ada@example.com", "welcome"], queue="mailers")',
        "E       AssertionError: expected myjobs.send_email with args ['ada@example.com', 'welcome'] "
        "on queue 'mailers' to be enqueued at least once, but no enqueued job matched.",
        "E       myjobs.send_email enqueued (1):",
        "E         1. myjobs.send_email on 'default' args=['ada@example.com', 'reset'] immediately"
        "  <- differs in: args, queue",
        "test_signup.py:6: AssertionError",
    )


def test_refute_and_option_helpers_fail_with_their_reasons(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(myjobs=JOBS)
    pytester.makepyfile(
        test_options="""
        from sidequest.testing import refute_enqueued, assert_retryable, assert_processed_in
        from myjobs import send_email

        def test_refute(sidequest_fake):
            send_email.perform_async("ada@example.com")
            refute_enqueued(send_email)

        def test_retryable():
            assert_retryable(send_email, 3)

        def test_queue():
            assert_processed_in(send_email, "default")
        """
    )

    result = pytester.runpytest(*QUIET)

    result.assert_outcomes(failed=3)
    assert_lines(
        result,
        "E       AssertionError: expected myjobs.send_email not to be enqueued, but once was:",
        "E         1. myjobs.send_email on 'mailers' args=['ada@example.com'] immediately",
        "E       AssertionError: expected myjobs.send_email to be retried 3 times, but its retry option is 5",
        "E       AssertionError: expected myjobs.send_email to be processed in queue 'default', but its queue is 'mailers'",
    )


def test_in_inline_mode_the_jobs_exception_fails_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(myjobs=JOBS)
    pytester.makepyfile(
        test_inline="""
        from myjobs import explode

        def test_enqueue(sidequest_inline):
            explode.perform_async("smtp is down")
        """
    )

    result = pytester.runpytest(*QUIET)

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["E       RuntimeError: smtp is down"])


def test_a_drain_loop_fails_the_test_with_the_bound_message(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_loop="""
        from sidequest import job
        from sidequest.testing import drain_all

        @job
        def again():
            again.perform_async()

        def test_loop(sidequest_fake):
            again.perform_async()
            drain_all(max_rounds=3)
        """
    )

    result = pytester.runpytest(*QUIET)

    result.assert_outcomes(failed=1)
    assert_lines(
        result, "DrainLoopError: drained 3 rounds (3 jobs) and jobs are still due: test_loop.again (1)"
    )


def test_the_plugin_has_no_autouse_side_effects(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_plain="""
        import sidequest
        from sidequest import testing
        from sidequest.client import get_delivery_override

        def test_nothing_is_switched_on():
            assert testing.mode() == "disabled"
            assert get_delivery_override() is None
            assert not testing.clock.frozen

        def test_enqueues_reach_the_configured_store():
            sidequest.configure(url="memory://")
            sidequest.enqueue("HardJob", [1])
            assert sidequest.get_config().store.queue_size("default") == 1
        """
    )

    result = pytester.runpytest_subprocess(*QUIET)

    result.assert_outcomes(passed=2)


def test_the_fixtures_are_listed_with_their_docs(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--fixtures", *QUIET)
    for line in (
        "sidequest_fake -- *",
        "*Fake mode for this test*",
        "sidequest_inline -- *",
        "sidequest_clock -- *",
    ):
        result.stdout.fnmatch_lines([line])
    result.stdout.fnmatch_lines(["sidequest_store -- *", "*An empty store of one kind*"])


# ---- sidequest_store ------------------------------------------------------------------------------
STORE_TEST = """
from sidequest import enqueue

def test_enqueue_reaches_the_store(sidequest_store):
    enqueue("HardJob", [1, 2])
    assert sidequest_store.queue_size("default") == 1
"""


def test_the_store_fixture_runs_per_kind_and_skips_redis_without_a_url(pytester: pytest.Pytester) -> None:
    kinds = "memory sqlite redis" if HAS_SQLITE_STORE else "memory redis"
    pytester.makeini(f"[pytest]\nsidequest_stores = {kinds}\n")
    pytester.makepyfile(test_store=STORE_TEST)

    result = pytester.runpytest(*QUIET, "-rs", "-v")

    result.assert_outcomes(passed=2 if HAS_SQLITE_STORE else 1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*test_enqueue_reaches_the_store?memory? PASSED*",
            "SKIPPED *no Redis for sidequest_store: set SIDEQUEST_TEST_REDIS_URL or the sidequest_redis_url ini option",
        ]
    )


@pytest.mark.skipif(not HAS_SQLITE_STORE, reason="the SQLite store is not in this tree yet")
def test_the_store_fixture_defaults_to_memory_sqlite_and_redis(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_store=STORE_TEST)
    result = pytester.runpytest(*QUIET, "-v")
    result.assert_outcomes(passed=2, skipped=1)


def test_the_redis_variant_uses_the_url_from_the_environment_and_starts_empty(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    # Given a private redis-server that already holds a job from an earlier run
    import redis

    leftover = redis.Redis.from_url(redis_url)
    leftover.lpush("queue:default", '{"class":"Leftover","args":[]}')
    leftover.close()
    monkeypatch.setenv("SIDEQUEST_TEST_REDIS_URL", redis_url)
    pytester.makeini("[pytest]\nsidequest_stores = redis\n")
    pytester.makepyfile(test_store=STORE_TEST)

    result = pytester.runpytest(*QUIET, "-v")

    # Then the test sees only its own job
    result.assert_outcomes(passed=1)


def test_one_test_can_narrow_the_store_kinds(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_store="""
        import pytest
        from sidequest import enqueue

        @pytest.mark.parametrize("sidequest_store", ["memory"], indirect=True)
        def test_only_memory(sidequest_store):
            enqueue("HardJob", [1])
            assert sidequest_store.url == "memory://"
        """
    )

    result = pytester.runpytest(*QUIET, "-v")

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_only_memory?memory? PASSED*"])


def test_an_unknown_store_kind_in_the_ini_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nsidequest_stores = memory postgres\n")
    pytester.makepyfile(test_store=STORE_TEST)

    result = pytester.runpytest(*QUIET)

    assert result.ret != 0
    assert_lines(
        result, "sidequest_stores lists unknown store kind(s) postgres; use any of memory sqlite redis"
    )
