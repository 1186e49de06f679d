"""A member's whole day over LINE: follow, link, morning and evening check-in by buttons,
photos of the outputs, and a button from yesterday. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from adapters.line.render import MAX_LABEL, MAX_QUICK_REPLIES, encode_postback
from bot.core import texts
from storage.models import Attachment, DailyReport, Identity, ReportRevision
from tests.line.conftest import Line, event
from tests.line.schema import check_body
from tests.support import jst, link_code, make_facility, make_member

DAY = "2026-07-01"
U = "Uyamada0000000000000000000000001"


def last_body(line: Line) -> dict[str, Any]:
    sent = [r for r in line.fake.requests if r.path.startswith("/v2/bot/message/") and r.body]
    body: dict[str, Any] = sent[-1].body
    return body


def buttons(body: dict[str, Any]) -> dict[str, str]:
    """Label → postback data of the quick replies on the last message."""
    items = body["messages"][-1].get("quickReply", {}).get("items", [])
    assert len(items) <= MAX_QUICK_REPLIES
    out = {}
    for item in items:
        action = item["action"]
        assert action["type"] == "postback" and len(action["label"]) <= MAX_LABEL
        assert action["displayText"] == action["label"]  # the member sees what they tapped
        out[action["label"]] = action["data"]
    return out


async def say(line: Line, text: str, at: datetime) -> dict[str, Any]:
    await line.send(event("00_message_text", at, user=U, message={"text": text}), at=at)
    return last_body(line)


async def tap(line: Line, label: str, at: datetime) -> dict[str, Any]:
    data = buttons(last_body(line))[label]
    await line.send(event("10_postback", at, user=U, postback={"data": data}), at=at)
    return last_body(line)


def texts_of(body: dict[str, Any]) -> list[str]:
    return [m["text"] for m in body["messages"] if m["type"] == "text"]


async def report(line: Line) -> DailyReport:
    async with line.db.transaction() as s:
        return (await s.execute(select(DailyReport))).scalar_one()


async def linked_member(line: Line, t0: datetime) -> int:
    fid = await make_facility(line.db, t0)
    mid = await make_member(line.db, fid, t0)
    code = await link_code(line.db, mid, t0)
    at = jst(DAY, "09:00")
    await line.send(event("06_follow", at, user=U), at=at)
    assert texts_of(last_body(line)) == [texts.LINK_PROMPT]
    body = await say(line, code, at + timedelta(seconds=20))
    assert texts_of(body) == [texts.LINK_DONE.format(name="山田 太郎")]
    assert buttons(body)["開始します"] == encode_postback("start", jst(DAY, "12:00").date())
    return mid


async def test_a_whole_day_over_line(line: Line, t0: datetime) -> None:
    await linked_member(line, t0)

    await tap(line, "開始します", jst(DAY, "10:02"))
    await tap(line, "🙂 4 良い", jst(DAY, "10:02:20"))
    await tap(line, "7時間", jst(DAY, "10:02:40"))
    morning = await tap(line, "データ入力", jst(DAY, "10:03"))
    flex = morning["messages"][-1]
    assert flex["type"] == "flex" and flex["contents"]["type"] == "bubble"
    assert flex["altText"].startswith("7/1 の記録\n開始時刻: 10:02")
    assert "体調(朝): 4 良い" in flex["altText"] and "作業予定: データ入力" in flex["altText"]

    assert set(buttons(morning)) == {"修正する", "相談したい"}
    await say(line, "終了します", jst(DAY, "15:01"))  # typed: free text always works
    await tap(line, "予定どおり: データ入力", jst(DAY, "15:01:20"))
    await say(line, "入力120件", jst(DAY, "15:01:40"))
    await tap(line, "😐 3 ふつう", jst(DAY, "15:02"))
    evening = await tap(line, "なし", jst(DAY, "15:02:20"))
    flex = evening["messages"][-1]
    assert flex["type"] == "flex"
    assert flex["altText"].startswith(
        "7/1 の記録\n開始時刻: 10:02\n終了時刻: 15:01\n作業時間: 4時間59分"
    )
    assert "成果: 入力120件" in flex["altText"]

    r = await report(line)
    assert r.status == "ended"
    # Report times are the events' own timestamps, in the facility's zone.
    assert r.start_at == jst(DAY, "10:02") and r.end_at == jst(DAY, "15:01")
    assert (r.health_start, r.sleep_hours, r.planned_work) == (4, 7.0, "データ入力")
    assert (r.work_done, r.outputs, r.health_end) == ("データ入力", "入力120件", 3)

    # Every answer went out as a free reply, never a paid push, and matches LINE's schema.
    assert line.fake.calls("/v2/bot/message/push") == []
    replies = line.fake.calls("/v2/bot/message/reply")
    assert len(replies) == 11  # follow, link, 4 in the morning, 5 in the evening
    for r_ in replies:
        check_body(r_.body, r_.path)
        assert r_.headers["authorization"] == "Bearer test-access-token"


async def test_late_delivery_pushes_with_the_retry_key(line: Line, t0: datetime) -> None:
    """When the reply token has gone stale before we could answer, the answer is pushed; the
    report keeps the time the member wrote, not the time it was handled."""
    await linked_member(line, t0)
    at = jst(DAY, "09:58:30")
    line.clock.at = at + timedelta(minutes=3)  # processed three minutes late
    text = "開始 体調4 睡眠7 データ入力"
    await line.send(event("00_message_text", at, user=U, message={"text": text}))
    push = line.fake.calls("/v2/bot/message/push")
    assert len(push) == 1 and push[0].body["to"] == U
    assert push[0].body["messages"][-1]["altText"].startswith("7/1 の記録\n開始時刻: 09:58")
    assert push[0].headers["x-line-retry-key"]
    check_body(push[0].body, push[0].path)
    r = await report(line)
    assert r.start_at == at and r.status == "started"


async def test_a_button_from_yesterday_is_not_applied_today(line: Line, t0: datetime) -> None:
    await linked_member(line, t0)
    yesterday_start = encode_postback("start", jst("2026-06-30", "12:00").date())
    at = jst(DAY, "10:00")
    await line.send(event("10_postback", at, user=U, postback={"data": yesterday_start}), at=at)
    body = last_body(line)
    assert texts_of(body) == [texts.STALE_BUTTON]
    assert buttons(body)["開始します"] == encode_postback("start", jst(DAY, "12:00").date())
    async with line.db.transaction() as s:
        assert (await s.execute(select(DailyReport))).first() is None
        assert (await s.execute(select(ReportRevision))).first() is None
    # An unreadable (old-format) button is answered the same way.
    await line.send(event("10_postback", at, user=U, postback={"data": "action=start"}))
    assert texts_of(last_body(line)) == [texts.STALE_BUTTON]


async def test_photo_of_outputs_is_downloaded_and_kept(line: Line, t0: datetime) -> None:
    await linked_member(line, t0)
    photo = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
    line.fake.content["468789577898262530"] = (photo, "image/png")
    at = jst(DAY, "14:30")
    ev = event(
        "24_message_image",
        at,
        user=U,
        message={"id": "468789577898262530", "type": "image"},
    )
    await line.send(ev, at=at)
    assert texts_of(last_body(line)) == [texts.PHOTO_SAVED]
    async with line.db.transaction() as s:
        att = (await s.execute(select(Attachment))).scalar_one()
        rep = (await s.execute(select(DailyReport))).scalar_one()
    assert att.report_id == rep.id and rep.business_date.isoformat() == DAY
    assert att.sha256 == hashlib.sha256(photo).hexdigest() and att.data == photo
    assert att.content_type == "image/png" and att.at == at
    assert [r.path for r in line.fake.requests if "content" in r.path] == [
        "/v2/bot/message/468789577898262530/content"
    ]

    # A file LINE no longer has: the member is told, nothing half-stored.
    ev = event("21_message_file", at, user=U, message={"id": "gone-1"})
    await line.send(ev)
    assert texts_of(last_body(line)) == [texts.PHOTO_FAILED]
    async with line.db.transaction() as s:
        assert len((await s.execute(select(Attachment))).all()) == 1


async def test_sticker_unsupported_and_unfollow(line: Line, t0: datetime) -> None:
    await linked_member(line, t0)
    at = jst(DAY, "11:00")
    await line.send(event("05_message_sticker", at, user=U), at=at)
    assert texts_of(last_body(line)) == [texts.STICKER]
    assert "開始します" in buttons(last_body(line))
    await line.send(event("04_message_location", at, user=U))
    assert texts_of(last_body(line)) == [texts.UNSUPPORTED]

    await line.send(event("07_unfollow", at, user=U))
    async with line.db.transaction() as s:
        ident = (await s.execute(select(Identity).where(Identity.platform == "line"))).scalar_one()
    assert ident.active is False
    # Coming back resumes the linked account with a welcome, not the linking prompt ...
    back = at + timedelta(hours=1)
    await line.send(event("06_follow", back, user=U), at=back)
    assert texts_of(last_body(line)) == [texts.WELCOME_BACK.format(name="山田 太郎")]
    async with line.db.transaction() as s:
        ident = (await s.execute(select(Identity).where(Identity.platform == "line"))).scalar_one()
    assert ident.active is True
    # ... and pushes reach the member again (an answer whose reply token went stale).
    line.clock.at = back + timedelta(minutes=5)
    await line.send(event("00_message_text", back, user=U, message={"text": "ヘルプ"}))
    push = line.fake.calls("/v2/bot/message/push")
    assert len(push) == 1 and texts_of(push[0].body) == [texts.HELP]


async def test_a_strangers_photo_is_never_downloaded(line: Line, t0: datetime) -> None:
    line.fake.content["999"] = (b"secret", "image/jpeg")
    at = jst(DAY, "14:30")
    ev = event("24_message_image", at, user="Ustranger", message={"id": "999"})
    await line.send(ev, at=at)
    assert texts_of(last_body(line)) == [texts.LINK_PROMPT]
    assert not [r for r in line.fake.requests if "content" in r.path]
    async with line.db.transaction() as s:
        assert (await s.execute(select(Attachment))).first() is None


async def test_a_file_is_kept_with_its_name_and_what_cannot_be_kept_is_said(
    line: Line, t0: datetime
) -> None:
    await linked_member(line, t0)
    at = jst(DAY, "14:30")
    data = b"%PDF-1.4 outputs of the day\n" * 100
    line.fake.content["f-1"] = (data, "application/pdf")
    msg = {"id": "f-1", "fileName": "作業記録.pdf", "fileSize": len(data)}
    await line.send(event("21_message_file", at, user=U, message=msg), at=at)
    assert texts_of(last_body(line)) == [texts.PHOTO_SAVED]

    # Over 20 MB (LINE says so in the event): answered without downloading it.
    line.fake.content["f-2"] = (b"big", "application/zip")
    big = {"id": "f-2", "fileName": "video.zip", "fileSize": 21 * 1024 * 1024}
    await line.send(event("21_message_file", at, user=U, message=big))
    assert texts_of(last_body(line)) == [texts.PHOTO_TOO_LARGE]
    # An image hosted elsewhere: LINE has no content to give.
    external = {
        "id": "e-1",
        "contentProvider": {"type": "external", "originalContentUrl": "https://example.com/a.jpg"},
    }
    await line.send(event("24_message_image", at, user=U, message=external))
    assert texts_of(last_body(line)) == [texts.PHOTO_FAILED]

    assert [r.path for r in line.fake.requests if "content" in r.path] == [
        "/v2/bot/message/f-1/content"
    ]
    async with line.db.transaction() as s:
        att = (await s.execute(select(Attachment))).scalar_one()
    assert (att.filename, att.content_type, att.data) == ("作業記録.pdf", "application/pdf", data)
