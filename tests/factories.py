"""Shared row factories for tests: facilities, members, staff and platform identities.

Built through the admin use cases where one exists (so a test's rows are the rows staff
would make); an identity is a plain row, linked as if its owner had sent staff's code.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time
from typing import Any

from bot.core.domain import DayMode
from bot.services import admin
from bot.services.admin import ScheduleSpec
from storage.db import Database
from storage.models import Consent, Facility, Identity


async def make_facility(db: Database, now: datetime, **kw: Any) -> int:
    async with db.transaction() as session:
        f = await admin.init_facility(session, name=kw.pop("name", "テスト事業所"), now=now, **kw)
        return f.id


async def make_member(
    db: Database,
    facility_id: int,
    now: datetime,
    name: str = "山田 太郎",
    *,
    kana: str | None = "やまだ たろう",
    tasks: tuple[str, ...] = ("データ入力", "封入作業"),
    start: time = time(10, 0),
    end: time = time(15, 0),
    consent: tuple[str, ...] = ("records", "evidence", "slack"),
) -> int:
    """A member with a weekday 在宅 schedule who has given consent (同意書) to `consent`
    (bot/services/consent.py; pass () for a member without one)."""
    async with db.transaction() as session:
        facility = await session.get_one(Facility, facility_id)
        m = await admin.add_member(
            session, facility, name=name, kana=kana, usual_tasks=tasks, now=now
        )
        spec = ScheduleSpec((0, 1, 2, 3, 4), DayMode.ZAITAKU, start, end)
        await admin.set_schedule(session, m, spec)
        if consent:
            session.add(
                Consent(member_id=m.id, covers=list(consent), given_on=now.date().replace(day=1),
                        entered_at=now, entered_by="test")
            )  # fmt: skip
        return m.id


async def make_staff(
    db: Database,
    facility_id: int,
    now: datetime,
    name: str = "佐藤 花子",
    *,
    slack_user: str = "U_STAFF1",
    role: str = "staff",
) -> int:
    async with db.transaction() as session:
        facility = await session.get_one(Facility, facility_id)
        staff = await admin.add_staff(
            session, facility, name=name, slack_user=slack_user, role=role, now=now
        )
        return staff.id


def identity(
    user: str,
    at: datetime,
    *,
    platform: str = "line",
    member_id: int | None = None,
    staff_id: int | None = None,
    active: bool = True,
) -> Identity:
    """A platform account's row: linked (at `at`) to the member or staff member given, if any."""
    linked = member_id is not None or staff_id is not None
    return Identity(
        platform=platform,
        platform_user_id=user,
        member_id=member_id,
        staff_id=staff_id,
        active=active,
        link_failures=0,
        created_at=at,
        linked_at=at if linked else None,
    )


async def link_accounts(
    db: Database,
    now: datetime,
    pairs: Iterable[tuple[int, str]],
    *,
    platform: str = "line",
    active: bool = True,
) -> None:
    """Link each (member id, platform user id) as if the member had sent staff's code."""
    async with db.transaction() as s:
        for mid, user in pairs:
            s.add(identity(user, now, platform=platform, member_id=mid, active=active))
