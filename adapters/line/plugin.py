"""LINE's entry in the platform registry: its settings, its plug-in and its webhook route."""

from __future__ import annotations

import logging
from typing import Protocol

from fastapi import FastAPI
from pydantic import SecretStr

from adapters.plugin import STEP_ASIDE_AT_MOST_S, Entry, Mounted, inbox_pass
from bot.core.ports import Clock
from bot.services import delivery, inbox
from bot.services.platforms import PlatformPlugin
from storage.audit_chain import acting_as
from storage.db import Database

log = logging.getLogger(__name__)


class LineSettings(Protocol):
    @property
    def line_channel_secret(self) -> SecretStr | None: ...
    @property
    def line_channel_access_token(self) -> SecretStr | None: ...
    @property
    def line_api_base_url(self) -> str: ...
    @property
    def line_data_api_base_url(self) -> str: ...


def credentials(settings: LineSettings) -> dict[str, bool]:
    """Each LINE setting a webhook needs, and whether it is set."""
    return {
        "LINE_CHANNEL_SECRET": settings.line_channel_secret is not None,
        "LINE_CHANNEL_ACCESS_TOKEN": settings.line_channel_access_token is not None,
    }


def build(settings: LineSettings, db: Database) -> PlatformPlugin:
    from adapters.line.inbox import LinePlatform
    from adapters.line.sender import LineApi, LineContent, LineSender

    assert settings.line_channel_access_token is not None
    api = LineApi(
        settings.line_channel_access_token.get_secret_value(),
        settings.line_api_base_url,
        settings.line_data_api_base_url,
    )
    return LinePlatform(LineSender(api, db), LineContent(api))


def mount(
    app: FastAPI, settings: LineSettings, db: Database, platform: PlatformPlugin, clock: Clock
) -> Mounted:
    from adapters.line.webhook import line_router
    from storage.inbox_writer import InboxWriter

    assert settings.line_channel_secret is not None
    writer = InboxWriter(db, platform.name, clock)

    async def step_aside() -> None:
        await writer.wait_idle(STEP_ASIDE_AT_MOST_S)

    async def send_due() -> None:
        """What is due now; rows committed meanwhile come with their own poke."""
        while True:
            await step_aside()
            if not (await delivery.flush(db, app.state.senders, clock())).more:
                return

    # Each batch's replies go out as soon as it commits, while the pass handles the next
    # batches: reply tokens are used while fresh (an answer sent later becomes a paid push),
    # and a member never waits for the rest of a pass of up to inbox.BATCH events.
    replies = inbox.AfterAckWorker(send_due, "reply delivery")
    process = inbox_pass(db, platform, step_aside, replies.poke)

    async def run_pass(aside: inbox.SetAside) -> int:
        return await process(clock(), None, aside=aside)

    async def one_pass() -> None:
        """Handle whatever is pending, whoever stored it, until nothing is left to take;
        done once the replies it made are out (shutdown and the tests wait for this)."""
        with acting_as("bot"):
            await inbox.drain(run_pass)
        await replies.settled()

    worker = inbox.AfterAckWorker(one_pass)
    secret = settings.line_channel_secret.get_secret_value()
    app.include_router(line_router(secret, db, clock, worker.poke, writer))
    app.state.line_worker = worker
    app.state.line_writer = writer
    log.info("LINE webhook mounted at POST /callback/line")
    # The scheduler's recovery passes step aside too: a tick that lands in a burst must not
    # hold every waiting acknowledgement for the length of its pass.
    return Mounted(step_aside, worker, replies)


ENTRY = Entry("line", "LINE", credentials, build, mount, " (POST /callback/line answers 404)")
