"""Bolt wiring: one AsyncApp on `POST /slack/events` for events, `/nippo` and interactivity.

Bolt verifies every request (v0 HMAC signature, timestamps older than 5 minutes refused with
401) and answers Slack as soon as a listener calls `ack()`; our listeners ack first and do the
database work and Web API calls afterwards, so Slack always hears back within 3 seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from fastapi import FastAPI, Request, Response
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp

from adapters.slack import alerts, checkin, commands, home, recordkeeping
from adapters.slack.deps import Deps, utc_now, web_client
from adapters.slack.sender import SlackSender
from storage.db import Database

log = logging.getLogger(__name__)


def build(
    *,
    token: str,
    signing_secret: str,
    base_url: str,
    db: Database,
    sender: SlackSender,
    clock: Callable[[], datetime] = utc_now,
) -> AsyncApp:
    """The bolt app with every listener; `sender` is the outbox sender for platform "slack"."""
    bolt = AsyncApp(
        client=web_client(token, base_url),
        signing_secret=signing_secret,
        logger=logging.getLogger("adapters.slack.bolt"),
    )
    deps = Deps(db, clock, sender)
    commands.register(bolt, deps)
    alerts.register(bolt, deps)
    checkin.register(bolt, deps)
    home.register(bolt, deps)
    recordkeeping.register(bolt, deps)
    return bolt


def mount(app: FastAPI, bolt: AsyncApp) -> None:
    handler = AsyncSlackRequestHandler(bolt)

    @app.post("/slack/events", include_in_schema=False)
    async def slack_events(request: Request) -> Response:
        response: Response = await handler.handle(request)
        return response
