"""Django configured once for these tests: an installed test app, an SQLite database in a temporary
directory, and the sidequest backend in TASKS. They run under Django 6.1 (django.tasks, Python 3.12+)
and under Django 5.2 with the django-tasks backport (Python 3.11); scripts/test runs both."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import django
import pytest
from django.conf import settings

from sidequest.contrib.django._compat import BACKPORT

_database_dir = Path(tempfile.mkdtemp(prefix="sidequest-django-"))

if not settings.configured:
    settings.configure(
        INSTALLED_APPS=[
            *(["django_tasks"] if BACKPORT else []),
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "django.contrib.sessions",
            "sidequest.contrib.django",
            "tests.contrib.django.app",
        ],
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(_database_dir / "db.sqlite3")}
        },
        TASKS={
            "default": {
                "BACKEND": "sidequest.contrib.django.SidequestBackend",
                "QUEUES": ["default", "emails"],
            }
        },
        USE_TZ=True,
        SECRET_KEY="tests-only",
        ROOT_URLCONF="tests.contrib.django.app.urls",
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
    )
    django.setup()


@pytest.fixture
def use_store(url: str) -> Iterator[str]:
    """sidequest configured on a fresh store, SQLite and Redis in turn (the autouse config fixture
    resets it after)."""
    import sidequest

    sidequest.configure(url=url, heartbeat_interval=0.5, process_ttl=5, poll_interval=0.1)
    yield url


@pytest.fixture(scope="session")
def django_tables() -> None:
    """The auth and session tables, created once in the test database."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
