"""What a platform adapter package gives the composition root: one `Entry`.

A platform is one adapter package whose `plugin.py` holds an `ENTRY`: the settings it needs (all
set: on; none: off, a choice; some: off, and the missing ones are named), how its plug-in
(`bot.services.platforms.PlatformPlugin`) is built from them, and how its routes mount. The
registry (bot/app/platforms.py) is one line per platform; docs/architecture.md has a skeleton.
An entry reads settings by attribute through a Protocol of its own, so no adapter imports the
composition root's `Settings`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from fastapi import FastAPI

from bot.core.ports import Clock
from bot.services import inbox
from bot.services.platforms import PlatformPlugin
from storage.audit_chain import acting_as
from storage.db import Database

StepAside = Callable[[], Awaitable[None]]

# Handling a stored event waits while webhook requests wait for their commit, up to this
# long: acknowledgements first in a burst, yet the handling never stops.
STEP_ASIDE_AT_MOST_S = 1.0


class Service(Protocol):
    """A connection a platform keeps open itself (Slack's Socket Mode), for the app's life."""

    async def start(self) -> None: ...
    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class Mounted:
    """What a platform's routes give the rest of the app."""

    step_aside: StepAside | None = None  # awaited before each stored event is handled
    worker: inbox.AfterAckWorker | None = None  # closed at shutdown
    replies: inbox.AfterAckWorker | None = None  # the worker's reply delivery, closed after it
    service: Service | None = None  # started with the app, closed first at shutdown


@dataclass(frozen=True)
class Entry:
    name: str
    label: str  # as operators read it ("LINE")
    credentials: Callable[[Any], dict[str, bool]]  # each setting needed: is it set?
    build: Callable[[Any, Database], PlatformPlugin]  # called once all are set
    mount: Callable[[FastAPI, Any, Database, PlatformPlugin, Clock], Mounted]
    off_note: str = ""  # said after "… is off"


def inbox_pass(
    db: Database,
    platform: PlatformPlugin,
    step_aside: StepAside | None = None,
    committed: Callable[[], None] | None = None,
) -> inbox.InboxPass:
    """The scheduler's (and after-ack) pass over one platform's pending inbox rows;
    `committed` is called after each of its batches commits (`inbox.process_pending`)."""

    async def process(
        now: datetime, ids: list[int] | None = None, *, aside: inbox.SetAside | None = None
    ) -> int:
        with acting_as("bot"):  # a member's message: the bot writes what it says
            return await inbox.process_pending(
                db, now, platform, ids=ids, step_aside=step_aside, aside=aside, committed=committed
            )

    return process
