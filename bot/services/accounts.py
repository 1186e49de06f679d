"""Use cases for the platform accounts linked to a member (issue #23).

- One account per platform: when an account links to a member, the member's other accounts
  on that platform are cut off (their next message gets only the linking prompt) and staff
  are told in the alert channel.
- Staff list and unlink accounts (`nippo member accounts|unlink`, `/nippo accounts|unlink`).
- Wrong link codes are limited across the whole installation: an account nobody knows yet
  belongs to no facility, so the limit cannot be per facility. Past `LINK_FAILURES_PER_HOUR`
  wrong codes within an hour no code is checked (not even a right one) until the count within
  the last hour is below the limit again, and the managers of every facility with an alert
  channel are told once per hour.

An unlinked account keeps its row (raw events and outbox rows still name it): `member_id` is
cleared and `unlinked_at`/`unlinked_reason`/`unlinked_member_id` say when, why and whose it
was; every link and unlink also leaves an audit_log row. Nothing here commits or sends.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import payloads, texts
from bot.services.admin import AdminError, audit
from bot.services.platforms import STAFF_PLATFORM
from storage import repo
from storage.models import Facility, Identity, LinkFailure, Member, OutboxMessage

log = logging.getLogger(__name__)

FAILURE_WINDOW = timedelta(hours=1)
PLATFORMS = ("line", "slack")
REPLACED, BY_STAFF = "replaced", "staff"


# --- linking: one account per platform ------------------------------------------------------


async def linked(
    session: AsyncSession,
    identity: Identity,
    member: Member,
    now: datetime,
    *,
    code_id: int,
) -> list[Identity]:
    """`identity` has just been linked to `member` with link code `code_id`: cut off the
    member's other accounts on the same platform and tell staff. The accounts cut off."""
    identity.unlinked_at = identity.unlinked_reason = identity.unlinked_member_id = None
    await audit(
        session,
        actor=f"identity:{identity.id}",
        action="account.link",
        target=f"identity:{identity.id}",
        now=now,
        member_id=member.id,
        platform=identity.platform,
        link_code_id=code_id,
    )
    stmt = select(Identity).where(
        Identity.member_id == member.id,
        Identity.platform == identity.platform,
        Identity.id != identity.id,
    )
    others = list((await session.execute(stmt.order_by(Identity.id))).scalars())
    for other in others:
        await _unlink(session, other, now, reason=REPLACED, actor="system", by=identity.id)
    if others:
        facility = await session.get_one(Facility, member.facility_id)
        text = texts.STAFF_ACCOUNT_REPLACED.format(
            member=member.name, platform=platform_label(identity.platform), count=len(others)
        )
        await repo.enqueue(
            session,
            key=f"account_replaced:code:{code_id}",
            platform=STAFF_PLATFORM,
            recipient=facility.alert_channel or "",
            payload=payloads.AccountReplaced(
                member_id=member.id,
                facility_id=facility.id,
                identity_id=identity.id,
                replaced=tuple(o.id for o in others),
                text=text,
            ),
            member_id=member.id,
            now=now,
        )
        log.warning(
            "account replaced",
            extra={
                "member_id": member.id,
                "identity_id": identity.id,
                "replaced": [o.id for o in others],
            },
        )
    return others


async def _unlink(
    session: AsyncSession,
    identity: Identity,
    now: datetime,
    *,
    reason: str,
    actor: str,
    by: int | None = None,
) -> None:
    """Cut one account off its member; what still waits to be sent to it is not sent."""
    member_id = identity.member_id
    identity.member_id = None
    identity.unlinked_at, identity.unlinked_reason = now, reason
    identity.unlinked_member_id = member_id
    await repo.write_later(session)  # replies still collected are cancelled with the rest
    cancelled = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.platform == identity.platform,
            OutboxMessage.recipient == identity.platform_user_id,
            OutboxMessage.status == "pending",
        )
        .values(status="cancelled", last_error="not sent: the account was unlinked")
    )
    detail: dict[str, object] = {
        "member_id": member_id,
        "platform": identity.platform,
        "reason": reason,
        "cancelled_outbox": int(getattr(cancelled, "rowcount", 0) or 0),
    }
    if by is not None:
        detail["replaced_by_identity"] = by
    await audit(
        session,
        actor=actor,
        action="account.unlink",
        target=f"identity:{identity.id}",
        now=now,
        **detail,
    )
    log.info(
        "account unlinked",
        extra={"identity_id": identity.id, "member_id": member_id, "reason": reason},
    )


# --- staff: list and unlink -----------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    id: int
    platform: str
    linked: bool  # linked to the member now (False: cut off earlier)
    following: bool  # the account has not blocked the bot
    linked_at: datetime | None
    last_seen_at: datetime | None
    unlinked_at: datetime | None
    unlinked_reason: str | None


async def accounts_of(session: AsyncSession, member: Member) -> list[Account]:
    """The member's accounts, linked ones first, then those cut off earlier."""
    stmt = select(Identity).where(
        or_(Identity.member_id == member.id, Identity.unlinked_member_id == member.id)
    )
    rows = (await session.execute(stmt.order_by(Identity.id))).scalars().all()
    out = [
        Account(
            id=r.id,
            platform=r.platform,
            linked=r.member_id == member.id,
            following=r.active,
            linked_at=r.linked_at,
            last_seen_at=r.last_seen_at,
            unlinked_at=r.unlinked_at if r.member_id != member.id else None,
            unlinked_reason=r.unlinked_reason if r.member_id != member.id else None,
        )
        for r in rows
    ]
    return sorted(out, key=lambda a: (not a.linked, a.id))


class UnlinkWhich(AdminError):
    """Several accounts are linked and the operator did not say which to unlink."""

    def __init__(self, platforms: Sequence[str]) -> None:
        self.platforms = list(platforms)
        super().__init__(
            f"linked on several platforms ({', '.join(self.platforms)}): "
            "say which with --platform line|slack, or --all"
        )


async def unlink(
    session: AsyncSession,
    member: Member,
    now: datetime,
    *,
    actor: str,
    platform: str | None = None,
    all_: bool = False,
) -> list[Identity]:
    """Staff cut the member's accounts off: those on `platform`, or all with `all_`; with
    neither, the member's only linked platform (several: UnlinkWhich). The accounts cut off
    (empty when there was nothing to unlink)."""
    if platform is not None and platform not in PLATFORMS:
        raise AdminError(f"--platform is {' or '.join(PLATFORMS)}, not {platform!r}")
    stmt = select(Identity).where(Identity.member_id == member.id)
    current = list((await session.execute(stmt.order_by(Identity.id))).scalars())
    if platform is not None:
        current = [i for i in current if i.platform == platform]
    elif not all_:
        platforms = sorted({i.platform for i in current})
        if len(platforms) > 1:
            raise UnlinkWhich(platforms)
    for identity in current:
        await _unlink(session, identity, now, reason=BY_STAFF, actor=actor)
    return current


def platform_label(platform: str) -> str:
    return texts.PLATFORM_LABELS.get(platform, platform)


def describe(accounts: Sequence[Account], tz: str) -> list[str]:
    """Lines for the operator: id, platform, state, linked since, last message (local time)."""
    zone = ZoneInfo(tz)

    def at(value: datetime | None) -> str:
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else "-"

    lines = []
    for a in accounts:
        if a.linked:
            state = "linked" if a.following else "linked (blocked the bot)"
        else:
            state = f"unlinked {at(a.unlinked_at)} ({a.unlinked_reason or '-'})"
        lines.append(
            f"{a.id}\t{a.platform}\t{state}\tlinked since {at(a.linked_at)}"
            f"\tlast message {at(a.last_seen_at)}"
        )
    return lines


# --- the installation-wide limit on wrong link codes ----------------------------------------


@dataclass
class _Limits:
    failures_per_hour: int = 20  # LINK_FAILURES_PER_HOUR; see `configure`


LIMITS = _Limits()


def configure(*, failures_per_hour: int) -> None:
    """Set the installation-wide limit from the settings (the composition root calls it)."""
    LIMITS.failures_per_hour = max(1, failures_per_hour)


def failures_per_hour() -> int:
    return LIMITS.failures_per_hour


async def _recent_failures(session: AsyncSession, now: datetime) -> int:
    stmt = (
        select(func.count()).select_from(LinkFailure).where(LinkFailure.at > now - FAILURE_WINDOW)
    )
    return int((await session.execute(stmt)).scalar_one())


async def linking_paused(session: AsyncSession, now: datetime) -> bool:
    """Too many wrong codes within the last hour: no code is checked now."""
    return await _recent_failures(session, now) >= failures_per_hour()


async def record_failure(session: AsyncSession, identity: Identity, now: datetime) -> bool:
    """Count one wrong code; True when it reaches the limit (managers are told, once an hour)."""
    session.add(LinkFailure(at=now, identity_id=identity.id))
    await session.flush()
    count, limit = await _recent_failures(session, now), failures_per_hour()
    if count < limit:
        return False
    oldest = (
        await session.execute(
            select(LinkFailure.at)
            .where(LinkFailure.at > now - FAILURE_WINDOW)
            .order_by(LinkFailure.at)
            .offset(count - limit)
            .limit(1)
        )
    ).scalar_one()
    log.warning("link failure limit reached", extra={"count": count, "limit": limit})
    await _tell_managers(session, count, oldest + FAILURE_WINDOW, now)
    return True


async def _tell_managers(session: AsyncSession, count: int, until: datetime, now: datetime) -> None:
    """One notice per manager (or the alert channel when it has none) of every facility with
    an alert channel, once per clock hour."""
    window = now.strftime("%Y-%m-%dT%H")
    stmt = select(Facility).where(Facility.alert_channel.is_not(None)).order_by(Facility.id)
    for facility in (await session.execute(stmt)).scalars():
        managers = await repo.managers(session, facility.id, on_slack=True)
        targets = [(f"staff:{m.id}", m.slack_user_id or "") for m in managers] or [
            (f"facility:{facility.id}", facility.alert_channel or "")
        ]
        local = until.astimezone(ZoneInfo(facility.tz)).strftime("%H:%M")
        for who, recipient in targets:
            await repo.enqueue(
                session,
                key=f"link_paused:{window}:{who}",
                platform=STAFF_PLATFORM,
                recipient=recipient,
                payload=payloads.LinkPaused(
                    facility.id, count, texts.STAFF_LINK_PAUSED.format(count=count, until=local)
                ),
                now=now,
            )
