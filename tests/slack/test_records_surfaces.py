"""The records surfaces in Slack: 支援記録 by command, evaluation and correction modals,
sign-off from the report and the digest, the month view and exports (managers only)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from sqlalchemy import select

from bot.core.domain import AlertLevel
from bot.core.payloads import AlertResolved, EvaluationDue, Payload
from bot.core.policy import EvaluationKind
from bot.services import digests
from storage import repo
from storage.models import (
    AuditLog,
    DailyReport,
    Evaluation,
    Facility,
    Member,
    OutboxMessage,
    ReportRevision,
    SupportRecord,
)
from tests.slack.conftest import CHANNEL, MANAGER, STAFF1, STAFF2, TEAM, Rig, sample
from tests.slack.test_alerts import deliver, press
from tests.slack.test_commands import DAY, EVIL, add_report, all_text
from tests.support import jst, make_member


def submit(user: str, view: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    body = sample("interactivity/view_submission.json")
    body["user"].update(id=user, team_id=TEAM)
    body["team"]["id"] = TEAM
    body["view"].update(
        callback_id=view["callback_id"],
        private_metadata=view["private_metadata"],
        blocks=view["blocks"],
        state={"values": values},
    )
    return body


def text_in(block: str, value: str) -> dict[str, Any]:
    return {block: {block: {"type": "plain_text_input", "value": value}}}


def picked(block: str, value: str) -> dict[str, Any]:
    return {block: {block: {"type": "static_select", "selected_option": {"value": value}}}}


async def notice(session: Any, rig: Rig, key: str, payload: Payload) -> None:
    await repo.enqueue(
        session, key=key, platform="slack", recipient=CHANNEL, payload=payload, now=rig.clock.at
    )


async def audits(rig: Rig, action: str) -> list[AuditLog]:
    async with rig.db.transaction() as session:
        stmt = select(AuditLog).where(AuditLog.action == action)
        return list((await session.execute(stmt)).scalars())


async def test_log_keeps_a_support_record_by_the_calling_staff(rig: Rig) -> None:
    mid = await make_member(rig.db, rig.facility_id, rig.clock.at, "山田 <b>太郎</b>", kana=None)
    resp = await rig.command(STAFF2, "log 山田 電話 体調を確認 <b>&")
    assert resp.status_code == 200
    (answer,) = await rig.fake.wait_for("chat.postEphemeral")
    assert answer.args["user"] == STAFF2
    text = all_text([answer])
    assert "支援記録を残しました(電話)" in text and "山田 &lt;b&gt;太郎" in text
    async with rig.db.transaction() as session:
        rec = (await session.execute(select(SupportRecord))).scalar_one()
    assert (rec.member_id, rec.staff_id, rec.channel, rec.kind) == (
        mid,
        2,
        "phone",
        "staff_contact",
    )
    assert rec.content == "体調を確認 <b>&"
    await rig.command(STAFF2, "log 山田 体調を確認")
    await rig.fake.wait_for("chat.postEphemeral", 2)
    assert "方法: 電話" in all_text(rig.fake.of("chat.postEphemeral")[-1:])
    assert await rig.count(SupportRecord) == 1


async def test_monthly_evaluation_modal_saves_the_sheet_and_shows_errors(rig: Rig) -> None:
    mid = await make_member(rig.db, rig.facility_id, rig.clock.at)
    await rig.command(STAFF1, "eval 山田 monthly")
    (opened,) = await rig.fake.wait_for("views.open")
    view = opened.args["view"]
    labels = [b["label"]["text"] for b in view["blocks"] if b["type"] == "input"]
    assert labels[0] == "実施方法" and "在宅就労継続の妥当性" in labels and "訓練目標" in labels
    methods = [o["value"] for o in view["blocks"][1]["element"]["options"]]
    assert methods == ["訪問", "通所"]
    sheet = {
        **picked("method", "訪問"),
        **text_in("goal", "作業を週4日続ける"),
        **text_in("continuation", "在宅での継続が妥当"),
    }
    resp = await rig.interact(submit(STAFF1, view, sheet))
    assert resp.status_code == 200 and resp.text == ""
    async with rig.db.transaction() as session:
        ev = (await session.execute(select(Evaluation))).scalar_one()
    assert (ev.member_id, ev.kind, ev.method, ev.staff_id) == (mid, "monthly", "visit", 1)
    assert ev.goal == "作業を週4日続ける" and ev.continuation == "在宅での継続が妥当"
    assert len(await audits(rig, "slack.evaluation")) == 1

    await rig.command(STAFF1, "eval 山田 weekly")
    (_, weekly) = await rig.fake.wait_for("views.open", 2)
    wv = weekly.args["view"]
    assert [o["value"] for o in wv["blocks"][1]["element"]["options"]] == [
        "訪問",
        "通所",
        "電話",
        "ICT",
    ]
    resp = await rig.interact(
        submit(STAFF1, wv, {**picked("method", "電話"), **text_in("note", "")})
    )
    errors = resp.json()
    assert errors["response_action"] == "errors" and "note" in errors["errors"]
    resp = await rig.interact(
        submit(STAFF1, wv, {**picked("method", "通所"), **text_in("note", "通所で確認")})
    )
    assert resp.text == ""
    async with rig.db.transaction() as session:
        weeklies = (
            (await session.execute(select(Evaluation).where(Evaluation.kind == "weekly")))
            .scalars()
            .all()
        )
    assert [(e.method, e.counts_as_monthly, e.activities) for e in weeklies] == [
        ("tsusho", True, "通所で確認")
    ]


async def test_report_edit_and_sign_off_buttons_keep_revisions(rig: Rig) -> None:
    mid = await make_member(rig.db, rig.facility_id, rig.clock.at)
    await add_report(rig, mid, status="started", start_at=jst(DAY, "10:05"), health_start=4)
    await rig.command(STAFF1, f"report 山田 {DAY}")
    (shown,) = await rig.fake.wait_for("chat.postEphemeral")
    buttons = [e for b in shown.args["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [b["text"]["text"] for b in buttons] == [
        "修正",
        "確認(サイン)",
        "メッセージを送る",
        "電話・ビデオを記録",
    ]
    report_id = buttons[0]["value"]
    await rig.interact(press(STAFF1, "report_edit", report_id, "", channel="C_STAFF"))
    (opened,) = await rig.fake.wait_for("views.open")
    view = opened.args["view"]
    resp = await rig.interact(
        submit(STAFF1, view, {**picked("field", "health_start"), **text_in("value", "9")})
    )
    assert resp.json()["response_action"] == "errors"
    edit = {**picked("field", "health_start"), **text_in("value", "2")}
    resp = await rig.interact(submit(STAFF1, view, edit))
    assert "reason" in resp.json()["errors"]  # a staff correction needs its 修正理由
    resp = await rig.interact(submit(STAFF1, view, {**edit, **text_in("reason", "本人に確認")}))
    assert resp.text == ""
    rig.clock.at = jst(DAY, "16:30")
    await rig.interact(press(STAFF2, "report_sign_off", report_id, "", channel="C_STAFF"))
    await rig.fake.wait_for("chat.postEphemeral", 2)
    assert "鈴木 一郎さんが確認しました 16:30" in all_text(rig.fake.of("chat.postEphemeral")[-1:])
    async with rig.db.transaction() as session:
        report = await session.get_one(DailyReport, int(report_id))
        revs = (await session.execute(select(ReportRevision))).scalars().all()
    assert report.health_start == 2 and report.signed_off_by == 2
    assert report.signed_off_at is not None
    assert [(r.field, r.before, r.after, r.by_staff_id) for r in revs] == [
        ("health_start", "4", "2", 1),
        ("signed_off", None, "staff:2", 2),
    ]
    await rig.command(STAFF1, f"report 山田 {DAY}")
    await rig.fake.wait_for("chat.postEphemeral", 3)
    again = all_text(rig.fake.of("chat.postEphemeral")[-1:])
    assert "鈴木 一郎さんが確認しました 16:30" in again and "修正履歴" in again
    assert "体調(朝): 4 → 2(職員が修正)" in again and "16:30 職員が確認(サイン)" in again
    assert "staff:" not in again


async def _digest(rig: Rig) -> tuple[int, int]:
    a = await make_member(rig.db, rig.facility_id, rig.clock.at)
    b = await make_member(rig.db, rig.facility_id, rig.clock.at, "<b>佐々木</b> 次郎", kana=None)
    await add_report(rig, a, status="ended", start_at=jst(DAY, "10:00"), end_at=jst(DAY, "15:00"))
    await add_report(rig, b, status="started", start_at=jst(DAY, "10:30"))
    async with rig.db.transaction() as session:
        report = (
            await session.execute(select(DailyReport).where(DailyReport.member_id == b))
        ).scalar_one()
        report.flags = {"health_start": "体調 1"}
        facility = await session.get_one(Facility, rig.facility_id)
        members = (await digests.digest_members(session, [facility.id], date.fromisoformat(DAY)))[
            facility.id
        ]
        payload = digests.digest_payload(facility, date.fromisoformat(DAY), members)
        await notice(session, rig, "digest:test", payload)
    return a, b


async def test_digest_is_rendered_and_its_button_signs_off_the_day(rig: Rig) -> None:
    await _digest(rig)
    assert (await deliver(rig)).sent == 1
    (post,) = rig.fake.of("chat.postMessage")
    text = all_text([post])
    assert "在宅利用者 2名" in text and "⚠" in text and "体調 1" in text
    assert "&lt;b&gt;佐々木&lt;/b&gt;" in text and "<b>" not in text
    buttons = [e for b in post.args["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [b["action_id"] for b in buttons] == ["digest_sign_off"]
    rig.clock.at = jst(DAY, "17:05")
    await rig.interact(press(STAFF1, "digest_sign_off", buttons[0]["value"], "1700000000.000001"))
    (update,) = await rig.fake.wait_for("chat.update")
    updated = all_text([update])
    assert "佐藤 花子さんが確認しました 17:05" in updated and '"actions"' not in updated
    async with rig.db.transaction() as session:
        reports = (await session.execute(select(DailyReport))).scalars().all()
    assert [(r.signed_off_by, r.signed_off_at is not None) for r in reports] == [(1, True)] * 2


async def test_evaluation_notices_have_titles_and_a_resolve_posts_nothing(rig: Rig) -> None:
    """An auto-resolve edits the alerts' own messages (tests/safety/test_escalation.py): for an
    alert never posted there is nothing to edit, and nothing new is posted either."""
    async with rig.db.transaction() as session:
        for key, payload in (
            ("r", AlertResolved((1,), "山田さんが開始しました")),
            (
                "e",
                EvaluationDue(
                    EvaluationKind.WEEKLY, rig.facility_id, date(2026, 6, 29), (), "評価が未実施"
                ),
            ),
        ):
            await notice(session, rig, key, payload)
    assert (await deliver(rig)).sent == 2
    (post,) = rig.fake.of("chat.postMessage")
    assert "評価の予定" in all_text([post]) and "山田さん" not in all_text([post])
    assert rig.fake.of("chat.update") == []


async def test_alerts_mention_the_responsible_staff_first(rig: Rig) -> None:
    from bot.services import alerting

    mid = await make_member(rig.db, rig.facility_id, rig.clock.at)
    async with rig.db.transaction() as session:
        member = await session.get_one(Member, mid)
        member.primary_staff_id = 2
        facility = await session.get_one(Facility, rig.facility_id)
        await alerting.raise_alert(
            session, facility=facility, member=member, day=date(2026, 7, 1), kind="health",
            level=AlertLevel.WARNING, detail="体調 1", key="k1", now=rig.clock.at,
        )  # fmt: skip
    await deliver(rig)
    (post,) = rig.fake.of("chat.postMessage")
    assert post.args["blocks"][0]["text"]["text"] == f"<@{STAFF2}> <@{MANAGER}>"


async def test_month_view_for_managers_only(rig: Rig) -> None:
    await make_member(rig.db, rig.facility_id, rig.clock.at, EVIL, kana=None)
    await rig.command(STAFF1, "month 2026-07")
    (refused,) = await rig.fake.wait_for("chat.postEphemeral")
    assert "管理者だけ" in all_text([refused])
    await rig.command(MANAGER, "month 2026-07")
    await rig.fake.wait_for("chat.postEphemeral", 2)
    await rig.fake.settle()
    shown = all_text(rig.fake.of("chat.postEphemeral")[1:])
    assert "2026年7月の記録の確認" in shown and "&lt;!channel&gt;" in shown
    assert [a.target for a in await audits(rig, "slack.month")] == [f"facility:{rig.facility_id}"]


async def test_export_uploads_the_csv_to_the_managers_dm(rig: Rig) -> None:
    mid = await make_member(rig.db, rig.facility_id, rig.clock.at)
    await add_report(rig, mid, status="ended", start_at=jst(DAY, "10:00"), end_at=jst(DAY, "15:00"))
    await rig.command(STAFF1, "export nippo 2026-07")
    (refused,) = await rig.fake.wait_for("chat.postEphemeral")
    assert "管理者だけ" in all_text([refused])
    assert not rig.fake.of("files.getUploadURLExternal")
    await rig.command(MANAGER, "export nippo 2026-07 csv")
    (done,) = await rig.fake.wait_for("files.completeUploadExternal")
    assert done.args["channel_id"] == f"D{MANAGER}"
    (data,) = rig.fake.uploads.values()
    header = data.decode("utf-8-sig").splitlines()[0]
    assert header.startswith("利用者ID,氏名,受給者証番号,日付")
    assert "山田 太郎" in data.decode("utf-8-sig")
    exported = await audits(rig, "export")
    assert len(exported) == 1 and exported[0].actor == "staff:3"
    assert json.loads(done.args["files"])[0]["id"] in rig.fake.uploads
    async with rig.db.transaction() as session:
        assert (await session.execute(select(OutboxMessage))).first() is None


async def test_a_name_pings_nobody_and_reads_as_typed_in_the_digest_notification(
    rig: Rig,
) -> None:
    """The notification text (top-level `text`) carries names too, not only the blocks."""
    name = "<!channel> <@U_MGR> <https://example.invalid|山田>\u202e 太郎"
    mid = await make_member(rig.db, rig.facility_id, rig.clock.at, name, kana=None)
    await add_report(rig, mid, status="started", start_at=jst(DAY, "10:00"))
    async with rig.db.transaction() as session:
        facility = await session.get_one(Facility, rig.facility_id)
        day = date.fromisoformat(DAY)
        members = (await digests.digest_members(session, [facility.id], day))[facility.id]
        await notice(session, rig, "digest:names", digests.digest_payload(facility, day, members))
    assert (await deliver(rig)).sent == 1
    (post,) = rig.fake.of("chat.postMessage")
    for shown in (post.args["text"], all_text([post])):
        assert "<!channel>" not in shown and "<@U_MGR>" not in shown and "<https:" not in shown
        assert "\u202e" not in shown and "&lt;!channel&gt;" in shown


async def test_a_digest_of_sixty_members_fits_one_message(rig: Rig) -> None:
    ids = [
        await make_member(rig.db, rig.facility_id, rig.clock.at, f"利用者{i:02d} 太郎", kana=None)
        for i in range(60)
    ]
    for mid in ids:
        await add_report(rig, mid, status="started", start_at=jst(DAY, "10:00"))
    async with rig.db.transaction() as session:
        facility = await session.get_one(Facility, rig.facility_id)
        day = date.fromisoformat(DAY)
        members = (await digests.digest_members(session, [facility.id], day))[facility.id]
        await notice(session, rig, "digest:big", digests.digest_payload(facility, day, members))
    assert (await deliver(rig)).sent == 1
    (post,) = rig.fake.of("chat.postMessage")
    assert len(post.args["blocks"]) <= 50  # the rig checks every other limit at teardown
    text = all_text([post])
    assert "利用者00 太郎" in text and "利用者59 太郎" in text and "digest_sign_off" in text


async def test_staff_of_another_facility_cannot_sign_off_the_digest(rig: Rig) -> None:
    await _digest(rig)
    await deliver(rig)
    value = f"{rig.facility_id + 1}:{DAY}"
    await rig.interact(press(STAFF1, "digest_sign_off", value, "1700000000.000001"))
    await rig.fake.wait_for("chat.postEphemeral")
    assert not rig.fake.of("chat.update")
    async with rig.db.transaction() as session:
        signed = (await session.execute(select(DailyReport.signed_off_by))).scalars().all()
    assert signed == [None, None]


async def test_a_long_month_view_is_split_within_limits(rig: Rig) -> None:
    for i in range(80):
        await make_member(rig.db, rig.facility_id, rig.clock.at, f"利用者{i:02d} 太郎", kana=None)
    await rig.command(MANAGER, "month")
    await rig.fake.wait_for("chat.postEphemeral")
    await rig.fake.settle()
    shown = rig.fake.of("chat.postEphemeral")
    text = all_text(shown)
    assert "利用者00 太郎" in text and "利用者79 太郎" in text
    assert all(len(c.args["blocks"]) <= 50 for c in shown)
