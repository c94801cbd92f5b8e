"""Batches through the operator API and `sidequest batches list|show`, on SQLite and Redis."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner, Result

from sidequest import Batch, api, job
from sidequest.cli import main
from sidequest.stores import Store


@job(name="tests.batches.cli.step")
def step(n: int) -> None:
    return None


@job(name="tests.batches.cli.Notify")
def notify(bid: str, options: dict[str, object]) -> None:
    return None


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def make_batch(store: Store) -> tuple[Batch, list[str]]:
    batch = Batch(description="nightly <import>")
    batch.on("success", notify, {"to": "ops"})
    with batch.jobs():
        jids = [str(step.perform_async(n)) for n in range(4)]
    # two jobs succeed, one fails with an error (as the worker would report)
    store.batch_done(batch.bid, jids[0], "success", "", 1.0)
    store.batch_done(batch.bid, jids[1], "success", "", 2.0)
    store.batch_done(batch.bid, jids[2], "failure", "KeyError: 'sku'", 3.0)
    return batch, jids


def test_the_api_lists_batches_with_progress_and_shows_one(url_store: Store) -> None:
    batch, jids = make_batch(url_store)
    [summary] = api.BatchSet(url_store).list()
    assert (summary.bid, summary.description, summary.total, summary.pending, summary.failures) == (
        batch.bid,
        "nightly <import>",
        4,
        2,
        1,
    )
    assert summary.progress == 50.0 and summary.state == "running"
    shown = api.BatchSet(url_store).get(batch.bid)
    assert shown.failed == {jids[2]: "KeyError: 'sku'"}
    assert sorted(shown.pending_jids) == sorted(jids[2:])
    assert shown.callbacks == {"success": ["tests.batches.cli.Notify"]}
    with pytest.raises(api.BatchNotFound, match="no batch 'nope' in this store"):
        api.BatchSet(url_store).get("nope")


def test_the_cli_lists_and_shows_batches(url: str, url_store: Store) -> None:
    batch, jids = make_batch(url_store)

    listed = run("batches", "list", "--url", url)
    assert listed.exit_code == 0, listed.output
    assert batch.bid in listed.output and "nightly <import>" in listed.output and "50%" in listed.output

    shown = run("batches", "show", batch.bid, "--url", url)
    assert shown.exit_code == 0, shown.output
    assert "KeyError: 'sku'" in shown.output and jids[3] in shown.output
    assert "tests.batches.cli.Notify" in shown.output

    as_json = json.loads(run("batches", "show", batch.bid, "--url", url, "--json").output)
    assert as_json["total"] == 4 and as_json["failed"] == {jids[2]: "KeyError: 'sku'"}

    missing = run("batches", "show", "nope", "--url", url)
    assert (
        missing.exit_code == 2 and "no batch 'nope'" in missing.output and "Traceback" not in missing.output
    )
