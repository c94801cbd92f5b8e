"""The dashboard's Batches page: list with progress bars, one batch's callbacks, failures, pending jobs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from sidequest import Batch, get_config, job
from sidequest.web import create_app

HOSTILE = "<script>document.title='pwned'</script>"


@job(name="tests.batches.web.step")
def step(n: int) -> None:
    return None


@job(name="tests.batches.web.Done")
def done(bid: str, options: dict[str, object]) -> None:
    return None


@pytest.fixture(params=["sqlite", "redis"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    url = (
        request.getfixturevalue("redis_url")
        if request.param == "redis"
        else f"sqlite:///{tmp_path / 'web.db'}"
    )
    get_config().update(url=url)
    get_config().store  # noqa: B018 - opening it creates the SQLite file the dashboard shows
    with TestClient(create_app(url)) as test_client:
        yield test_client


def test_the_batches_page_lists_progress_and_a_batch_page_shows_its_jobs(client: TestClient) -> None:
    # given a batch of four jobs, one succeeded and one failed with hostile text in its error
    batch = Batch(description=f"import {HOSTILE}")
    batch.on("success", done, {})
    with batch.jobs():
        jids = [str(step.perform_async(n)) for n in range(4)]
    store = get_config().store
    store.batch_done(batch.bid, jids[0], "success", "", 1.0)
    store.batch_done(batch.bid, jids[1], "failure", f"ValueError: {HOSTILE}", 2.0)

    # when an operator opens the Batches tab
    listing = client.get("/batches")
    assert listing.status_code == 200
    assert f'href="/batches/{batch.bid}"' in listing.text
    assert '<progress max="100" value="25.0"' in listing.text
    assert HOSTILE not in listing.text and "&lt;script&gt;" in listing.text

    # then the batch's page shows its callback, its failure and its pending jobs
    page = client.get(f"/batches/{batch.bid}")
    assert page.status_code == 200
    assert "tests.batches.web.Done" in page.text
    assert jids[1] in page.text and "ValueError: &lt;script&gt;" in page.text
    assert all(jid in page.text for jid in jids[1:]) and jids[0] not in page.text
    assert HOSTILE not in page.text

    assert client.get("/batches/nope").status_code == 404


@job(name="tests.batches.web.tracked", status=True, retry=3)
def tracked(n: int) -> None:
    raise ValueError("disk full")


def test_a_retry_page_shows_the_jobs_batch_and_status(client: TestClient) -> None:
    from sidequest.runtime.launcher import Launcher

    # given a job with status in a batch, failed into the retry set by a worker
    get_config().update(heartbeat_interval=0.2, poll_interval=0.05)
    batch = Batch(description="tracked")
    with batch.jobs():
        jid = tracked.perform_async(1)
    assert Launcher(get_config(), burst=True).run() == 0
    # when the operator follows the job's link on the Retries page
    page = client.get("/retries")
    links = [part.split('"')[0] for part in page.text.split('href="')[1:]]
    detail = client.get(next(link for link in links if link.startswith("/retries/") and str(jid) in link))
    # then its page links the batch and shows the job's state
    assert detail.status_code == 200
    assert f'href="/batches/{batch.bid}"' in detail.text
    assert '<td id="job-status">retrying' in detail.text
