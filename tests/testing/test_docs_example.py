# mypy: disable-error-code="no-untyped-def"
# (the documented tests are written without annotations, as most users write them)
"""docs/testing.md, run: the Flask sign-up example, with a stand-in for Flask's test client.

Everything above the "tests as in the docs" line plays the part of the user's application (myapp.jobs,
myapp.views, myapp.mail, myapp.models); below it, the test functions are the documented ones, word for
word. If this file needs changing, the docs page needs the same change.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest

from sidequest import job, testing
from sidequest.testing import (
    assert_enqueued,
    assert_processed_in,
    assert_retryable,
    perform_job,
    refute_enqueued,
)


# ---- the application (myapp) ----------------------------------------------------------------------
@dataclass
class User:
    id: int
    email: str

    @classmethod
    def create(cls, email: str) -> User:
        user = cls(next(_ids), email)
        _users[user.id] = user
        return user

    @classmethod
    def get(cls, user_id: int) -> User:
        return _users[user_id]


_ids = itertools.count(1)
_users: dict[int, User] = {}


class Mailer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []
        self.down = False

    def send(self, to: str, template: str, locale: str) -> None:
        if self.down:
            raise ConnectionError("smtp is down")
        self.sent.append((to, template, locale))


mailer = Mailer()


@job(queue="mailers", retry=5)
def send_welcome_email(user_id: int, locale: str = "en") -> None:
    user = User.get(user_id)
    mailer.send(to=user.email, template="welcome", locale=locale)


@job(queue="mailers", retry=3)
def send_onboarding_tips(user_id: int) -> None:
    user = User.get(user_id)
    mailer.send(to=user.email, template="tips", locale="en")


@job(queue="mailers", retry=5)
def send_email(to: str) -> None:
    mailer.send(to=to, template="plain", locale="en")


def signup(form: dict[str, str]) -> tuple[int, str]:
    """The view, minus Flask: returns (status, Location)."""
    user = User.create(email=form["email"])
    send_welcome_email.perform_async(user.id, form.get("locale", "en"))
    send_onboarding_tips.perform_in(timedelta(days=3), user.id)
    return 302, f"/users/{user.id}"


@dataclass
class Response:
    status_code: int
    headers: dict[str, str]


class TestClient:
    """Just enough of Flask's test client: POST /signup, and a 400 for a missing form field."""

    __test__ = False

    def post(self, path: str, data: dict[str, str]) -> Response:
        assert path == "/signup"
        try:
            status, location = signup(data)
        except KeyError:
            return Response(400, {})
        return Response(status, {"Location": location})


@pytest.fixture
def client() -> TestClient:
    return TestClient()


@pytest.fixture
def outbox() -> list[tuple[str, str, str]]:
    mailer.sent.clear()
    return mailer.sent


@pytest.fixture
def smtp_down() -> Iterator[None]:
    mailer.down = True
    yield
    mailer.down = False


def signed_up_user_id(response: Response) -> int:
    return int(response.headers["Location"].rsplit("/", 1)[1])


# ---- tests as in the docs ---------------------------------------------------------------------------
def test_signup_enqueues_the_welcome_email_now_and_the_tips_later(client, sidequest_fake):
    response = client.post("/signup", data={"email": "ada@example.com", "locale": "fr"})

    assert response.status_code == 302
    user_id = signed_up_user_id(response)
    assert_enqueued(send_welcome_email, args=[user_id, "fr"], queue="mailers", immediately=True, count=1)
    assert_enqueued(send_onboarding_tips, args=[user_id], in_=timedelta(days=3))


def test_a_signup_without_an_email_enqueues_nothing(client, sidequest_fake):
    response = client.post("/signup", data={})

    assert response.status_code == 400
    refute_enqueued(send_welcome_email)


def test_the_welcome_email_job_sends_the_email(outbox):
    user = User.create(email="bob@example.com")

    perform_job(send_welcome_email, user.id, "en")

    assert outbox == [("bob@example.com", "welcome", "en")]


def test_mail_jobs_run_on_the_mailers_queue_with_retries():
    assert_processed_in(send_welcome_email, "mailers")
    assert_retryable(send_welcome_email, 5)
    assert_retryable(send_onboarding_tips, 3)


def test_the_tips_arrive_three_days_after_the_welcome(client, sidequest_fake, sidequest_clock, outbox):
    client.post("/signup", data={"email": "carol@example.com"})

    testing.drain_all()
    assert [template for _, template, _ in outbox] == ["welcome"]

    sidequest_clock.advance(timedelta(days=3))
    testing.drain_all()
    assert [template for _, template, _ in outbox] == ["welcome", "tips"]


def test_in_inline_mode_signing_up_sends_both_emails_at_once(client, sidequest_inline, outbox):
    client.post("/signup", data={"email": "dan@example.com"})

    assert [template for _, template, _ in outbox] == ["welcome", "tips"]


def test_the_email_is_retried_then_buried(sidequest_fake, sidequest_clock, smtp_down):
    send_email.perform_async("ada@example.com")  # @job(retry=5); smtp_down makes it raise

    testing.drain(send_email, retry=True)
    [retry] = send_email.jobs
    assert retry["retry_count"] == 0 and retry["error_class"] == "ConnectionError"

    while send_email.jobs:  # walk through the backoff
        sidequest_clock.travel(testing.next_at(send_email))
        testing.drain(send_email, retry=True)
    assert testing.dead_jobs()[0]["retry_count"] == 5  # send_email has retry=5: 1 run + 5 retries
