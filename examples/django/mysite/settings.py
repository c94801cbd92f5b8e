"""Settings of the Django example: sidequest as the Tasks backend."""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "example-only-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "mysite.urls"
USE_TZ = True
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}}
OUTBOX = os.environ.get("OUTBOX", str(BASE_DIR / "outbox"))
LOGIN_URL = "/admin/login/"  # staff log in here to see the dashboard at /sidequest
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "sidequest.contrib.django",
    "greetings",
]
try:
    import django.tasks  # noqa: F401  (Django 6.0+)
except ImportError:
    INSTALLED_APPS.insert(0, "django_tasks")  # the backport, on Django 4.2 / 5.x

TASKS = {
    "default": {
        "BACKEND": "sidequest.contrib.django.SidequestBackend",
        "QUEUES": ["default"],
        "OPTIONS": {"RESULT_TTL": 3600, "ENQUEUE_ON_COMMIT": True},
    }
}
# sidequest's own settings; SIDEQUEST_URL / REDIS_URL in the environment win
SIDEQUEST = {"url": f"sqlite:///{BASE_DIR / 'sidequest.db'}", "concurrency": 2}
