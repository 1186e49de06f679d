"""The platform registry: the front doors this process has, built from settings.

A platform is one adapter package whose plug-in meets `bot.services.platforms.PlatformPlugin`
and one entry in `REGISTRY` below: the settings it needs (all set: on; none: off, a choice;
some: off, and the missing ones are named), how its plug-in is built from them, and how its
routes mount. Everything else (the inbox passes, the senders, the scheduler) reads the
registry, never a platform's name. docs/architecture.md shows a new platform's skeleton.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import FastAPI

from bot.app.settings import Settings
from bot.core.ports import Clock
from bot.services import delivery, inbox
from bot.services.platforms import PlatformPlugin, Platforms
from scheduler.runner import InboxPass
from storage.audit_chain import acting_as
from storage.db import Database

log = logging.getLogger(__name__)

StepAside = Callable[[], Awaitable[None]]

# Handling a stored event waits while webhook requests wait for their commit, up to this
# long: acknowledgements first in a burst, yet the handling never stops.
STEP_ASIDE_AT_MOST_S = 1.0


@dataclass(frozen=True)
class Mounted:
    """What a platform's routes give the rest of the app."""

    step_aside: StepAside | None = None  # awaited before each stored event is handled
    worker: inbox.AfterAckWorker | None = None  # closed at shutdown


@dataclass(frozen=True)
class Entry:
    name: str
    label: str  # as operators read it ("LINE")
    credentials: Callable[[Settings], dict[str, bool]]  # each setting needed: is it set?
    build: Callable[[Settings, Database], PlatformPlugin]  # called once all are set
    mount: Callable[[FastAPI, Settings, Database, PlatformPlugin, Clock], Mounted]
    off_note: str = ""  # said after "… is off"


def inbox_pass(
    db: Database, platform: PlatformPlugin, step_aside: StepAside | None = None
) -> InboxPass:
    """The scheduler's (and after-ack) pass over one platform's pending inbox rows."""

    async def process(now: datetime, ids: list[int] | None = None) -> int:
        with acting_as("bot"):  # a member's message: the bot writes what it says
            return await inbox.process_pending(db, now, platform, ids=ids, step_aside=step_aside)

    return process


# --- LINE ----------------------------------------------------------------------------------


def line_credentials(settings: Settings) -> dict[str, bool]:
    """Each LINE setting a webhook needs, and whether it is set."""
    return {
        "LINE_CHANNEL_SECRET": settings.line_channel_secret is not None,
        "LINE_CHANNEL_ACCESS_TOKEN": settings.line_channel_access_token is not None,
    }


def _line(settings: Settings, db: Database) -> PlatformPlugin:
    from adapters.line.inbox import LinePlatform
    from adapters.line.sender import LineApi, LineContent, LineSender

    assert settings.line_channel_access_token is not None
    api = LineApi(
        settings.line_channel_access_token.get_secret_value(),
        settings.line_api_base_url,
        settings.line_data_api_base_url,
    )
    return LinePlatform(LineSender(api, db), LineContent(api))


def _mount_line(
    app: FastAPI, settings: Settings, db: Database, platform: PlatformPlugin, clock: Clock
) -> Mounted:
    from adapters.line.webhook import line_router
    from storage.inbox_writer import InboxWriter

    assert settings.line_channel_secret is not None
    writer = InboxWriter(db, platform.name, clock)

    async def step_aside() -> None:
        await writer.wait_idle(STEP_ASIDE_AT_MOST_S)

    process = inbox_pass(db, platform, step_aside)

    async def one_pass() -> None:
        """Handle what is stored, a batch at a time, each followed by its replies, so reply
        tokens are used while fresh (an answer sent later becomes a paid push)."""
        with acting_as("bot"):
            while True:
                handled = await process(clock(), None)
                while True:
                    await step_aside()
                    done = await delivery.flush(db, app.state.senders, clock())
                    if done.retried or done.sent + done.failed == 0:
                        break
                if handled < inbox.BATCH:
                    return

    worker = inbox.AfterAckWorker(one_pass)
    secret = settings.line_channel_secret.get_secret_value()
    app.include_router(line_router(secret, db, clock, worker.poke, writer))
    app.state.line_worker = worker
    app.state.line_writer = writer
    log.info("LINE webhook mounted at POST /callback/line")
    # The scheduler's recovery passes step aside too: a tick that lands in a burst must not
    # hold every waiting acknowledgement for the length of its pass.
    return Mounted(step_aside, worker)


# --- Slack ---------------------------------------------------------------------------------


def slack_credentials(settings: Settings) -> dict[str, bool]:
    return {
        "SLACK_BOT_TOKEN": settings.slack_bot_token is not None,
        "SLACK_SIGNING_SECRET": settings.slack_signing_secret is not None,
    }


def _slack(settings: Settings, db: Database) -> PlatformPlugin:
    from adapters.slack.checkin import SlackPlatform
    from adapters.slack.deps import web_client
    from adapters.slack.sender import SlackSender

    assert settings.slack_bot_token is not None
    client = web_client(
        settings.slack_bot_token.get_secret_value(), settings.slack_api_base_url, retries=False
    )
    late_after = timedelta(seconds=settings.outbox_backlog_alert_seconds)
    return SlackPlatform(SlackSender(client, db, late_after=late_after))


class _TokenUnusedFilter(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment by itself and then warns that the
    client given (ours, with its base URL and retries) wins over it: true, and by design,
    yet it reads as a misconfiguration at every start."""

    def filter(self, record: logging.LogRecord) -> bool:
        from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped

        return record.getMessage() != warning_client_prioritized_and_token_skipped()


_TOKEN_UNUSED = _TokenUnusedFilter()


def _mount_slack(
    app: FastAPI, settings: Settings, db: Database, platform: PlatformPlugin, clock: Clock
) -> Mounted:
    from adapters.slack import app as slack_app
    from adapters.slack.sender import SlackSender

    sender = platform.sender
    assert isinstance(sender, SlackSender)
    logging.getLogger("adapters.slack.bolt").addFilter(_TOKEN_UNUSED)
    assert settings.slack_bot_token is not None and settings.slack_signing_secret is not None
    bolt = slack_app.build(
        token=settings.slack_bot_token.get_secret_value(),
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        base_url=settings.slack_api_base_url,
        db=db,
        sender=sender,
        platform=platform,
        clock=clock,
    )
    slack_app.mount(
        app, bolt, settings.slack_signing_secret.get_secret_value(), settings.slack_team_id
    )
    log.info("Slack is on: POST /slack/events")
    return Mounted()


# --- the registry: one line per platform ---------------------------------------------------

REGISTRY: tuple[Entry, ...] = (
    Entry(
        "line", "LINE", line_credentials, _line, _mount_line, " (POST /callback/line answers 404)"
    ),
    Entry("slack", "Slack", slack_credentials, _slack, _mount_slack),
)


def build_platforms(settings: Settings, db: Database) -> Platforms:
    """The plug-in of every platform whose settings are all given, by name."""
    return {
        entry.name: entry.build(settings, db)
        for entry in REGISTRY
        if all(entry.credentials(settings).values())
    }
