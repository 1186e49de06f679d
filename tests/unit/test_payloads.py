"""Outbox payloads: rows stored before the typed payloads still decode, new rows keep the
stored shape, and a broken row is refused when it is read rather than half-sent."""

from __future__ import annotations

import typing
from datetime import UTC, date, datetime
from typing import Any

import pytest

from bot.core import payloads as pl
from bot.core.domain import AlertLevel, AlertState, Card, Choice, Reply, ReportStatus
from bot.core.policy import EvaluationKind, RenotifyAudience

# One row of each kind, in the shape the previous version wrote them (its producers' dicts).
OLD_ROWS: dict[str, dict[str, Any]] = {
    "replies": {
        "kind": "replies",
        "replies": [
            {"text": "おはようございます", "choices": [{"label": "開始", "value": "start"}]},
            {
                "text": "きょうの記録",
                "card": {"title": "きょうの記録", "rows": [["体調", "4"]], "footer": ""},
            },
        ],
        "business_date": "2026-07-01",
    },
    "alert": {"kind": "alert", "alert_id": 7, "level": "urgent", "text": "【連絡がありません】"},
    "alert_resolved": {"kind": "alert_resolved", "alert_ids": [3, 4], "text": "解消しました"},
    "renotify": {
        "kind": "renotify",
        "alert_id": 7,
        "step": 2,
        "level": "crisis",
        "audience": "managers",
        "minutes": 20,
        "business_minutes": False,
        "mentions": ["U_STAFF1", "U_MGR"],  # Slack user ids, before mentions were staff ids
        "text": "まだ誰も対応していません",
    },
    "digest": {
        "kind": "digest",
        "facility_id": 1,
        "date": "2026-07-01",
        "text": "7/1 在宅 1名",
        "members": [
            {
                "member_id": 2,
                "name": "山田 太郎",
                "report_id": 9,
                "status": "ended",
                "start_at": "2026-07-01T01:02:00+00:00",
                "end_at": None,
                "flags": {"outputs": "vague"},
            }
        ],
        "alerts": [
            {
                "alert_id": 5,
                "kind": "low_health",
                "level": "warning",
                "group": "warning",
                "title": "体調がすぐれないとの回答",
                "member_id": 2,
                "name": "山田 太郎",
                "state": "acked",
                "opened_at": "2026-07-01T01:00:00+00:00",
                "taken_by": "佐藤 花子",
            }
        ],
        "sign_off": {"action_id": "digest_sign_off", "value": "1:2026-07-01"},
    },
    "evaluation_due": {
        "kind": "evaluation_due",
        "evaluation": "monthly",
        "facility_id": 1,
        "period_start": "2026-06-01",
        "member_ids": [2, 3],
        "text": "評価が未実施です",
    },
    "approval_expiring": {
        "kind": "approval_expiring",
        "facility_id": 1,
        "member_ids": [2],
        "approval_until": "2026-07-31",
        "mentions": ["U_MGR"],
        "text": "承認期間がまもなく終わります",
    },
    "account_replaced": {
        "kind": "account_replaced",
        "member_id": 2,
        "facility_id": 1,
        "identity_id": 11,
        "replaced": [10],
        "text": "アカウントが入れ替わりました",
    },
    "link_paused": {"kind": "link_paused", "facility_id": 1, "count": 20, "text": "一時停止中"},
    "delivery_failed": {
        "kind": "delivery_failed",
        "outbox_id": 40,
        "member_id": 2,
        "text": "メッセージを届けられませんでした",
    },
    "quota_warning": {
        "kind": "quota_warning",
        "threshold": 80,
        "month": "2026-07",
        "used": 160,
        "limit": 200,
        "text": "80%",
    },
    "outage_notice": {"kind": "outage_notice", "text": "Slack に障害", "facility_id": 1},
    "outage_summary": {
        "kind": "outage_summary",
        "facility_id": 1,
        "text": "遅れて届きました",
        "count": 3,
        "mentions": ["U_MGR"],
    },
    "evidence_shared": {
        "kind": "evidence_shared",
        "attachment_id": 5,
        "member_id": 2,
        "text": "山田 太郎さん(7/1)から声のメッセージ(12秒)が届きました。",
        "attach": True,
    },
    "staff_message": {
        "kind": "staff_message",
        "alert_id": 3,
        "staff_id": 1,
        "text": "お電話してもよいですか?\n(佐藤 花子より)",
    },
    "thread_note": {"kind": "thread_note", "alert_id": 3, "text": "💬 山田 太郎さんから(10:20)"},
    "reminder": {"kind": "reminder", "text": "おはようございます", "member_id": "2"},
}


def test_every_kind_has_an_old_row_here() -> None:
    known = {t.kind for t in typing.get_args(pl.Payload) if t is not pl.Notice}
    assert known == pl.KINDS == set(OLD_ROWS) - {"reminder"}


def test_old_rows_decode_with_their_values_and_enums() -> None:
    got = {kind: pl.from_json(row) for kind, row in OLD_ROWS.items()}
    assert got["replies"] == pl.Replies(
        (
            Reply("おはようございます", (Choice("開始", "start"),)),
            Reply("きょうの記録", card=Card("きょうの記録", (("体調", "4"),), "")),
        ),
        date(2026, 7, 1),
    )
    assert got["alert"] == pl.Alert(7, AlertLevel.URGENT, "【連絡がありません】")
    assert got["alert_resolved"] == pl.AlertResolved((3, 4), "解消しました")
    assert got["renotify"] == pl.Renotify(
        alert_id=7,
        step=2,
        level=AlertLevel.CRISIS,
        audience=RenotifyAudience.MANAGERS,
        minutes=20,
        business_minutes=False,
        mentions=pl.Mentions((), ("U_STAFF1", "U_MGR")),
        text="まだ誰も対応していません",
    )
    digest = got["digest"]
    assert isinstance(digest, pl.Digest)
    assert digest.date == date(2026, 7, 1) and digest.sign_off == pl.SignOff(
        "digest_sign_off", "1:2026-07-01"
    )
    (member,) = digest.members
    assert member.status is ReportStatus.ENDED and member.flags == {"outputs": "vague"}
    assert member.start_at == datetime(2026, 7, 1, 1, 2, tzinfo=UTC) and member.end_at is None
    (alert,) = digest.alerts
    assert (alert.level, alert.state, alert.taken_by) == (
        AlertLevel.WARNING,
        AlertState.ACKED,
        "佐藤 花子",
    )
    assert got["evaluation_due"] == pl.EvaluationDue(
        EvaluationKind.MONTHLY, 1, date(2026, 6, 1), (2, 3), "評価が未実施です"
    )
    assert got["approval_expiring"] == pl.ApprovalExpiring(
        1, (2,), date(2026, 7, 31), pl.Mentions((), ("U_MGR",)), "承認期間がまもなく終わります"
    )
    assert got["account_replaced"] == pl.AccountReplaced(
        2, 1, 11, (10,), "アカウントが入れ替わりました"
    )
    assert got["link_paused"] == pl.LinkPaused(1, 20, "一時停止中")
    assert got["delivery_failed"] == pl.DeliveryFailed(40, 2, "メッセージを届けられませんでした")
    assert got["quota_warning"] == pl.QuotaWarning(80, "2026-07", 160, 200, "80%")
    assert got["outage_notice"] == pl.OutageNotice("Slack に障害", 1)
    assert got["outage_summary"] == pl.OutageSummary(
        1, "遅れて届きました", 3, pl.Mentions((), ("U_MGR",))
    )
    assert got["reminder"] == pl.Notice("reminder", "おはようございます", {"member_id": "2"})
    assert pl.member_of(got["reminder"]) == 2 and pl.facility_of(got["outage_summary"]) == 1


@pytest.mark.parametrize("kind", sorted(OLD_ROWS))
def test_a_row_is_stored_again_exactly_as_it_came(kind: str) -> None:
    row = OLD_ROWS[kind]
    assert pl.to_json(pl.from_json(row)) == {
        **row,
        # mentions as staff ids are written from now on (none in an old row)
        **({"mention_staff_ids": []} if "mentions" in row and kind != "reminder" else {}),
    }


def test_new_rows_mention_staff_ids_and_keep_the_kind_key() -> None:
    payload = pl.Renotify(
        alert_id=1,
        step=1,
        level=AlertLevel.URGENT,
        audience=RenotifyAudience.PRIMARY,
        minutes=10,
        business_minutes=True,
        mentions=pl.Mentions((4, 2)),
        text="t",
    )
    stored = pl.to_json(payload)
    assert stored["kind"] == "renotify" and stored["mention_staff_ids"] == [4, 2]
    assert "mentions" not in stored and stored["level"] == "urgent"
    assert pl.from_json(stored) == payload
    assert pl.from_json({}) == pl.Notice() and pl.to_json(pl.Notice()) == {}


@pytest.mark.parametrize(
    "row",
    [
        {"kind": "alert", "level": "urgent", "text": "x"},  # no alert id
        {"kind": "alert", "alert_id": "7", "level": "urgent"},  # an id as a string
        {"kind": "alert", "alert_id": 7, "level": "severe"},  # no such level
        {"kind": "evaluation_due", "facility_id": 1, "text": "x"},  # which evaluation?
        {"kind": "digest", "facility_id": 1, "date": "7/1"},
        {"kind": "digest", "facility_id": 1, "date": "2026-07-01", "members": [{"name": "x"}]},
        {"kind": "renotify", "alert_id": 1, "step": 1, "level": "urgent", "audience": "all"},
        {"kind": "replies", "replies": "おはよう"},
    ],
)
def test_a_broken_row_of_a_known_kind_is_refused(row: dict[str, Any]) -> None:
    with pytest.raises(pl.PayloadError):
        pl.from_json(row)
