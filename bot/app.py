"""The composition root of the web service: settings → database → routes → loops.

Front doors mount here only when their credentials are configured; a platform with none is
off, not an error.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI, Response
from sqlalchemy import text

from bot.settings import Settings
from storage.db import Database

log = logging.getLogger(__name__)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: Settings | None = None,
    database: Database | None = None,
    clock: Callable[[], datetime] = _utc_now,
) -> FastAPI:
    settings = settings or Settings()
    db = database or Database(settings.database_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if database is None:
                await db.dispose()

    app = FastAPI(title="Nippo", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.db = db

    @app.get("/healthz")
    async def healthz(response: Response) -> dict[str, str]:
        try:
            async with db.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:  # report, don't crash: the load balancer decides
            log.warning("health check failed: %s", type(exc).__name__)
            response.status_code = 503
            return {"status": "unavailable", "database": "down"}
        return {"status": "ok", "database": "up"}

    if not settings.line_enabled:
        log.info("LINE is off: LINE_CHANNEL_SECRET / LINE_CHANNEL_ACCESS_TOKEN not set")
    if settings.slack_enabled:
        _mount_slack(app, settings, db, clock)
    else:
        log.info("Slack is off: SLACK_BOT_TOKEN / SLACK_SIGNING_SECRET not set")
    return app


def _mount_slack(
    app: FastAPI, settings: Settings, db: Database, clock: Callable[[], datetime]
) -> None:
    from adapters.slack import app as slack_app
    from adapters.slack.checkin import process_pending

    assert settings.slack_bot_token is not None and settings.slack_signing_secret is not None
    bolt, sender = slack_app.build(
        token=settings.slack_bot_token.get_secret_value(),
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        base_url=settings.slack_api_base_url,
        db=db,
        clock=clock,
    )
    slack_app.mount(app, bolt)
    # For the delivery loop: alerts raised by LINE events or ticks leave through this sender.
    app.state.senders = {**getattr(app.state, "senders", {}), "slack": sender}

    async def slack_pass(now: datetime, ids: list[int] | None = None) -> int:
        return await process_pending(db, now, ids=ids)

    # For the scheduler loop: Slack events stored before a crash are handled on the next tick.
    app.state.inbox_processors = {**getattr(app.state, "inbox_processors", {}), "slack": slack_pass}
    log.info("Slack is on: POST /slack/events")
