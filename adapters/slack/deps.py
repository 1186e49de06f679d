"""What the Slack listeners share: the database, the clock, the sender (built once)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.sender import SlackSender
from bot.core.ports import Sender
from bot.services import delivery
from storage.db import Database

log = logging.getLogger(__name__)


@dataclass
class Deps:
    """What the listeners need, built once by the composition root."""

    db: Database
    clock: Callable[[], datetime]
    sender: SlackSender
    # every platform's sender: what staff send a member goes out on the member's platform
    senders: Mapping[str, Sender] = field(default_factory=dict)
    public_url: str | None = None  # PUBLIC_URL: where `/nippo web`'s console link points

    async def flush(self, *, everywhere: bool = False) -> None:
        """Deliver the replies and alerts this request produced without waiting for a loop;
        `everywhere`: on every platform (a message to a member on LINE), not Slack alone."""
        senders = {**self.senders, "slack": self.sender} if everywhere else {"slack": self.sender}
        try:
            await delivery.flush(self.db, senders, self.clock())
        except Exception:  # the delivery loop will pick the rows up again
            log.exception("slack flush failed")


def web_client(token: str, base_url: str, *, retries: bool = True) -> AsyncWebClient:
    """A Web API client; `retries=False` for posting, where a blind retry could double-post."""
    base = base_url if base_url.endswith("/") else base_url + "/"
    if retries:
        return AsyncWebClient(token=token, base_url=base)
    return AsyncWebClient(token=token, base_url=base, retry_handlers=[])
