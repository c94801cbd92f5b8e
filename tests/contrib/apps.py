"""Running the example apps as real processes: a web server, a worker, and requests to them."""

from __future__ import annotations

import base64
import http.cookiejar
import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.worker import wait_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BIN = Path(sys.executable).parent


def copy_example(name: str, tmp_path: Path) -> Path:
    """A private copy of an example, so its database and outbox live in the test's directory."""
    target = tmp_path / name
    shutil.copytree(
        EXAMPLES / name,
        target,
        ignore=shutil.ignore_patterns("__pycache__", "*.db*", "db.sqlite3", "outbox", ".pytest_cache"),
    )
    return target


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(store_url: str, outbox: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OUTBOX": str(outbox), "SIDEQUEST_URL": store_url}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    for var in ("REDIS_URL", "SIDEQUEST_REDIS_URL", "DJANGO_SETTINGS_MODULE", "FLASK_APP"):
        env.pop(var, None)
    env.update(extra)
    return env


@contextmanager
def process(
    command: list[str], cwd: Path, env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A subprocess that is stopped with TERM at the end (and killed if it will not stop)."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def post(url: str) -> bytes:
    request = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return bytes(response.read())


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return bytes(response.read())


def wait_until_serving(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    wait_for(up, timeout=60, what=f"a server on port {port}")


def wait_for_file(path: Path, *logs: Path) -> str:
    try:
        wait_for(path.exists, timeout=60, what=f"{path.name} to be written")
    except AssertionError:
        raise AssertionError("\n".join(log.read_text() for log in logs if log.exists())) from None
    wait_for(lambda: path.read_text().endswith("\n"), timeout=10, what=f"{path.name} to be complete")
    return path.read_text()


def run_example_tests(name: str, tmp_path: Path) -> str:
    """Run an example's own test files with pytest, in a private copy; returns pytest's output."""
    app_dir = copy_example(name, tmp_path)
    env = environment(f"sqlite:///{tmp_path / 'unused.db'}", tmp_path / "outbox")
    finished = subprocess.run(
        [str(BIN / "pytest"), "-q", "-p", "no:cacheprovider", "--rootdir", str(app_dir), "-c", os.devnull],
        cwd=app_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = finished.stdout + finished.stderr
    assert finished.returncode == 0, output
    return output


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def fetch(
    url: str,
    *,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    cookies: http.cookiejar.CookieJar | None = None,
) -> tuple[int, dict[str, str], str]:
    """(status, headers with lower-case names, body) of one request; redirects are not followed and
    error statuses are returned, not raised."""
    opener = urllib.request.build_opener(
        _NoRedirect, urllib.request.HTTPCookieProcessor(cookies if cookies is not None else None)
    )
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with opener.open(request, timeout=10) as response:
            return (
                response.status,
                {k.lower(): v for k, v in response.headers.items()},
                response.read().decode(),
            )
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read().decode()


def basic_auth(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
