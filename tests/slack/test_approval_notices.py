"""Managers hear ahead of a 在宅 approval's end, under every profile, once per member and end
date: with the day's digest tick, in the alert channel, mentioning them for real."""

from __future__ import annotations

import json
from datetime import date

from bot.services import delivery, ticks
from storage.models import Member
from tests.slack.conftest import CHANNEL, MANAGER, STAFF1, Rig
from tests.slack.test_alerts import deliver
from tests.support import jst, make_member


async def _approve(rig: Rig, mid: int, until: date, kind: str) -> None:
    async with rig.db.transaction() as session:
        m = await session.get_one(Member, mid)
        m.approval_from, m.approval_until, m.approval_kind = date(2026, 5, 1), until, kind


async def _deliver(rig: Rig) -> delivery.Flushed:
    return await deliver(rig)  # at Slack's pace: one message a second to the channel


async def test_an_approval_ending_within_30_days_is_told_to_the_managers_once(rig: Rig) -> None:
    at = rig.clock.at
    soon = await make_member(rig.db, rig.facility_id, at, "青木 葵", kana=None)
    later = await make_member(rig.db, rig.facility_id, at, "坂本 咲", kana=None)
    await _approve(rig, soon, date(2026, 7, 31), "three_months")
    await _approve(rig, later, date(2026, 8, 1), "year")  # 31 days after Jul 1: not yet

    first = await ticks.tick(rig.db, jst("2026-07-01", "16:30"))  # the digest's minute
    key = f"approval-expiring:{soon}:2026-07-31"
    assert first.approvals == [key]
    again = [await ticks.tick(rig.db, jst(day, "16:30")) for day in ("2026-07-01", "2026-07-02")]
    assert [t.approvals for t in again] == [[], [f"approval-expiring:{later}:2026-08-01"]]

    rig.clock.at = jst("2026-07-02", "16:31")
    await _deliver(rig)
    posts = [
        c
        for c in rig.fake.of("chat.postMessage")
        if "在宅利用の承認期間" in json.dumps(c.args.get("blocks"), ensure_ascii=False)
    ]
    assert [p.args["channel"] for p in posts] == [CHANNEL, CHANNEL]
    blocks = posts[0].args["blocks"]
    assert blocks[0]["text"]["text"] == f"<@{MANAGER}>"  # a real mention, managers only
    body = json.dumps(blocks, ensure_ascii=False)
    assert f"<@{STAFF1}>" not in body
    assert "青木 葵さんの在宅利用の承認期間は2026年7月31日までです(あと30日)。" in body
    assert "(3か月以内の承認は更新できません)" in body
    assert "坂本 咲さんの在宅利用の承認期間は2026年8月1日までです(あと30日)。" in json.dumps(
        posts[1].args["blocks"], ensure_ascii=False
    )

    # a new end date is a new notice; the same one is never repeated
    await _approve(rig, soon, date(2026, 7, 30), "three_months")
    third = await ticks.tick(rig.db, jst("2026-07-03", "16:30"))
    assert third.approvals == [f"approval-expiring:{soon}:2026-07-30"]
