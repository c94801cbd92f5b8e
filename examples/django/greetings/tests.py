"""The example's tests with Django's test runner (`python manage.py test`) and sidequest's fake mode."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.test import TestCase

from sidequest import testing
from sidequest.contrib.django import RUNNER


class GreetTests(TestCase):
    def setUp(self) -> None:
        self.fake = testing.fake()
        testing.clear_all()

    def tearDown(self) -> None:
        testing.clear_all()
        self.fake.restore()

    def test_greeting_is_enqueued_then_written(self) -> None:
        outbox = Path(tempfile.mkdtemp())
        self.enterContext(self.settings(OUTBOX=str(outbox)))
        # TestCase wraps each test in a transaction: run on-commit pushes as a commit would
        with self.captureOnCommitCallbacks(execute=True):
            response = self.client.post("/greet/ada")
        self.assertEqual(response.status_code, 200)
        [job] = testing.jobs_for(RUNNER)
        self.assertEqual(job["wrapped"], "greetings.tasks.write_greeting")
        self.assertEqual(testing.drain_all(), 1)
        self.assertEqual((outbox / "ada.txt").read_text(), "Hello, ada!\n")
        result = self.client.get(f"/results/{response.json()['id']}").json()
        self.assertEqual(result["status"], "SUCCESSFUL")
