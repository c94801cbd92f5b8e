"""``sidequest web``: serve the dashboard alone with uvicorn and print where it is."""

from __future__ import annotations

import click

from sidequest.errors import SidequestError


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=7433, show_default=True, type=int, help="Port to listen on.")
@click.option("--url", help="Store URL (default: SIDEQUEST_URL / REDIS_URL / ./sidequest.db).")
@click.option("--prefix", default="", help="Path prefix the dashboard lives under (e.g. /sidequest).")
@click.option("--read-only", is_flag=True, help="Show everything, change nothing (no buttons, POST refused).")
@click.option("--root-path", default="", help="Prefix a reverse proxy strips before passing requests on.")
def web(host: str, port: int, url: str | None, prefix: str, read_only: bool, root_path: str) -> None:
    """Serve the dashboard (Sidekiq's Web UI pages) on HOST:PORT."""
    try:
        import uvicorn

        from sidequest.web import create_app
    except ImportError as exc:
        raise click.UsageError(
            f"the dashboard needs the web extra ({exc.name} is missing): pip install 'sidequest[web]'"
        ) from None
    try:
        app = create_app(url or None, prefix=prefix, read_only=read_only)
    except SidequestError as exc:
        raise click.UsageError(str(exc)) from None
    shown_host = f"[{host}]" if ":" in host else host
    path = (root_path.rstrip("/") + "/" + prefix.strip("/")).rstrip("/") + "/"
    click.echo(f"sidequest dashboard: http://{shown_host}:{port}{path}")
    uvicorn.run(app, host=host, port=port, root_path=root_path, log_level="warning", proxy_headers=True)
