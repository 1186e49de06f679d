"""The composition root of the web service: settings → database → routes → loops.

Front doors mount here only when their credentials are configured; a platform with none is
off, not an error.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response
from fastapi.responses import PlainTextResponse
from sqlalchemy import text

from bot.metrics import REGISTRY, database_gauges
from bot.ports import Sender
from bot.settings import Settings
from scheduler.runner import Runner
from storage.db import Database

log = logging.getLogger(__name__)


def build_senders(settings: Settings) -> dict[str, Sender]:
    """The outbound senders of the configured platforms (a platform with no credentials is
    off: its messages wait in the outbox)."""
    senders: dict[str, Sender] = {}
    return senders


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    settings = settings or Settings()
    db = database or Database(settings.database_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        runner = Runner(db, build_senders(settings)) if settings.scheduler_enabled else None
        _app.state.runner = runner
        if runner is not None:
            runner.start()
        try:
            yield
        finally:
            if runner is not None:
                runner.stop()
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

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> str:
        async with db.transaction() as session:
            gauges = await database_gauges(session)
        return REGISTRY.render(gauges)

    if not settings.line_enabled:
        log.info("LINE is off: LINE_CHANNEL_SECRET / LINE_CHANNEL_ACCESS_TOKEN not set")
    if not settings.slack_enabled:
        log.info("Slack is off: SLACK_BOT_TOKEN / SLACK_SIGNING_SECRET not set")
    return app
