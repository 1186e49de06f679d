"""What the Slack listeners share: the database, the clock, the sender (built once)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.sender import SlackSender
from bot.services import delivery
from storage.db import Database

log = logging.getLogger(__name__)


@dataclass
class Deps:
    """What the listeners need, built once by the composition root."""

    db: Database
    clock: Callable[[], datetime]
    sender: SlackSender

    async def flush(self) -> None:
        """Deliver the replies and alerts this request produced without waiting for a loop."""
        try:
            await delivery.flush(self.db, {"slack": self.sender}, self.clock())
        except Exception:  # the delivery loop will pick the rows up again
            log.exception("slack flush failed")


def web_client(token: str, base_url: str, *, retries: bool = True) -> AsyncWebClient:
    """A Web API client; `retries=False` for posting, where a blind retry could double-post."""
    base = base_url if base_url.endswith("/") else base_url + "/"
    if retries:
        return AsyncWebClient(token=token, base_url=base)
    return AsyncWebClient(token=token, base_url=base, retry_handlers=[])
