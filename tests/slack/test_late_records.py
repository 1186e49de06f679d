"""In Slack, a record says who entered it and when: a 事後記録 is marked 【事後記録】, a staff
correction shows its 修正理由, a voided sign-off asks for a new one, and a vague `/nippo log`
is answered with a kind nudge. Asserted on the bodies the fake Slack API received."""

from __future__ import annotations

from datetime import date, time

from bot.services import records
from bot.services.records import Confirmed
from tests.slack.conftest import STAFF1, STAFF2, Rig
from tests.slack.test_alerts import press
from tests.slack.test_commands import DAY, all_text
from tests.slack.test_records_surfaces import picked, submit, text_in
from tests.support import jst, make_member


async def _late_report(rig: Rig) -> int:
    """No check-in on 7/1: 鈴木 (STAFF2) reached 山田 by phone and enters the day on 7/3."""
    mid = await make_member(rig.db, rig.facility_id, rig.clock.at)
    async with rig.db.transaction() as session:
        report, _ = await records.create_report_from_contact(
            session, mid, 2, day=date(2026, 7, 1), method="電話",
            text="電話で開始と終了を確認", at=jst(DAY, "15:10"), now=jst("2026-07-03", "09:00"),
            confirmed=Confirmed(start=time(10, 0), end=time(15, 0), outputs="入力 80件"),
        )  # fmt: skip
        return report.id


async def test_a_late_report_and_its_call_are_marked_in_the_report_view(rig: Rig) -> None:
    await _late_report(rig)
    rig.clock.at = jst("2026-07-03", "10:00")
    await rig.command(STAFF1, f"report 山田 {DAY}")
    (shown,) = await rig.fake.wait_for("chat.postEphemeral")
    text = all_text([shown])
    assert "【事後記録】記録 2026-07-03 09:00 鈴木 一郎" in text
    assert "この日の支援記録" in text
    assert (
        "【事後記録】15:10 職員による連絡(電話) 鈴木 一郎: 電話で開始と終了を確認"
        "(記録 2026-07-03 09:00 鈴木 一郎)"
    ) in text
    assert "【事後記録】7/1(水) 09:00" not in text  # revisions show when they were made
    assert "【事後記録】7/3(金) 09:00 成果: — → 入力 80件(職員が電話などで確認) 鈴木 一郎" in text
    assert "理由: 電話で本人に確認した内容" in text


async def test_a_correction_after_the_sign_off_voids_it_and_shows_its_reason(rig: Rig) -> None:
    report_id = str(await _late_report(rig))
    rig.clock.at = jst("2026-07-03", "10:00")
    await rig.interact(press(STAFF1, "report_sign_off", report_id, "", channel="C_STAFF"))
    await rig.fake.wait_for("chat.postEphemeral")
    await rig.interact(press(STAFF1, "report_edit", report_id, "", channel="C_STAFF"))
    (opened,) = await rig.fake.wait_for("views.open")
    view = opened.args["view"]
    (reason,) = [b for b in view["blocks"] if b.get("block_id") == "reason"]
    assert reason["label"]["text"] == "修正理由" and not reason["optional"]
    rig.clock.at = jst("2026-07-03", "10:30")
    edit = {**picked("field", "outputs"), **text_in("value", "入力 90件")}
    resp = await rig.interact(submit(STAFF1, view, {**edit, **text_in("reason", "本人から訂正")}))
    assert resp.text == ""

    await rig.command(STAFF2, f"report 山田 {DAY}")
    await rig.fake.wait_for("chat.postEphemeral", 2)
    text = all_text(rig.fake.of("chat.postEphemeral")[-1:])
    assert "⚠ 10:30 の修正で確認(サイン)が取り消されました。もう一度確認をお願いします。" in text
    assert (
        "【事後記録】7/3(金) 10:30 成果: 入力 80件 → 入力 90件(職員が修正) 佐藤 花子"
        " 理由: 本人から訂正"
    ) in text
    assert "7/3(金) 10:30 修正により確認(サイン)が取り消されました" in text
    assert "さんが確認しました" not in text and "staff:" not in text


async def test_a_vague_log_is_kept_flagged_and_answered_with_a_nudge(rig: Rig) -> None:
    await make_member(rig.db, rig.facility_id, rig.clock.at)
    await rig.command(STAFF2, "log 山田 電話 特になし")
    (answer,) = await rig.fake.wait_for("chat.postEphemeral")
    text = all_text([answer])
    assert "支援記録を残しました(電話)" in text
    assert "「内容」は具体的な内容が読み取れない記録です" in text
    # the day has no 日報, yet the report view shows the flagged 支援記録
    await rig.command(STAFF2, f"report 山田 {DAY}")
    await rig.fake.wait_for("chat.postEphemeral", 2)
    shown = all_text(rig.fake.of("chat.postEphemeral")[-1:])
    assert (
        "11:00 職員による連絡(電話) 鈴木 一郎: 特になし ⚠ 具体的な内容が読み取れない記録です"
        in shown
    )
