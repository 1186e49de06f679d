"""Signing in to the staff console without passwords (docs/console.md).

A staff member asks for a one-time link (`nippo staff login-link`, `/nippo web`); it is valid
for ten minutes and once only, and at most `LINKS_PER_HOUR` are made per staff member an hour.
Opening it starts a browser session that ends after a while without use, at sign-out, after
`SESSION_AT_MOST` in any case, or as soon as the staff member is removed. Only SHA-256 hashes
of the link and session tokens are stored: a copy of the database opens nothing. Nothing here
commits; the cookie, its signature and the CSRF tokens are the web adapter's.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import texts
from bot.services.admin import AdminError, audit
from storage.models import ConsoleLoginLink, ConsoleSession, Staff

LINK_TTL = timedelta(minutes=10)
LINKS_PER_HOUR = 5
SESSION_AT_MOST = timedelta(hours=12)  # a whole working day, idle or not
LOGIN_PATH = "/console/login/"
LOCAL_URL = "http://127.0.0.1:8000"  # `nippo serve`'s own address when PUBLIC_URL is not set


class ConsoleAuthError(AdminError):
    """A link that cannot be made as asked; the message says why, kindly."""


class Refusal(StrEnum):
    """Why a sign-in link opens nothing (the keys of texts.CONSOLE_LINK_REFUSED)."""

    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"
    INACTIVE = "inactive"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def login_url(base_url: str | None, token: str) -> str:
    return (base_url or LOCAL_URL).rstrip("/") + LOGIN_PATH + token


async def issue_link(
    session: AsyncSession, staff: Staff, now: datetime, *, issued_by: str, base_url: str | None
) -> str:
    """A new one-time sign-in link for `staff`, as a URL under `base_url`."""
    if not staff.active:
        raise ConsoleAuthError(texts.CONSOLE_LINK_STAFF_INACTIVE)
    recent = (
        await session.execute(
            select(func.count())
            .select_from(ConsoleLoginLink)
            .where(
                ConsoleLoginLink.staff_id == staff.id,
                ConsoleLoginLink.created_at > now - timedelta(hours=1),
            )
        )
    ).scalar_one()
    if recent >= LINKS_PER_HOUR:
        raise ConsoleAuthError(texts.CONSOLE_LINK_TOO_MANY)
    token = secrets.token_urlsafe(32)
    link = ConsoleLoginLink(
        staff_id=staff.id,
        token_hash=token_hash(token),
        created_at=now,
        expires_at=now + LINK_TTL,
        issued_by=issued_by,
    )
    session.add(link)
    await session.flush()
    await audit(
        session, actor=issued_by, action="console.link", target=f"staff:{staff.id}", now=now
    )
    return login_url(base_url, token)


async def _link(session: AsyncSession, token: str) -> ConsoleLoginLink | None:
    stmt = select(ConsoleLoginLink).where(ConsoleLoginLink.token_hash == token_hash(token))
    return (await session.execute(stmt)).scalar_one_or_none()


async def check_link(session: AsyncSession, token: str, now: datetime) -> Staff | Refusal:
    """Whom an unused link would sign in, or why it would not (nothing is changed)."""
    return await _check(session, await _link(session, token), now)


async def _check(
    session: AsyncSession, link: ConsoleLoginLink | None, now: datetime
) -> Staff | Refusal:
    if link is None:
        return Refusal.UNKNOWN
    if link.used_at is not None:
        return Refusal.USED
    if link.expires_at <= now:
        return Refusal.EXPIRED
    staff = await session.get(Staff, link.staff_id)
    if staff is None or not staff.active:
        return Refusal.INACTIVE
    return staff


async def redeem(session: AsyncSession, token: str, now: datetime) -> tuple[Staff, str] | Refusal:
    """Use the link (once: a conditional UPDATE, so two tabs cannot both win) and start a
    session: the staff member and the session token for the cookie, or why not."""
    link = await _link(session, token)
    found = await _check(session, link, now)
    if isinstance(found, Refusal) or link is None:
        refusal = found if isinstance(found, Refusal) else Refusal.UNKNOWN
        target = f"console_login_link:{link.id}" if link is not None else "console_login_link:?"
        await audit(
            session, actor="console", action="console.login_refused", target=target, now=now,
            reason=refusal.value,
        )  # fmt: skip
        return refusal
    used = await session.execute(
        update(ConsoleLoginLink)
        .where(ConsoleLoginLink.id == link.id, ConsoleLoginLink.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        return Refusal.USED
    session_token = secrets.token_urlsafe(32)
    session.add(
        ConsoleSession(
            staff_id=found.id, token_hash=token_hash(session_token), created_at=now,
            last_seen_at=now,
        )
    )  # fmt: skip
    await session.flush()
    await audit(
        session, actor=f"staff:{found.id}", action="console.login", target=f"staff:{found.id}",
        now=now, link=link.id,
    )  # fmt: skip
    return found, session_token


async def signed_in(
    session: AsyncSession, token: str, now: datetime, *, idle: timedelta
) -> Staff | None:
    """The staff member a session token belongs to, its last use moved to `now`; None when
    the session is unknown, ended, idle past `idle`, older than `SESSION_AT_MOST` or its staff
    member was removed (a stale session is ended here)."""
    stmt = select(ConsoleSession).where(ConsoleSession.token_hash == token_hash(token))
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None or row.ended_at is not None:
        return None
    staff = await session.get(Staff, row.staff_id)
    if (
        staff is None
        or not staff.active
        or now - row.last_seen_at > idle
        or now - row.created_at > SESSION_AT_MOST
    ):
        row.ended_at = now
        return None
    row.last_seen_at = now
    return staff


async def sign_out(session: AsyncSession, token: str, now: datetime) -> None:
    await session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.token_hash == token_hash(token), ConsoleSession.ended_at.is_(None))
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )
