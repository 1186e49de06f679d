"""`nippo tick|serve|deliver|demo`: running Nippo."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from bot.app.settings import DEFAULT_DATABASE_URL, Settings
from bot.cli.base import (
    DEMO_DATABASE_URL,
    _run,
    app,
    now,
)
from storage import db as storage_db
from storage.audit_chain import acting_as
from storage.db import Database


@app.command()
def tick(
    at: Annotated[
        str | None,
        typer.Option("--at", help="ISO-8601 instant with an offset, e.g. 2026-07-01T10:31+09:00."),
    ] = None,
) -> None:
    """Run one scheduler tick (now, or at that instant) and print its effects."""
    from bot.services import ticks

    instant = now()
    if at is not None:
        try:
            instant = datetime.fromisoformat(at)
        except ValueError as exc:
            typer.echo(f"error: --at {at!r} is not an ISO-8601 instant", err=True)
            raise typer.Exit(2) from exc
        if instant.tzinfo is None:
            typer.echo("error: --at needs a UTC offset, e.g. 2026-07-01T10:31+09:00", err=True)
            raise typer.Exit(2)

    async def work(database: Database) -> None:
        with acting_as("bot"):  # the tick's effects are the bot's, as in `nippo serve`
            summary = await ticks.tick(database, instant)
        if summary.skipped:
            typer.echo("another replica is ticking; nothing done")
            return
        typer.echo(
            f"tick {instant.isoformat()}: {summary.candidates} member-days checked, "
            f"{len(summary.reminders)} reminders, {len(summary.alerts)} alerts, "
            f"{len(summary.resolved)} resolved, {len(summary.digests)} digests, "
            f"{len(summary.evaluations)} evaluation reminders"
        )
        for key in summary.effects:
            typer.echo(f"  {key}")

    _run(work)


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
) -> None:
    """Run the web app (webhooks, /healthz) with its background loops."""
    import uvicorn

    from bot.app import logs
    from bot.app.web import create_app, freeze_startup_heap

    settings = Settings()
    logs.configure(settings.log_level, settings.log_format)
    storage_db.upgrade(settings.database_url)
    app = create_app(settings)
    freeze_startup_heap()
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,
        # libuv's loop and the C HTTP parser: less CPU an event than asyncio's and h11's
        # under a morning's webhooks (bench/README.md, "uvloop and httptools")
        loop="uvloop",
        http="httptools",
        # a flood of slow or idle connections gets 503 at once instead of starving webhooks;
        # the reverse proxy's header and body timeouts do the rest (docs/operations.md)
        limit_concurrency=settings.http_limit_concurrency,
        timeout_keep_alive=settings.http_keep_alive_seconds,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,  # read from .env too
    )


@app.command()
def deliver() -> None:
    """Flush the outbox once with the configured senders (LINE, …)."""
    from bot.app.web import build_senders, close_senders
    from bot.services import delivery

    settings = Settings()

    async def work(database: Database) -> None:
        senders = build_senders(settings, database)
        if not senders:
            typer.echo("no platform configured (set LINE_* or SLACK_*): nothing to deliver")
            return
        try:
            done = await delivery.flush(database, senders, now())
        finally:
            await close_senders(senders)
        typer.echo(f"sent {done.sent}, retrying {done.retried}, failed {done.failed}")

    _run(work)


@app.command()
def demo(
    script: Annotated[bool, typer.Option("--script", help="Play a whole simulated day.")] = False,
) -> None:
    """Try Nippo in the terminal: SQLite, no LINE or Slack account needed."""
    from bot.app import demo as demo_mod

    settings = Settings()
    url = settings.database_url
    name = "デモ事業所"
    if url == DEFAULT_DATABASE_URL and "DATABASE_URL" not in _env():
        url = DEMO_DATABASE_URL
        for suffix in ("", "-wal", "-shm"):
            Path(f"nippo-demo.db{suffix}").unlink(missing_ok=True)
    else:
        name = f"デモ事業所 {now():%Y%m%d-%H%M%S}"

    if script:
        _run(lambda database: demo_mod.run_script(database, typer.echo, name=name), url)
    else:
        _run(
            lambda database: demo_mod.run_interactive(database, input, typer.echo, now, name=name),
            url,
        )
    typer.echo(f"\nデータベース: {storage_db.async_url(url)}")


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)
