"""The dashboard in front of Django's ASGI application, behind Django's staff login."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.asgi import get_asgi_application
from django.test import Client
from starlette.testclient import TestClient

from sidequest.contrib.django.dashboard import with_dashboard

from .app import tasks


def session_of(username: str, *, staff: bool) -> str:
    """Log a user in through Django and return the session cookie the browser would send."""
    user, _ = User.objects.get_or_create(username=username, defaults={"is_staff": staff})
    user.set_password("pw")
    user.save()
    client = Client()
    assert client.login(username=username, password="pw")
    return str(client.cookies["sessionid"].value)


@pytest.fixture
def http(use_store: str, django_tables: None) -> TestClient:
    return TestClient(with_dashboard(get_asgi_application(), prefix="/sidequest"))


def test_staff_see_the_dashboard_with_the_tasks_queue(http: TestClient) -> None:
    # given a queued task and a staff user's session
    tasks.add.enqueue(1, 2)
    cookie = session_of("operator", staff=True)
    # when they open the dashboard's queues page
    http.cookies.set("sessionid", cookie)
    page = http.get("/sidequest/queues")
    # then they see the queue the task waits in
    assert page.status_code == 200
    assert "default" in page.text and "/sidequest/static/" in page.text


def test_anonymous_visitors_are_sent_to_the_login_page(http: TestClient) -> None:
    page = http.get("/sidequest/", follow_redirects=False)
    assert page.status_code == 302
    assert page.headers["location"] == "/accounts/login/?next=%2Fsidequest%2F"


def test_users_who_are_not_staff_are_refused(http: TestClient) -> None:
    cookie = session_of("visitor", staff=False)
    http.cookies.set("sessionid", cookie)
    page = http.get("/sidequest/")
    assert page.status_code == 403


def test_other_paths_still_reach_django(http: TestClient) -> None:
    page = http.get("/")
    assert page.status_code == 200 and page.text == "the Django app"
