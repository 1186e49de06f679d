"""A photo from a member whose consent does not cover keeping evidence is not downloaded nor
kept; the member is thanked and told why, and the 支援記録 notes that a photo came.

日立市 (domain/003 (1)): records 「(音声データ、動画ファイル、静止画像等を含む)をセキュリティを
施した状態で保存すること」, and before handing them over 「あらかじめ利用者の同意を得る手続きを
行った上で」.
Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select

from bot.core import texts
from bot.services import consent
from storage.models import Attachment, DailyReport, Facility, Member, Staff, SupportRecord
from tests.line.conftest import Line, event
from tests.line.test_checkin_over_line import DAY, U, last_body, texts_of
from tests.support import jst, link_code, make_facility, make_member

PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


async def member_without_evidence_consent(line: Line, t0: datetime, covers: tuple[str, ...]) -> int:
    fid = await make_facility(line.db, t0)
    mid = await make_member(line.db, fid, t0, consent=covers)
    code = await link_code(line.db, mid, t0)
    at = jst(DAY, "09:00")
    await line.send(event("06_follow", at, user=U), at=at)
    await line.send(event("00_message_text", at, user=U, message={"text": code}), at=at)
    return mid


async def send_photo(line: Line, message_id: str, at: datetime) -> list[str]:
    line.fake.content[message_id] = (PHOTO, "image/png")
    ev = event("24_message_image", at, user=U, message={"id": message_id, "type": "image"})
    await line.send(ev, at=at)
    return texts_of(last_body(line))


def downloads(line: Line) -> list[str]:
    return [r.path for r in line.fake.requests if "content" in r.path]


async def test_no_consent_to_evidence_the_photo_is_not_kept_and_the_member_is_told(
    line: Line, t0: datetime
) -> None:
    mid = await member_without_evidence_consent(line, t0, ("records", "slack"))
    assert await send_photo(line, "p-1", jst(DAY, "14:30")) == [texts.PHOTO_NOT_KEPT_NO_CONSENT]
    assert downloads(line) == []  # not even fetched from LINE
    async with line.db.transaction() as s:
        assert (await s.execute(select(Attachment))).first() is None
        assert (await s.execute(select(DailyReport))).first() is None  # a photo is no check-in
        (note,) = (await s.execute(select(SupportRecord))).scalars().all()
    assert (note.member_id, note.kind, note.channel) == (mid, "evidence_not_kept", "line")
    assert note.content == texts.EVIDENCE_NOT_KEPT_NOTE
    assert note.at == jst(DAY, "14:30") and note.business_date == date(2026, 7, 1)
    assert note.entered_by == f"member:{mid}"


async def test_consent_given_later_keeps_photos_and_a_withdrawal_stops_it(
    line: Line, t0: datetime
) -> None:
    mid = await member_without_evidence_consent(line, t0, ())
    assert await send_photo(line, "p-1", jst(DAY, "11:00")) == [texts.PHOTO_NOT_KEPT_NO_CONSENT]

    async with line.db.transaction() as s:
        m = await s.get_one(Member, mid)
        f = await s.get_one(Facility, m.facility_id)
        staff = Staff(facility_id=f.id, name="鈴木", role="staff", slack_user_id="U1",
                      active=True, created_at=t0)  # fmt: skip
        s.add(staff)
        await s.flush()
        covers = frozenset({"records", "evidence"})
        await consent.record(s, f, m, covers=covers, given_on=date(2026, 7, 1), staff=staff,
                             now=jst(DAY, "12:00"))  # fmt: skip
    assert await send_photo(line, "p-2", jst(DAY, "14:30")) == [texts.PHOTO_SAVED]
    assert downloads(line) == ["/v2/bot/message/p-2/content"]

    async with line.db.transaction() as s:
        m = await s.get_one(Member, mid)
        f = await s.get_one(Facility, m.facility_id)
        staff = (await s.execute(select(Staff))).scalar_one()
        await consent.withdraw(s, f, m, covers=frozenset({"evidence"}), on=date(2026, 7, 1),
                               staff=staff, now=jst(DAY, "15:00"))  # fmt: skip
    later = jst(DAY, "15:10") + timedelta(seconds=1)
    assert await send_photo(line, "p-3", later) == [texts.PHOTO_NOT_KEPT_NO_CONSENT]
    async with line.db.transaction() as s:
        (kept,) = (await s.execute(select(Attachment))).scalars().all()
        notes = (await s.execute(select(SupportRecord.kind))).scalars().all()
    assert kept.platform_message_id == "p-2" and kept.data == PHOTO
    assert list(notes).count("evidence_not_kept") == 2
    assert downloads(line) == ["/v2/bot/message/p-2/content"]
