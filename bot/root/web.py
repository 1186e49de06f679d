"""The composition root of the web service: settings → database → routes → loops.

Front doors mount here only when their credentials are configured; a platform with none is
off, not an error.
"""

from __future__ import annotations

import gc
import hmac
import ipaddress
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import PlainTextResponse

from bot.core.ports import Sender
from bot.root.settings import Settings
from bot.usecases import accounts, delivery
from bot.usecases.metrics import REGISTRY, database_gauges
from scheduler.runner import InboxPass, Runner
from storage import repo
from storage.audit_chain import acting_as
from storage.db import Database

log = logging.getLogger(__name__)

# Handling a stored event waits while webhook requests wait for their commit, up to this
# long: acknowledgements first in a burst, yet the handling never stops.
STEP_ASIDE_AT_MOST_S = 1.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


def freeze_startup_heap() -> None:
    """Keep the objects made at start-up (modules, SDK models, mappers: some 250,000) out of
    the cyclic garbage collector's full passes, which would otherwise walk them all and stall
    every request for 150–200 ms now and then under load (measured with bench/ingest.py).
    Call once in a server process, after `create_app` and before serving."""
    gc.collect()
    gc.freeze()


def build_senders(settings: Settings, db: Database) -> dict[str, Sender]:
    """The outbox senders of every configured platform (for `nippo deliver`, the loops)."""
    delivery.configure(backlog_alert_seconds=settings.outbox_backlog_alert_seconds)
    senders: dict[str, Sender] = {}
    if settings.line_enabled and settings.line_channel_access_token is not None:
        from adapters.line.sender import LineApi, LineSender

        api = LineApi(
            settings.line_channel_access_token.get_secret_value(),
            settings.line_api_base_url,
            settings.line_data_api_base_url,
        )
        senders["line"] = LineSender(api, db)
    if settings.slack_enabled and settings.slack_bot_token is not None:
        from adapters.slack.deps import web_client
        from adapters.slack.sender import SlackSender

        client = web_client(
            settings.slack_bot_token.get_secret_value(), settings.slack_api_base_url, retries=False
        )
        late_after = timedelta(seconds=settings.outbox_backlog_alert_seconds)
        senders["slack"] = SlackSender(client, db, late_after=late_after)
    return senders


async def close_senders(senders: dict[str, Sender]) -> None:
    for sender in senders.values():
        close = getattr(sender, "aclose", None)
        if close is not None:
            await close()


def create_app(
    settings: Settings | None = None,
    database: Database | None = None,
    clock: Callable[[], datetime] = _utc_now,
) -> FastAPI:
    settings = settings or Settings()
    db = database or Database(settings.database_url, actor="bot")  # the audit log's actor
    accounts.configure(failures_per_hour=settings.link_failures_per_hour)
    senders = build_senders(settings, db)

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
        try:
            yield
        finally:
            if runner is not None:
                await runner.aclose()
            worker = getattr(_app.state, "line_worker", None)
            if worker is not None:
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
    async def metrics() -> str:
        async with db.transaction() as session:
            gauges = await database_gauges(session, clock(), sorted(senders))
        return REGISTRY.render(gauges)

    app.state.senders = senders
    if settings.line_enabled and settings.line_channel_secret is not None:
        _mount_line(app, settings.line_channel_secret.get_secret_value(), db, senders, clock)
    else:
        app.state.inbox_processors = build_inbox_processors(db, senders)
        _say_off("LINE", line_credentials(settings), " (POST /callback/line answers 404)")
    if settings.slack_enabled and "slack" in senders:
        _mount_slack(app, settings, db, senders, clock)
    else:
        _say_off("Slack", slack_credentials(settings))
    return app


def line_credentials(settings: Settings) -> dict[str, bool]:
    """Each LINE setting a webhook needs, and whether it is set."""
    return {
        "LINE_CHANNEL_SECRET": settings.line_channel_secret is not None,
        "LINE_CHANNEL_ACCESS_TOKEN": settings.line_channel_access_token is not None,
    }


def slack_credentials(settings: Settings) -> dict[str, bool]:
    return {
        "SLACK_BOT_TOKEN": settings.slack_bot_token is not None,
        "SLACK_SIGNING_SECRET": settings.slack_signing_secret is not None,
    }


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
    db: Database,
    senders: dict[str, Sender],
    step_aside: Callable[[], Awaitable[None]] | None = None,
) -> dict[str, InboxPass]:
    """Per platform, a pass over its pending inbox rows: `await process(now, None)`;
    `step_aside` is awaited before each event.

    The scheduler loop calls each one every tick, so events stored by a process that died
    before handling them are still handled (once: rows are locked and re-checked).
    """
    processors: dict[str, InboxPass] = {}
    line = senders.get("line")
    if line is not None:
        from adapters.line.inbox import process_pending_inbox
        from adapters.line.sender import LineContent, LineSender

        content = LineContent(line.api) if isinstance(line, LineSender) else None

        async def line_pass(now: datetime, ids: list[int] | None = None) -> int:
            with acting_as("bot"):  # a member's message: the bot writes what it says
                return await process_pending_inbox(db, now, content, ids=ids, step_aside=step_aside)

        processors["line"] = line_pass
    if "slack" in senders:
        from adapters.slack.checkin import process_pending

        async def slack_pass(now: datetime, ids: list[int] | None = None) -> int:
            with acting_as("bot"):
                return await process_pending(db, now, ids=ids)

        processors["slack"] = slack_pass
    return processors


def _mount_line(
    app: FastAPI,
    secret: str,
    db: Database,
    senders: dict[str, Sender],
    clock: Callable[[], datetime],
) -> None:
    from adapters.line.inbox import BATCH, AfterAckWorker
    from adapters.line.webhook import line_router
    from storage.inbox_writer import InboxWriter

    writer = InboxWriter(db, "line", clock)

    async def step_aside() -> None:
        await writer.wait_idle(STEP_ASIDE_AT_MOST_S)

    # The scheduler's recovery pass steps aside too: a tick that lands in a burst must not
    # hold every waiting acknowledgement for the length of its pass.
    app.state.inbox_processors = build_inbox_processors(db, senders, step_aside)
    process = app.state.inbox_processors["line"]

    async def one_pass() -> None:
        """Handle what is stored, a batch at a time, each followed by its replies, so reply
        tokens are used while fresh (an answer sent later becomes a paid push)."""
        with acting_as("bot"):
            while True:
                handled = await process(clock(), None)
                while True:
                    await step_aside()
                    done = await delivery.flush(db, senders, clock())
                    if done.retried or done.sent + done.failed == 0:
                        break
                if handled < BATCH:
                    return

    worker = AfterAckWorker(one_pass)
    app.include_router(line_router(secret, db, clock, worker.poke, writer))
    app.state.line_worker = worker
    app.state.line_writer = writer
    log.info("LINE webhook mounted at POST /callback/line")


class _TokenUnusedFilter(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment by itself and then warns that the
    client given (ours, with its base URL and retries) wins over it: true, and by design,
    yet it reads as a misconfiguration at every start."""

    def filter(self, record: logging.LogRecord) -> bool:
        from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped

        return record.getMessage() != warning_client_prioritized_and_token_skipped()


_TOKEN_UNUSED = _TokenUnusedFilter()


def _mount_slack(
    app: FastAPI,
    settings: Settings,
    db: Database,
    senders: dict[str, Sender],
    clock: Callable[[], datetime],
) -> None:
    from adapters.slack import app as slack_app
    from adapters.slack.sender import SlackSender

    sender = senders["slack"]
    assert isinstance(sender, SlackSender)
    logging.getLogger("adapters.slack.bolt").addFilter(_TOKEN_UNUSED)
    assert settings.slack_bot_token is not None and settings.slack_signing_secret is not None
    bolt = slack_app.build(
        token=settings.slack_bot_token.get_secret_value(),
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        base_url=settings.slack_api_base_url,
        db=db,
        sender=sender,
        clock=clock,
    )
    slack_app.mount(
        app, bolt, settings.slack_signing_secret.get_secret_value(), settings.slack_team_id
    )
    log.info("Slack is on: POST /slack/events")
