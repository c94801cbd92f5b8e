"""Issue 15, must-hold 1: the dashboard's guards over plain HTTP, on real SQLite and Redis stores.

CSRF (a POST without the page's token is 403 and changes nothing), read-only mode, the auth hook,
the Content-Security-Policy header, escaping of hostile job data, and mounting under a prefix.
"""

from __future__ import annotations

import base64
import re
import time
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount
from starlette.testclient import TestClient

import sidequest
from sidequest import api
from sidequest.web import create_app
from sidequest.web.security import Csrf
from tests.web.conftest import WebWorker, csrf_of

HOSTILE_SCRIPT = "<script>document.title='pwned'</script>"
HOSTILE_ATTR = '"><img src=x onerror="document.title=1">'


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(client: TestClient) -> None:
    # given a queue with a job and an operator's page (which carries the token)
    sidequest.enqueue("Hard", [1], queue="mailers")
    page = client.get("/queues/mailers")
    assert page.status_code == 200 and "Pause" in page.text

    # when a form posts pause without the token, or with a made-up one
    missing = client.post("/queues/mailers", data={"pause": "1"}, follow_redirects=False)
    forged = client.post("/queues/mailers", data={"pause": "1", "csrf": "0" * 64}, follow_redirects=False)

    # then both are 403 and the queue is not paused
    assert missing.status_code == 403 and forged.status_code == 403
    assert not api.Queue("mailers").paused()

    # when another browser's valid token is replayed with this browser's cookie
    other_token = csrf_of(TestClient(client.app).get("/queues/mailers").text)
    replayed = client.post(
        "/queues/mailers", data={"pause": "1", "csrf": other_token}, follow_redirects=False
    )
    assert replayed.status_code == 403 and not api.Queue("mailers").paused()

    # when the page's own form is posted with its token
    done = client.post(
        "/queues/mailers", data={"pause": "1", "csrf": csrf_of(page.text)}, follow_redirects=False
    )

    # then it works and sends the operator back to the queue with a GET
    assert done.status_code == 303 and done.headers["location"].startswith("/queues/mailers")
    assert api.Queue("mailers").paused()
    assert "paused" in client.get(done.headers["location"]).text


def test_every_page_sends_a_content_security_policy_without_inline_script(client: TestClient) -> None:
    # given any page, the stats probe and a static file
    for path in ("/", "/busy", "/queues", "/retries", "/scheduled", "/morgue", "/metrics", "/stats"):
        response = client.get(path)
        # then each carries the CSP, and the policy allows scripts only from the dashboard itself
        assert response.status_code == 200, path
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy, path
        assert response.headers["x-content-type-options"] == "nosniff"
        # and the HTML has no inline script and loads nothing from another origin
        if response.headers["content-type"].startswith("text/html"):
            scripts = re.findall(r"<script([^>]*)>(.*?)</script>", response.text, re.S)
            assert scripts and all('src="/static/' in attrs and not body.strip() for attrs, body in scripts)
            assert not re.search(r'(?:src|href|action)="(?:https?:)?//', response.text), path
    assert client.get("/static/app.js").headers["content-security-policy"]


def test_read_only_mode_shows_no_buttons_and_refuses_every_post(store_url: str, tmp_path: Path) -> None:
    # given a job in a queue, a retry and a read-only dashboard
    sidequest.enqueue("Hard", [1], queue="mailers")
    sidequest.enqueue("web.echo_error", ["boom"])
    worker = WebWorker(store_url, tmp_path, "--burst")
    assert worker.process.wait(60) == 0, worker.output()
    with TestClient(create_app(store_url, read_only=True, secret_key="not-a-secret")) as client:
        # when the operator looks at the pages
        for path in ("/busy", "/queues", "/queues/mailers", "/retries"):
            page = client.get(path)
            # then nothing on them can be pressed
            assert page.status_code == 200
            assert 'method="post"' not in page.text and 'name="csrf"' not in page.text, path
            assert not re.search(r">(Pause|Clear|Delete|Retry now|Kill|Quiet|Stop)<", page.text), path
        entry = api.RetrySet().page().items[0]
        detail = client.get(f"/retries/{entry.key}")
        assert "boom" in detail.text and "Retry now" not in detail.text

        # when something posts anyway, even with a token a writable dashboard would accept
        token = Csrf(b"not-a-secret").token(client.cookies["sidequest_csrf"])
        refused = [
            client.post(path, data={"csrf": token, "action": "delete", "key": entry.key, "pause": "1"})
            for path in ("/queues/mailers", f"/retries/{entry.key}", "/retries/all/delete", "/busy")
        ]

    # then every POST is 403 and nothing changed
    assert [response.status_code for response in refused] == [403] * 4
    assert not api.Queue("mailers").paused() and api.RetrySet().size() == 1


def basic_auth(user: str, password: str) -> object:
    """The docs/dashboard.md example: HTTP basic auth as the auth hook."""
    import hmac

    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def check(request: Request) -> bool | Response:
        if hmac.compare_digest(request.headers.get("authorization", ""), expected):
            return True
        return PlainTextResponse(
            "Unauthorized", status_code=401, headers={"WWW-Authenticate": 'Basic realm="sidequest"'}
        )

    return check


def test_the_auth_hook_guards_every_page_and_action(store_url: str) -> None:
    # given a dashboard behind HTTP basic auth, and an async hook that only lets admins act
    sidequest.enqueue("Hard", [1], queue="mailers")
    with TestClient(create_app(store_url, auth=basic_auth("ops", "s3cret"))) as client:  # type: ignore[arg-type]
        # when someone without credentials comes by
        anonymous = [client.get(path) for path in ("/", "/queues", "/stats", "/static/app.js")]
        # then they get 401 with a basic-auth challenge, for pages, the probe and assets alike
        assert {response.status_code for response in anonymous} == {401}
        assert anonymous[0].headers["www-authenticate"].startswith("Basic")
        assert client.post("/queues/mailers", data={"pause": "1"}).status_code == 401
        # and with credentials the pages show
        ok = client.get("/queues", auth=("ops", "s3cret"))
        assert ok.status_code == 200 and "mailers" in ok.text
        assert client.get("/queues", auth=("ops", "wrong")).status_code == 401

    async def admins_may_act(request: Request) -> bool:
        return request.method == "GET" or request.headers.get("x-role") == "admin"

    with TestClient(create_app(store_url, auth=admins_may_act)) as client:
        token = csrf_of(client.get("/queues/mailers").text)
        # when a non-admin presses pause, then 403 and the queue keeps running
        assert client.post("/queues/mailers", data={"pause": "1", "csrf": token}).status_code == 403
        assert not api.Queue("mailers").paused()
        # when an admin does, it pauses
        response = client.post(
            "/queues/mailers", data={"pause": "1", "csrf": token}, headers={"x-role": "admin"}
        )
        assert response.status_code == 200 and api.Queue("mailers").paused()


def test_hostile_job_data_is_shown_as_text_on_every_page(
    client: TestClient, store_url: str, tmp_path: Path
) -> None:
    # given jobs whose arguments, class, queue and error carry markup, in a queue, the retry, dead and schedule sets
    hostile = [HOSTILE_SCRIPT, HOSTILE_ATTR]
    sidequest.enqueue("web.echo_error", [HOSTILE_SCRIPT + HOSTILE_ATTR])
    sidequest.enqueue("web.doomed", [HOSTILE_ATTR + HOSTILE_SCRIPT], retry=0)
    worker = WebWorker(store_url, tmp_path, "--burst")
    assert worker.process.wait(60) == 0, worker.output()
    sidequest.enqueue(HOSTILE_SCRIPT, hostile, queue="parked")
    sidequest.enqueue("Later", hostile, at=time.time() + 3600)
    retry = api.RetrySet().page().items[0]
    dead = api.DeadSet().page().items[0]
    scheduled = api.ScheduledSet().page().items[0]
    assert HOSTILE_SCRIPT in (retry.error_message or "")

    # when every page that shows them is rendered
    paths = [
        "/queues/parked",
        "/retries",
        f"/retries/{retry.key}",
        "/morgue",
        f"/morgue/{dead.key}",
        "/scheduled",
        f"/scheduled/{scheduled.key}",
        "/retries?substr=%3Cscript%3E",
    ]
    for path in paths:
        text = client.get(path).text
        # then the markup is there as escaped text, never as a tag or a broken-out attribute
        assert "&lt;script&gt;" in text, path
        assert "<script>document" not in text and "<img src=x" not in text, path
        assert 'onerror="document' not in text, path
    # and a hostile search is echoed in the search box as text
    text = client.get("/morgue", params={"substr": HOSTILE_ATTR, "class": HOSTILE_SCRIPT}).text
    assert 'value="&#34;&gt;&lt;img src=x' in text and "<img src=x" not in text
    assert 'value="&lt;script&gt;' in text and "<script>document" not in text


def test_the_dashboard_mounts_under_a_prefix_and_its_links_and_forms_stay_there(store_url: str) -> None:
    # given the dashboard mounted at /ops/jobs in a host Starlette app (as in FastAPI), and one with prefix=
    sidequest.enqueue("Hard", [1], queue="mailers")
    host = Starlette(routes=[Mount("/ops/jobs", app=create_app(store_url))])
    alone = create_app(store_url, prefix="/sidequest")
    for app, prefix in ((host, "/ops/jobs"), (alone, "/sidequest")):
        with TestClient(app) as client:
            # when the operator opens the queue page under the prefix
            page = client.get(f"{prefix}/queues/mailers")
            # then every link, asset and form target stays under it
            assert page.status_code == 200
            targets = re.findall(r'(?:href|src|action)="(/[^"]*)"', page.text)
            assert targets and all(target.startswith(prefix + "/") for target in targets), targets
            assert f'data-stats-url="{prefix}/stats"' in client.get(f"{prefix}/").text
            # and the CSRF cookie is scoped to it, and an action there works and redirects there
            assert f"Path={prefix}" in page.headers["set-cookie"]
            response = client.post(
                f"{prefix}/queues/mailers",
                data={"pause": "1", "csrf": csrf_of(page.text)},
                follow_redirects=False,
            )
            assert response.status_code == 303 and response.headers["location"].startswith(
                f"{prefix}/queues/"
            )
            assert api.Queue("mailers").paused()
            api.Queue("mailers").resume()
    # and outside the prefix the standalone app answers 404
    with TestClient(alone) as client:
        assert client.get("/queues").status_code == 404


def test_behind_a_proxy_that_strips_its_prefix_links_keep_it(store_url: str) -> None:
    # given the dashboard served with root_path /jobs (uvicorn --root-path, as `sidequest web --root-path`)
    sidequest.enqueue("Hard", [1], queue="mailers")
    with TestClient(create_app(store_url), root_path="/jobs") as client:
        # when the proxy passes on /queues
        page = client.get("/queues")
        # then the page links back through the proxy's prefix
        assert page.status_code == 200
        targets = re.findall(r'(?:href|src|action)="(/[^"]*)"', page.text)
        assert targets and all(target.startswith("/jobs/") for target in targets), targets


def test_stats_answers_json_for_probes(client: TestClient) -> None:
    # given two jobs waiting and one scheduled
    sidequest.enqueue("Hard", [1])
    sidequest.enqueue("Hard", [2], queue="mailers")
    sidequest.enqueue("Hard", [3], at=time.time() + 60)
    # when a probe reads /stats and /stats/queues
    stats = client.get("/stats").json()
    queues = client.get("/stats/queues").json()
    # then it sees Sidekiq's fields with the store's numbers
    assert stats["sidekiq"]["enqueued"] == 2 and stats["sidekiq"]["scheduled"] == 1
    assert stats["sidekiq"]["processes"] == 0 and stats["store"]["store"] in ("redis", "sqlite")
    assert queues == {"default": 1, "mailers": 1}
    # and HEAD / answers with the default queue's size, as Sidekiq's health check does
    head = client.head("/")
    assert head.status_code == 200 and head.headers["content-length"] == "1"
    # and Sidekiq's old address of the feed leads to it
    assert client.get("/dashboard/stats").json()["sidekiq"]["enqueued"] == 2


def test_sidequest_web_refuses_to_show_a_store_that_does_not_exist(tmp_path: Path) -> None:
    # given a URL naming an SQLite file that is not there
    from click.testing import CliRunner

    from sidequest.cli import main

    missing = tmp_path / "nope.db"
    # when the operator starts the dashboard on it
    result = CliRunner().invoke(main, ["web", "--url", f"sqlite:///{missing}", "--port", "1"])
    # then it says so and creates nothing
    assert result.exit_code != 0 and "nope.db" in result.output
    assert not missing.exists()


def test_a_store_that_stops_answering_gets_a_plain_503(redis_server_factory: Any) -> None:
    # given a dashboard on a Redis that then goes away
    server = redis_server_factory()
    with TestClient(create_app(server.url), raise_server_exceptions=False) as client:
        assert client.get("/queues").status_code == 200
        server.kill()
        # when the operator reloads a page or a probe polls /stats
        page, probe = client.get("/queues"), client.get("/stats")
    # then both say the store does not answer, instead of an error page with a traceback
    for response in (page, probe):
        assert response.status_code == 503 and "the store does not answer" in response.text
