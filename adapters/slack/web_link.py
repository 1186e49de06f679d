"""`/nippo web`: a one-time sign-in link to the staff console, for the asker's eyes only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adapters.slack.answer import Answer, _say
from bot.core import texts
from bot.services import console_auth
from bot.services.console_auth import ConsoleAuthError
from storage.models import Staff


async def answer(
    session: AsyncSession, staff: Staff, now: datetime, public_url: str | None
) -> Answer:
    """Ephemeral like every answer that is not shared; without PUBLIC_URL there is no address
    a phone could open, so staff are told to ask for it to be set."""
    if not public_url:
        return _say(texts.SLACK_CONSOLE_NO_URL)
    try:
        url = await console_auth.issue_link(
            session, staff, now, issued_by=f"staff:{staff.id}", base_url=public_url
        )
    except ConsoleAuthError as exc:
        return _say(str(exc))
    return _say(texts.SLACK_CONSOLE_LINK.format(url=url))
