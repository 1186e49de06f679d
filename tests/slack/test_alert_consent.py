"""What a Slack alert shows depends on the facility's disclosure AND the member's 同意書, and
urgent and crisis alerts carry the member's emergency contacts to the staff-only channel.

APPI (DESIGN §10): Slack is abroad; health details go there only with the member's consent.
日立市 (domain/003 (4)): 「緊急事態が発生した際には、当該事業所の職員が速やかに利用者の元へ
駆けつけ、必要な対応が実施できる体制を整備すること」 — so whom to call is on the alert under
every setting.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from sqlalchemy import select

from adapters.slack import blocks as bk
from bot.core import texts
from bot.core.domain import AlertLevel
from bot.queries import board
from bot.services import alerting
from bot.services.emergency_contacts import EmergencyContact, add
from storage.models import DailyReport, Facility, Member, OutboxMessage
from tests.slack.conftest import STAFF1, Rig
from tests.slack.test_alerts import deliver
from tests.support import jst, make_member

DAY = date(2026, 7, 1)
MOTHER = EmergencyContact("家族", "青木 和子", "090-1234-5678", "母。持病の発作時は救急へ")
DOCTOR = EmergencyContact("主治医", "ひたち心療内科", "0294-00-0000")
ALL = ("records", "evidence", "slack")


async def member(
    rig: Rig,
    name: str,
    *,
    consent: tuple[str, ...],
    contacts: tuple[EmergencyContact, ...] = (),
) -> int:
    mid = await make_member(rig.db, rig.facility_id, rig.clock.at, name, consent=consent)
    async with rig.db.transaction() as session:
        m = await session.get_one(Member, mid)
        for c in contacts:
            add(m, c, now=rig.clock.at, by="cli")
        session.add(
            DailyReport(
                member_id=mid,
                business_date=DAY,
                mode="zaitaku",
                status="started",
                start_at=jst("2026-07-01", "10:20"),
                health_start=1,
                sleep_hours=4,
                planned_work="封入作業",
                flags={},
                created_at=rig.clock.at,
                updated_at=rig.clock.at,
            )
        )
    return mid


async def alert(
    rig: Rig,
    mid: int,
    *,
    kind: str = "low_health",
    level: AlertLevel = AlertLevel.URGENT,
    detail: str = "体調 1: 頭痛がひどい",
) -> int:
    async with rig.db.transaction() as session:
        alert_id = await alerting.raise_alert(
            session,
            facility=await session.get_one(Facility, rig.facility_id),
            member=await session.get_one(Member, mid),
            day=DAY,
            kind=kind,
            level=level,
            detail=detail,
            key=f"{kind}:{mid}",
            now=jst("2026-07-01", "10:21"),
        )
    assert alert_id is not None
    return alert_id


async def set_disclosure(rig: Rig, value: str) -> None:
    async with rig.db.transaction() as session:
        (await session.get_one(Facility, rig.facility_id)).disclosure = value


async def posted(rig: Rig) -> list[str]:
    await deliver(rig)
    return [json.dumps(p.args, ensure_ascii=False) for p in rig.fake.of("chat.postMessage")]


async def payload_texts(rig: Rig) -> str:
    async with rig.db.transaction() as session:
        rows = (await session.execute(select(OutboxMessage))).scalars().all()
    return json.dumps([r.payload for r in rows], ensure_ascii=False)


async def test_without_consent_to_slack_a_full_facility_posts_no_details(rig: Rig) -> None:
    mid = await member(rig, "青木 葵", consent=("records", "evidence"), contacts=(MOTHER, DOCTOR))
    await alert(rig, mid)
    (body,) = await posted(rig)
    assert "体調がすぐれないとの回答" in body and "青木 葵さん" in body
    assert texts.ALERT_DETAILS_NEED_CONSENT in body
    assert "頭痛" not in body and "封入作業" not in body and "4時間" not in body
    assert "頭痛" not in await payload_texts(rig)  # nor in the outbox row
    # whom to call is there (staff-only channel), the note about health is not
    assert "緊急連絡先" in body
    assert "家族: 青木 和子 090-1234-5678" in body and "主治医: ひたち心療内科 0294-00-0000" in body
    assert "持病" not in body


async def test_with_consent_to_slack_details_answers_and_the_contacts_notes_show(rig: Rig) -> None:
    mid = await member(rig, "青木 葵", consent=ALL, contacts=(MOTHER,))
    await alert(rig, mid)
    (body,) = await posted(rig)
    assert "頭痛がひどい" in body and "封入作業" in body and "4時間" in body
    assert texts.ALERT_DETAILS_NEED_CONSENT not in body
    assert "家族: 青木 和子 090-1234-5678(母。持病の発作時は救急へ)" in body


async def test_minimal_disclosure_keeps_details_out_but_a_crisis_still_says_whom_to_call(
    rig: Rig,
) -> None:
    await set_disclosure(rig, "minimal")
    mid = await member(rig, "青木 葵", consent=ALL, contacts=(MOTHER,))
    await alert(rig, mid, kind="crisis", level=AlertLevel.CRISIS, detail="消えたい")
    (body,) = await posted(rig)
    assert "命に関わるおそれのあるメッセージ" in body
    assert "消えたい" not in body and "封入作業" not in body
    assert texts.ALERT_DETAILS_NEED_CONSENT not in body  # the facility's choice, not consent
    assert "家族: 青木 和子 090-1234-5678" in body and "持病" not in body


async def test_a_missed_contact_keeps_its_instruction_and_has_no_contacts(rig: Rig) -> None:
    """Nippo's own sentence about the schedule is no answer of the member's: it shows without
    consent. A warning-level alert carries no emergency contacts."""
    mid = await member(rig, "青木 葵", consent=(), contacts=(MOTHER,))
    detail = "予定の開始 10:00 から30分、連絡がありません。"
    await alert(rig, mid, kind="missed_start", level=AlertLevel.WARNING, detail=detail)
    (body,) = await posted(rig)
    assert detail in body
    assert texts.ALERT_DETAILS_NEED_CONSENT not in body  # nothing of the member's to withhold
    assert "緊急連絡先" not in body and "090-1234-5678" not in body


async def test_an_urgent_alert_says_when_no_contact_is_recorded(rig: Rig) -> None:
    mid = await member(rig, "青木 葵", consent=ALL)
    await alert(rig, mid)
    (body,) = await posted(rig)
    assert texts.ALERT_NO_EMERGENCY_CONTACTS in body


async def test_a_digest_decides_per_member(rig: Rig) -> None:
    agreed = await member(rig, "青木 葵", consent=ALL, contacts=(MOTHER,))
    other = (EmergencyContact("家族", "千葉 一郎", "080-0000-1111", "父・夜勤あり"),)
    refused = await member(rig, "千葉 智", consent=("records",), contacts=other)
    bare = await member(rig, "佐々木 光", consent=())
    for mid, words in ((agreed, "頭痛がひどい"), (refused, "吐き気がする"), (bare, "めまい")):
        await alert(rig, mid, detail=f"体調 1: {words}")
    (body,) = await posted(rig)
    assert "アラートが 3件" in body
    assert "頭痛がひどい" in body and "吐き気" not in body and "めまい" not in body
    assert body.count(texts.ALERT_DETAILS_NEED_CONSENT) == 2
    assert "持病の発作時は救急へ" in body  # the consenting member's note
    assert "家族: 千葉 一郎 080-0000-1111" in body and "夜勤" not in body
    assert body.count(texts.ALERT_NO_EMERGENCY_CONTACTS) == 1


def test_a_resolved_alert_no_longer_carries_the_contacts() -> None:
    at = datetime(2026, 7, 1, 1, 21, tzinfo=UTC)
    item = board.AlertItem(
        alert_id=1, member_id=1, member_name="青木 葵", kind="low_health", level="urgent",
        title="体調がすぐれないとの回答", detail="", state="resolved", opened_at=at,
        acked_by="佐藤", acked_at=at, resolved_by="佐藤", resolved_at=at, resolution="電話で確認",
    )  # fmt: skip
    text = json.dumps(bk.alert_blocks(item, "Asia/Tokyo", contacts=[MOTHER]), ensure_ascii=False)
    assert "090-1234-5678" not in text and "対応済み" in text


async def test_the_status_board_shows_answers_only_for_members_who_agreed(rig: Rig) -> None:
    await member(rig, "青木 葵", consent=ALL)
    mid = await make_member(rig.db, rig.facility_id, rig.clock.at, "千葉 智", consent=())
    async with rig.db.transaction() as session:
        session.add(
            DailyReport(
                member_id=mid, business_date=DAY, mode="zaitaku", status="started",
                start_at=jst("2026-07-01", "10:05"), planned_work="データ入力", flags={},
                created_at=rig.clock.at, updated_at=rig.clock.at,
            )
        )  # fmt: skip
    await rig.command(STAFF1, "status")
    posts = await rig.fake.wait_for("chat.postEphemeral")
    text = json.dumps([p.args.get("blocks") for p in posts], ensure_ascii=False)
    assert "青木 葵" in text and "千葉 智" in text
    assert "封入作業" in text and "データ入力" not in text
