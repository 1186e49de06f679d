"""A simulated July on each rule profile: the compliance view and the warnings, by hand."""

from __future__ import annotations

from datetime import date

import pytest

from bot.core.compliance import Code, Finding
from bot.queries import compliance_report
from storage.db import Database
from storage.models import Facility
from tests.records import scenario
from tests.records.scenario import AOKI_ZAITAKU, JULY, d

C = Code
# Findings every profile shares (the national baseline). The scenario's staff contacts repeat
# one text, so those after the first of a member are flagged as copied (Jul 8, 25 and 21).
BASE = {
    ("aoki", C.CONTACTS_MISSING, d(14)),
    ("aoki", C.WEEKLY_EVALUATION_MISSING, d(13)),
    ("aoki", C.FLAGGED_ENTRY, d(8)),
    ("aoki", C.FLAGGED_ENTRY, d(25)),
    ("aoki", C.TOO_MANY_DAYS, d(1)),  # 原則の日数 under every profile: 24 > 31 − 8
    ("sakamoto", C.MONTHLY_EVALUATION_MISSING, d(1)),
    ("sakamoto", C.APPROVAL_UNKNOWN, d(1)),  # the approval period under every profile
    ("tsuchiya", C.WEEKLY_EVALUATION_MISSING, d(20)),
    ("tsuchiya", C.FLAGGED_ENTRY, d(21)),
    ("tsuchiya", C.OUTSIDE_APPROVAL, d(21)),
}
HIGASHIOSAKA = BASE | {
    ("aoki", C.END_CHECK_MISSING, d(14)),  # 002 イ: the end check as a 支援記録
    ("tsuchiya", C.TSUSHO_WEEK_MISSING, d(20)),
    (None, C.ZAITAKU_SHARE, d(1)),
}
# Sapporo: LINE text alone is not one of the two; 青木 had one phone call on Jul 1 and Jul 8,
# 土屋 one video call a day: no day of theirs has two voice contacts.
SAPPORO = (
    BASE
    | {("aoki", C.CONTACTS_MISSING, day) for day in AOKI_ZAITAKU}
    | {("tsuchiya", C.CONTACTS_MISSING, d(x)) for x in (15, 21)}
)
EXPECTED = {
    "national": BASE,
    "hitachi": BASE,  # nobody here is 日立市's: its 届出 rule has no one to apply to
    "higashiosaka": HIGASHIOSAKA,
    "sapporo": SAPPORO,
}


def _named(ids: scenario.Ids, findings: tuple[Finding, ...]) -> set[tuple[str | None, Code, date]]:
    names = {v: k for k, v in vars(ids).items() if k not in ("facility", "staff")}
    return {(names.get(f.member_id) if f.member_id else None, f.code, f.day) for f in findings}  # type: ignore[misc]


@pytest.mark.parametrize("profile", ["national", "higashiosaka", "hitachi", "sapporo"])
async def test_month_view_matches_hand_count(db: Database, profile: str) -> None:
    ids = await scenario.build(db, profile)
    async with db.transaction() as s:
        view = await compliance_report.month_view(s, await s.get_one(Facility, ids.facility), JULY)

    assert _named(ids, view.all_findings) == EXPECTED[profile]
    m = {x.member_id: x for x in view.members}
    aoki = m[ids.aoki]
    assert (len(aoki.zaitaku_days), len(aoki.tsusho_days), aoki.days_used) == (18, 6, 24)
    assert aoki.monthly_evaluation == d(3)  # weekly by 通所 stands for the monthly one (R6)
    assert [w.evaluation for w in aoki.weeks] == [d(3), d(9), None, d(24), d(31)]
    assert [w.required for w in m[ids.tsuchiya].weeks] == [False, False, True, True, False]
    assert len(aoki.confirmed_days) == (0 if profile == "sapporo" else 17)
    sakamoto = m[ids.sakamoto]
    assert len(sakamoto.confirmed_days) == 23  # voice contact hard: text counts in Sapporo too
    assert sakamoto.monthly_evaluation is None
    chiba = m[ids.chiba]
    assert (chiba.zaitaku_days, chiba.tsusho_days, chiba.findings) == ((), (d(6),), ())
    assert m[ids.tsuchiya].monthly_evaluation == d(17)
    assert m[ids.eguchi].days_used == 0 and m[ids.eguchi].ok
    assert aoki.max_days == sakamoto.max_days == 23
    if profile == "higashiosaka":
        assert (view.zaitaku_users, view.max_zaitaku_users) == (4, 2)
        assert (aoki.rules, sakamoto.rules) == ("higashiosaka", "national")  # 大阪市's member
    else:
        assert view.max_zaitaku_users is None


EXPIRING = {
    ("aoki", C.APPROVAL_EXPIRING, date(2026, 8, 10)),
    ("tsuchiya", C.APPROVAL_EXPIRING, d(20)),
}


@pytest.mark.parametrize(
    ("profile", "today", "expected"),
    [
        # Thursday of the week of Jul 13: 青木 and 土屋 have 在宅 days and no evaluation yet;
        # both approvals end within 30 days (warned under every profile).
        (
            "national",
            d(16),
            {
                ("aoki", C.WEEKLY_EVALUATION_DUE, d(19)),
                ("tsuchiya", C.WEEKLY_EVALUATION_DUE, d(19)),
                *EXPIRING,
            },
        ),
        (
            "higashiosaka",
            d(16),
            {
                ("aoki", C.WEEKLY_EVALUATION_DUE, d(19)),
                ("tsuchiya", C.WEEKLY_EVALUATION_DUE, d(19)),
                *EXPIRING,
            },
        ),
        # Monday: too early for the weekly warning; no 様式在-1 for June (reports start with
        # 「令和8年7月サービス提供分から」).
        ("higashiosaka", d(13), EXPIRING),
        ("sapporo", d(13), EXPIRING),
        # The July list is due on Aug 15.
        ("higashiosaka", date(2026, 8, 12), {(None, C.MONTHLY_REPORT_DUE, date(2026, 8, 15))}),
        ("national", date(2026, 8, 12), set()),
        # The 25th: 坂本 has no monthly evaluation; 土屋 has none this week; 土屋's approval ended.
        (
            "higashiosaka",
            d(25),
            {
                ("sakamoto", C.MONTHLY_EVALUATION_DUE, d(31)),
                ("tsuchiya", C.WEEKLY_EVALUATION_DUE, d(26)),
                ("aoki", C.APPROVAL_EXPIRING, date(2026, 8, 10)),
            },
        ),
        (
            "hitachi",
            d(25),
            {
                ("sakamoto", C.MONTHLY_EVALUATION_DUE, d(31)),
                ("tsuchiya", C.WEEKLY_EVALUATION_DUE, d(26)),
                ("aoki", C.APPROVAL_EXPIRING, date(2026, 8, 10)),
            },
        ),
    ],
)
async def test_warnings_before_deadlines(
    db: Database, profile: str, today: date, expected: set[tuple[str | None, Code, date]]
) -> None:
    ids = await scenario.build(db, profile, chat_day=False)
    async with db.transaction() as s:
        f = await s.get_one(Facility, ids.facility)
        found = await compliance_report.coming_deadlines(s, f, today)
    assert _named(ids, found) == expected
    assert len(found) == len(expected)  # nothing twice


async def test_month_view_text(db: Database) -> None:
    ids = await scenario.build(db, "higashiosaka", chat_day=False)
    async with db.transaction() as s:
        f = await s.get_one(Facility, ids.facility)
        view = await compliance_report.month_view(s, f, JULY)
        text = compliance_report.render_month(
            view, await compliance_report.coming_deadlines(s, f, d(13))
        )
        june = compliance_report.render_month(
            await compliance_report.month_view(s, f, date(2026, 6, 1))
        )
        august = compliance_report.render_month(
            view, await compliance_report.coming_deadlines(s, f, date(2026, 8, 12))
        )
    assert text.splitlines()[0] == "2026年7月の記録の確認(東大阪市)"
    assert "在宅利用者 4人 / 定員 4人(上限 2人)" in text
    assert (
        "- 青木 葵: 在宅 18日(連絡2回確認済み 17日)、通所 6日、利用 24日/23、"
        "週の評価 4/5週、月の評価 7/3"
    ) in text
    assert "- 千葉 智: 在宅 0日(連絡2回確認済み 0日)、通所 1日、利用 1日/23、週の評価 0/0週" in text
    assert "    7/14 1日2回の連絡の記録がそろっていません" in text
    assert "    7/14 作業終了時の確認(終了時間と成果)の支援記録がありません" in text
    assert "    利用日数が原則の日数(その月の日数−8日)を超えています(24>23日)" in text
    assert "    7/21 確認をおすすめする記録があります: 支援記録の内容(前回と同じ文面です)" in text
    assert "  土屋 司さん: 在宅利用の承認期間が7/20で終わります" in text
    assert "様式在-1" not in text  # nothing to report for June
    assert "2026-07分の在宅就労支援対象者リスト(様式在-1)の提出期限は8/15です" in august
    assert june.splitlines()[:2] == [
        "2026年6月の記録の確認(東大阪市)",
        "東大阪市の取扱いは2026年7月1日からのため、この月は全国基準で確認しています。",
    ]
