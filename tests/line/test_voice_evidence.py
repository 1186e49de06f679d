"""Voice and video as evidence, and the end report without typing (issue #21), end to end:
signed LINE webhooks into the real app with LINE and Slack on; what the member, LINE's API,
Slack's API and the database received.

A voice or video message is downloaded at once (LINE deletes content) with LINE's loading
animation shown meanwhile, kept with its bytes, media type and SHA-256 on the day's 日報,
thanked for, and uploaded to the facility's alert channel when the member's consent covers
Slack (otherwise staff get a line saying what came and where to find it; without consent to
keep evidence nothing is kept or posted). A voice message sent for 成果 stands as the 成果.

日立市 (domain/003 (1)): records 「(音声データ、動画ファイル、静止画像等を含む)をセキュリティを
施した状態で保存すること」, and before handing them over 「あらかじめ利用者の同意を得る手続きを
行った上で」. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from adapters.line.render import encode_postback
from bot.core import texts
from bot.core.domain import MediaKind
from storage.models import Attachment, DailyReport, Facility, OutboxMessage, SupportRecord
from tests.line.conftest import LOADING, event
from tests.line.fake_api import FakeLine, Scripted
from tests.line.schema import check_body
from tests.line.test_checkin_over_line import buttons
from tests.safety.test_linking import Both
from tests.safety.test_linking import both as both  # the app with LINE and Slack on
from tests.slack.conftest import CHANNEL
from tests.support import jst, link_code, make_member

DAY = "2026-07-01"  # a Wednesday: a 在宅 day in make_member's schedule
U = "Uvoice000000000000000000000000001"
NAME = "山田 太郎"
JST = ZoneInfo("Asia/Tokyo")
VOICE = b"\x00\x00\x00\x1cftypM4A " + bytes(range(256)) * 12  # an m4a's first bytes, then some
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(255, -1, -1)) * 20


async def member(both: Both, consent: tuple[str, ...], **kw: Any) -> int:
    mid = await make_member(both.db, both.facility_id, both.clock.at, NAME, consent=consent, **kw)
    code = await link_code(both.db, mid, both.clock.at)
    assert await both.say(U, code, jst(DAY, "09:00")) == [texts.LINK_DONE.format(name=NAME)]
    return mid


def audio(message_id: str, at: datetime, ms: int = 12_000) -> dict[str, Any]:
    # LINE's sample is hosted elsewhere; a member's own recording is LINE's ("line").
    message = {"id": message_id, "duration": ms, "contentProvider": {"type": "line"}}
    return event("03_message_audio", at, user=U, message=message)


async def send_voice(both: Both, message_id: str, at: datetime) -> list[str]:
    both.line.content[message_id] = (VOICE, "audio/x-m4a")
    return await both.line_event(audio(message_id, at), at=at)


def last_body(fake: FakeLine) -> dict[str, Any]:
    sent = [r for r in fake.requests if r.path.startswith("/v2/bot/message/") and r.body]
    body: dict[str, Any] = sent[-1].body
    return body


async def tap(both: Both, label: str, at: datetime) -> list[str]:
    """Tap a quick-reply button of the last message, as LINE posts it back."""
    return await both.tap(U, buttons(last_body(both.line))[label], at)


async def tap_end(both: Both, at: datetime) -> list[str]:
    """終了します, as the end reminder's button (today's date) posts it back."""
    return await both.tap(U, encode_postback("end", at.astimezone(JST).date()), at)


async def kept(both: Both) -> list[Attachment]:
    async with both.db.transaction() as s:
        return list((await s.execute(select(Attachment).order_by(Attachment.id))).scalars())


async def the_report(both: Both) -> DailyReport:
    async with both.db.transaction() as s:
        return (await s.execute(select(DailyReport))).scalar_one()


def uploaded(both: Both) -> list[tuple[dict[str, Any], dict[str, Any], bytes]]:
    """Each upload Slack received: (getUploadURLExternal args, completeUploadExternal args,
    the bytes POSTed to the upload URL)."""
    fake = both.slack.fake
    got = []
    for asked, done in zip(
        fake.of("files.getUploadURLExternal"), fake.of("files.completeUploadExternal"), strict=True
    ):
        (file,) = json.loads(done.args["files"])
        got.append((asked.args, done.args, fake.uploads[file["id"]]))
    return got


def channel_texts(both: Both) -> list[str]:
    return [str(c.args.get("text")) for c in both.channel_posts()]


# --- a voice message, kept and shown to staff as consent allows ----------------------------


async def test_a_voice_message_is_kept_thanked_and_uploaded_for_staff(both: Both) -> None:
    mid = await member(both, ("records", "evidence", "slack"))
    at = jst(DAY, "11:20")
    assert await send_voice(both, "a-1", at) == [texts.EVIDENCE_SAVED[MediaKind.AUDIO]]

    (att,) = await kept(both)
    assert att.data == VOICE and att.sha256 == hashlib.sha256(VOICE).hexdigest()
    assert (att.content_type, att.platform, att.platform_message_id) == (
        "audio/x-m4a", "line", "a-1"
    )  # fmt: skip
    assert att.at == at and (await the_report(both)).id == att.report_id
    # LINE's loading animation was asked for, in the member's chat, before the download.
    paths = [r.path for r in both.line.requests]
    assert paths.index(LOADING) < paths.index("/v2/bot/message/a-1/content")
    (loading,) = both.line.calls(LOADING)
    assert loading.body == {"chatId": U, "loadingSeconds": 20}
    check_body(loading.body, LOADING)  # ShowLoadingAnimationRequest in messaging-api.yml

    ((asked, done, data),) = uploaded(both)
    assert data == VOICE  # the bytes Slack received are the bytes LINE served
    assert asked["filename"] == f"{DAY}_{mid}_{att.id}.m4a" and int(asked["length"]) == len(VOICE)
    assert NAME not in asked["filename"]  # file names travel where contents do not
    assert done["channel_id"] == CHANNEL
    assert done["initial_comment"] == texts.STAFF_EVIDENCE.format(
        member=NAME, date="7/1", what="声のメッセージ(12秒)"
    )
    async with both.db.transaction() as s:
        row = (
            await s.execute(select(OutboxMessage).where(OutboxMessage.key.like("evidence:%")))
        ).scalar_one()
    assert (row.status, row.external_id) == ("sent", json.loads(done["files"])[0]["id"])


async def test_a_refused_loading_animation_never_stops_the_download(both: Both) -> None:
    await member(both, ("records", "evidence", "slack"))
    both.line.script(LOADING, Scripted(400, {"message": "The request body has 1 error(s)"}))
    assert await send_voice(both, "a-1", jst(DAY, "11:20")) == [
        texts.EVIDENCE_SAVED[MediaKind.AUDIO]
    ]
    (att,) = await kept(both)
    assert att.data == VOICE and len(both.line.calls(LOADING)) == 1


async def test_without_consent_covering_slack_staff_hear_what_came_but_get_no_file(
    both: Both,
) -> None:
    await member(both, ("records", "evidence"))
    assert await send_voice(both, "a-1", jst(DAY, "11:20")) == [
        texts.EVIDENCE_SAVED[MediaKind.AUDIO]
    ]
    assert len(await kept(both)) == 1  # kept: the consent covers evidence
    assert not both.slack.fake.of("files.getUploadURLExternal") and not both.slack.fake.uploads
    (notice,) = [t for t in channel_texts(both) if "声のメッセージ" in t]
    assert texts.STAFF_EVIDENCE_ELSEWHERE.split("。")[0] in notice and NAME in notice


async def test_minimal_disclosure_keeps_the_file_out_of_slack_even_with_consent(
    both: Both,
) -> None:
    async with both.db.transaction() as s:
        await s.execute(update(Facility).values(disclosure="minimal"))
    await member(both, ("records", "evidence", "slack"))
    await send_voice(both, "a-1", jst(DAY, "11:20"))
    assert len(await kept(both)) == 1
    assert not both.slack.fake.of("files.getUploadURLExternal") and not both.slack.fake.uploads
    assert any(texts.STAFF_EVIDENCE_ELSEWHERE.split("。")[0] in t for t in channel_texts(both))


async def test_without_consent_to_keep_evidence_nothing_is_fetched_kept_or_posted(
    both: Both,
) -> None:
    mid = await member(both, ("records", "slack"))
    shown = await send_voice(both, "a-1", jst(DAY, "11:20"))
    assert shown == [texts.EVIDENCE_NOT_KEPT_NO_CONSENT.format(what="声のメッセージ")]
    assert not [r for r in both.line.requests if "content" in r.path or r.path == LOADING]
    assert await kept(both) == []
    assert not both.slack.fake.of("files.getUploadURLExternal")
    assert not [t for t in channel_texts(both) if "声のメッセージ" in t]
    async with both.db.transaction() as s:
        (note,) = (await s.execute(select(SupportRecord))).scalars().all()
    assert (note.member_id, note.kind) == (mid, "evidence_not_kept")
    assert note.content == texts.EVIDENCE_NOT_KEPT.format(what="声のメッセージ")


async def test_a_video_is_kept_and_uploaded_like_a_voice_message(both: Both) -> None:
    await member(both, ("records", "evidence", "slack"))
    both.line.content["v-1"] = (VIDEO, "video/mp4")
    at = jst(DAY, "13:05")
    message = {"id": "v-1", "duration": 30_400, "contentProvider": {"type": "line"}}
    shown = await both.line_event(event("02_message_video", at, user=U, message=message), at=at)
    assert shown == [texts.EVIDENCE_SAVED[MediaKind.VIDEO]]
    (att,) = await kept(both)
    assert (att.data, att.content_type) == (VIDEO, "video/mp4")
    assert att.sha256 == hashlib.sha256(VIDEO).hexdigest()
    ((asked, done, data),) = uploaded(both)
    assert data == VIDEO and asked["filename"].endswith(".mp4")
    assert "動画(30秒)" in done["initial_comment"]


# --- the end report with taps only, and a voice message as 成果 ----------------------------


async def start_with_taps(both: Both, task: str) -> None:
    """開始 → 体調 → 睡眠 → 作業 (a usual task), each a tap."""
    at = jst(DAY, "10:00")
    await tap(both, texts.START.label, at)
    await tap(both, texts.HEALTH_CHOICES[1].label, at)
    await tap(both, texts.SLEEP_CHOICES[3].label, at)
    shown = await tap(both, task, at)
    assert shown[0] == texts.STARTED.format(time="10:00")


async def test_a_member_completes_the_end_report_without_typing(both: Both) -> None:
    await member(both, ("records", "evidence", "slack"), tasks=("データ入力 100件", "封入作業"))
    await start_with_taps(both, "データ入力 100件")
    at = jst(DAY, "15:00")
    await tap_end(both, at)
    assert await tap(both, "予定どおり: データ入力 100件", at) == [texts.ASK_OUTPUTS]
    assert list(buttons(last_body(both.line))) == [
        "予定どおりできた", "途中まで", "できなかった", "写真で送る", "声で送る"
    ]  # fmt: skip
    assert await tap(both, "予定どおりできた", at) == [texts.ASK_HEALTH_END]
    assert await tap(both, texts.HEALTH_CHOICES[2].label, at) == [texts.ASK_NOTE]
    shown = await tap(both, texts.NONE_NOTE.label, at)
    assert shown[0] == texts.ENDED.format(time="15:00")

    r = await the_report(both)
    assert (r.status, r.planned_work, r.work_done) == (
        "ended",
        "データ入力 100件",
        "データ入力 100件",
    )
    assert r.outputs == "予定どおりできた(データ入力 100件)" and not (r.flags or {}).get("outputs")
    assert (r.health_start, r.health_end) == (4, 3)
    async with both.db.transaction() as s:
        checks = (await s.execute(select(SupportRecord.kind))).scalars().all()
    assert sorted(checks) == ["end_check", "start_check"]  # both checks are 支援記録 (R2)


async def test_partway_is_asked_about_once_and_kept_with_one_more_tap(both: Both) -> None:
    await member(both, ("records", "evidence", "slack"))
    await start_with_taps(both, "データ入力")
    at = jst(DAY, "15:00")
    await tap_end(both, at)
    await tap(both, "予定どおり: データ入力", at)
    assert "予定どおりできた" not in buttons(last_body(both.line))  # the plan said no amount
    assert await tap(both, "途中まで", at) == [texts.ASK_DETAIL_PARTWAY]
    assert await tap(both, texts.OUTPUTS_KEEP.label, at) == [texts.ASK_HEALTH_END]
    r = await the_report(both)
    assert r.outputs == "途中まで" and (r.flags or {}).get("outputs") == "vague"


async def test_a_voice_message_stands_as_the_outputs_and_staff_are_told_to_listen(
    both: Both,
) -> None:
    mid = await member(both, ("records", "evidence", "slack"))
    await start_with_taps(both, "データ入力")
    at = jst(DAY, "15:00")
    await tap_end(both, at)
    await tap(both, "予定どおり: データ入力", at)
    assert await tap(both, "声で送る", at) == [texts.ASK_OUTPUTS_VOICE]
    shown = await send_voice(both, "a-9", jst(DAY, "15:02"))
    assert shown == [texts.EVIDENCE_AS_OUTPUTS[MediaKind.AUDIO], texts.ASK_HEALTH_END]
    await tap(both, texts.HEALTH_CHOICES[1].label, jst(DAY, "15:03"))
    shown = await tap(both, texts.NONE_NOTE.label, jst(DAY, "15:03"))
    assert shown[0] == texts.ENDED.format(time="15:00")

    r = await the_report(both)
    assert (r.status, r.outputs) == ("ended", "音声で報告(12秒)")
    (att,) = await kept(both)
    assert att.report_id == r.id and att.data == VOICE
    async with both.db.transaction() as s:
        stmt = select(SupportRecord).where(SupportRecord.kind == "end_check")
        (check,) = (await s.execute(stmt)).scalars().all()
    assert "音声で報告(12秒)" in check.content  # the end check's 支援記録 names the 成果 (R2)
    ((_, done, data),) = uploaded(both)
    assert data == VOICE and texts.STAFF_EVIDENCE_AS_OUTPUTS in done["initial_comment"]
    assert f"{DAY}_{mid}_{att.id}.m4a" == json.loads(done["files"])[0]["title"]
