"""Property: for random schedules, report times and tick instants (duplicated, skipped, late),
the real tick on the real database sends each reminder/alert once, never nags a member who has
reported or after the moment has passed, and escalates every missed contact."""

from __future__ import annotations

import itertools
from datetime import datetime, time, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.services import ticks
from storage.db import Database
from storage.models import Alert, OutboxMessage
from tests.support import Chat, jst, link_code, make_facility, make_member

DAY = "2026-07-01"
_names = itertools.count(1)

minutes = st.integers(min_value=0, max_value=9 * 60)  # 09:00 … 18:00


@pytest.mark.slow
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    start_hour=st.integers(min_value=9, max_value=12),
    start_minute=st.sampled_from([0, 10, 30, 45]),
    reported=st.one_of(st.none(), minutes),
    linked=st.booleans(),
    tick_minutes=st.lists(minutes, min_size=1, max_size=25),
)
async def test_each_effect_once_and_every_missed_contact_escalated(
    db: Database,
    t0: datetime,
    start_hour: int,
    start_minute: int,
    reported: int | None,
    linked: bool,
    tick_minutes: list[int],
) -> None:
    n = next(_names)
    fid = await make_facility(db, t0, name=f"事業所{n}", alert_channel=f"C{n}")
    planned = time(start_hour, start_minute)
    mid = await make_member(db, fid, t0, f"利用者{n}", start=planned, end=time(16, 0))
    chat = Chat(db)
    user = f"u{n}"
    if linked:
        code = await link_code(db, mid, t0)  # event ids unique across examples
        await chat.send(user, t0, text=code, event_id=f"link{n}")
    base = jst(DAY, "09:00")
    report_at = base + timedelta(minutes=reported) if reported is not None and linked else None
    instants = sorted(base + timedelta(minutes=m) for m in tick_minutes)
    events: list[tuple[datetime, str]] = [(t, "tick") for t in instants]
    if report_at is not None:
        events.append((report_at, "report"))
    for at, what in sorted(events, key=lambda e: (e[0], e[1] == "tick")):
        if what == "report":
            await chat.send(user, at, text="開始 体調4 睡眠7 データ入力", event_id=f"r{n}")
        else:
            await ticks.tick(db, at)

    async with db.transaction() as session:
        out = (
            await session.scalars(select(OutboxMessage).where(OutboxMessage.member_id == mid))
        ).all()
        alerts = (await session.scalars(select(Alert).where(Alert.member_id == mid))).all()
    keys = [o.key for o in out]
    assert len(keys) == len(set(keys))
    start = jst(DAY, planned.strftime("%H:%M"))
    reminders = [o for o in out if o.key.startswith("remind:start:")]
    assert len(reminders) <= 2
    for o in reminders:
        step = int(o.key.rsplit(":", 1)[1])
        due = start + timedelta(minutes=0 if step == 1 else 15)
        assert due <= o.created_at <= due + timedelta(minutes=45)  # never stale
        assert report_at is None or o.created_at < report_at  # never after the report
        assert linked
    missed = report_at is None or report_at > start + timedelta(minutes=30)
    ticked_after = [t for t in instants if t >= start + timedelta(minutes=30)]
    staff = [a for a in alerts if a.key.endswith(":staff") and a.kind == "missed_start"]
    if missed and ticked_after and (report_at is None or ticked_after[0] < report_at):
        assert len(staff) == 1
        assert staff[0].opened_at == ticked_after[0]
    if not missed:
        assert staff == []
    if staff and report_at is not None and any(t >= report_at for t in instants):
        assert staff[0].state == "resolved"
        assert sum(1 for k in keys if k.startswith("resolve:missed-start:")) == 1
