"""The composition root of the web service: settings → database → routes → loops.

Front doors come from the platform registry (bot/app/platforms.py) and mount here only when
their credentials are configured; a platform with none is off, not an error.
"""

from __future__ import annotations

import gc
import hmac
import ipaddress
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import PlainTextResponse

from adapters.plugin import StepAside, inbox_pass
from adapters.staff_console import web as staff_console
from bot.app.platforms import REGISTRY as PLATFORM_REGISTRY
from bot.app.platforms import build_platforms
from bot.app.settings import Settings
from bot.core.ports import Clock, Sender, system_clock
from bot.services import accounts, delivery, inbox
from bot.services.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from bot.services.metrics import REGISTRY, database_gauges
from bot.services.platforms import Platforms
from scheduler.runner import Runner
from storage import repo
from storage.db import Database

log = logging.getLogger(__name__)


def freeze_startup_heap() -> None:
    """Keep the objects made at start-up (modules, SDK models, mappers: some 250,000) out of
    the cyclic garbage collector's full passes, which would otherwise walk them all and stall
    every request for 150–200 ms now and then under load (measured with bench/ingest.py).
    Call once in a server process, after `create_app` and before serving."""
    gc.collect()
    gc.freeze()


def build_senders(settings: Settings, db: Database) -> dict[str, Sender]:
    """The outbox senders of every configured platform (for `nippo deliver`, the loops)."""
    return senders_of(build_platforms(settings, db), settings)


def senders_of(platforms: Platforms, settings: Settings) -> dict[str, Sender]:
    delivery.configure(backlog_alert_seconds=settings.outbox_backlog_alert_seconds)
    return {name: platform.sender for name, platform in platforms.items()}


async def close_senders(senders: dict[str, Sender]) -> None:
    for sender in senders.values():
        close = getattr(sender, "aclose", None)
        if close is not None:
            await close()


def create_app(
    settings: Settings | None = None,
    database: Database | None = None,
    clock: Clock = system_clock,
) -> FastAPI:
    settings = settings or Settings()
    db = database or Database(settings.database_url, actor="bot")  # the audit log's actor
    accounts.configure(failures_per_hour=settings.link_failures_per_hour)
    platforms = build_platforms(settings, db)
    senders = senders_of(platforms, settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        runner = (
            Runner(db, senders, inbox_passes=app.state.inbox_processors, clock=clock)
            if settings.scheduler_enabled
            else None
        )
        _app.state.runner = runner
        if runner is not None:
            runner.start()
        for service in _app.state.services:
            await service.start()
        try:
            yield
        finally:
            for service in _app.state.services:  # no new events while the rest winds down
                await service.aclose()
            if runner is not None:
                await runner.aclose()
            for worker in _app.state.inbox_workers:
                await worker.aclose()
            await close_senders(senders)
            if database is None:
                await db.dispose()

    app = FastAPI(title="Nippo", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.db = db

    @app.get("/healthz")
    async def healthz(response: Response) -> dict[str, Any]:
        """503 only when the database is unreachable (this process cannot work). A platform's
        outage is not this process's fault, and restarting it would not help: an outbox backlog
        older than OUTBOX_BACKLOG_ALERT_SECONDS answers 200 with "degraded" and its age."""
        try:
            async with db.engine.connect() as conn:
                ages = await delivery.oldest_pending(conn, clock(), sorted(senders) or None)
        except Exception as exc:  # report, don't crash: the load balancer decides
            log.warning("health check failed: %s", type(exc).__name__)
            response.status_code = 503
            return {"status": "unavailable", "database": "down"}
        try:  # reads alone pass on a full disk or a read-only file; every webhook needs writes
            async with db.transaction() as session:
                await repo.heartbeat(session, clock())
        except Exception as exc:
            log.warning("health check write failed: %s", type(exc).__name__)
            response.status_code = 503
            return {"status": "unavailable", "database": "read_only"}
        limit = settings.outbox_backlog_alert_seconds
        late = {p: round(age) for p, age in sorted(ages.items()) if age > limit}
        if late:
            return {"status": "degraded", "database": "up", "backlog": late}
        return {"status": "ok", "database": "up"}

    operator = operator_guard(settings)

    @app.get("/openapi.json", include_in_schema=False, dependencies=[operator])
    async def openapi() -> dict[str, Any]:
        return app.openapi()

    @app.get("/metrics", response_class=PlainTextResponse, dependencies=[operator])
    async def metrics() -> Response:
        async with db.transaction() as session:
            gauges = await database_gauges(session, clock(), sorted(senders))
        return Response(REGISTRY.render(gauges), media_type=METRICS_CONTENT_TYPE)

    staff_console.mount(app, settings, db, clock)  # /console (docs/console.md)
    app.state.senders = senders
    app.state.inbox_workers = []
    app.state.services = []
    steps: list[StepAside] = []
    for entry in PLATFORM_REGISTRY:
        platform = platforms.get(entry.name)
        if platform is None:
            _say_off(entry.label, entry.credentials(settings), entry.off_note)
            continue
        mounted = entry.mount(app, settings, db, platform, clock)
        steps += [mounted.step_aside] if mounted.step_aside is not None else []
        app.state.inbox_workers += [w for w in (mounted.worker, mounted.replies) if w is not None]
        app.state.services += [mounted.service] if mounted.service is not None else []

    async def step_aside() -> None:
        for step in steps:
            await step()

    app.state.inbox_processors = build_inbox_processors(
        db, platforms, step_aside if steps else None
    )
    return app


def off_reason(platform: str, credentials: dict[str, bool]) -> tuple[int, str]:
    """The log level and line for a platform left off: none of its settings is a choice
    (info); some but not all is a mistake, and names exactly the missing ones (warning)."""
    missing = [name for name, given in credentials.items() if not given]
    if len(missing) == len(credentials):
        return logging.INFO, f"{platform} is off: {' and '.join(missing)} not set"
    given = [name for name, present in credentials.items() if present]
    return (
        logging.WARNING,
        f"{platform} is off: {' and '.join(missing)} not set "
        f"(only {' and '.join(given)} is): set {' and '.join(missing)} to turn {platform} on",
    )


def _say_off(platform: str, credentials: dict[str, bool], note: str = "") -> None:
    level, line = off_reason(platform, credentials)
    log.log(level, line + note)


def operator_guard(settings: Settings) -> Any:
    """Operators' endpoints: open unless OPERATOR_TOKEN or OPERATOR_NETWORKS says otherwise;
    a token is compared in constant time, a network by the connecting address (behind a
    reverse proxy that is the proxy's: limit there, see docs/operations.md)."""
    token = settings.operator_token.get_secret_value() if settings.operator_token else None
    networks = [
        ipaddress.ip_network(n.strip(), strict=False)
        for n in (settings.operator_networks or "").split(",")
        if n.strip()
    ]

    async def check(request: Request) -> None:
        if networks:
            host = request.client.host if request.client else ""
            try:
                address = ipaddress.ip_address(host)
            except ValueError:
                raise HTTPException(status_code=403) from None
            if not any(address in n for n in networks):
                raise HTTPException(status_code=403)
        if token is not None:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                raise HTTPException(status_code=401, headers={"WWW-Authenticate": "Bearer"})

    return Depends(check)


def build_inbox_processors(
    db: Database, platforms: Platforms, step_aside: StepAside | None = None
) -> Mapping[str, inbox.InboxPass]:
    """Per platform, a pass over its pending inbox rows: `await process(now, None)`;
    `step_aside` is awaited before each event.

    The scheduler loop calls each one every tick, so events stored by a process that died
    before handling them are still handled (once: rows are locked and re-checked).
    """
    return {name: inbox_pass(db, p, step_aside) for name, p in platforms.items()}
