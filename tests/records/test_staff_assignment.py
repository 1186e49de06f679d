"""担当職員: who an alert mentions, and staff of another facility cannot touch the records."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import records
from bot.services.admin import add_staff
from bot.services.records import RecordsError
from storage.db import Database
from storage.models import Facility, Member, Staff
from tests.support import jst, make_facility, make_member


async def slack_order(s: AsyncSession, member: Member) -> list[str]:
    """The order as the Slack users it pings (the mention is staff ids; Slack renders them)."""
    return [
        (await s.get_one(Staff, i)).slack_user_id or ""
        for i in await records.mention_order(s, member)
    ]


async def test_mention_order_and_facility_boundaries(db: Database, t0: datetime) -> None:
    fid = await make_facility(db, t0)
    other = await make_facility(db, t0, name="よそ")
    mid = await make_member(db, fid, t0)
    async with db.transaction() as s:
        f, g = await s.get_one(Facility, fid), await s.get_one(Facility, other)
        tanto = await add_staff(s, f, name="担当", slack_user="UA", role="staff", now=t0)
        dairi = await add_staff(s, f, name="代理", slack_user="UB", role="manager", now=t0)
        boss = await add_staff(s, f, name="管理者", slack_user="UC", role="manager", now=t0)
        outsider = await add_staff(s, g, name="よその人", slack_user="UX", role="manager", now=t0)
        member = await s.get_one(Member, mid)
        assert await slack_order(s, member) == ["UB", "UC"]  # managers only
        await records.assign_staff(s, member, tanto, dairi)
        # the substitute is also a manager: mentioned once, in the substitute's place
        assert await slack_order(s, member) == ["UA", "UB", "UC"]
        tanto.active = False
        assert await slack_order(s, member) == ["UB", "UC"]
        with pytest.raises(RecordsError, match="ほかの事業所の職員です"):
            await records.assign_staff(s, member, outsider)
        with pytest.raises(RecordsError, match="別の職員を選んでください"):
            await records.assign_staff(s, member, boss, boss)
        with pytest.raises(RecordsError, match="at this facility"):
            at = jst("2026-07-01", "10:00")
            await records.log_contact(s, mid, outsider.id, "電話", "確認", at, at)
        at = jst("2026-07-01", "23:30")
        record = await records.log_contact(s, mid, boss.id, "ビデオ", "確認", at, at)
        assert (record.channel, record.business_date.isoformat()) == ("video", "2026-07-01")
