"""A simulated July on each rule profile: the compliance view and the warnings, by hand."""

from __future__ import annotations

from datetime import date

import pytest

from bot import compliance_report
from bot.compliance import Code, Finding
from storage.db import Database
from storage.models import Facility
from tests.records import scenario
from tests.records.scenario import AOKI_ZAITAKU, JULY, d

C = Code
# Findings every profile shares (the national baseline).
BASE = {
    ("aoki", C.CONTACTS_MISSING, d(14)),
    ("aoki", C.WEEKLY_EVALUATION_MISSING, d(13)),
    ("sakamoto", C.MONTHLY_EVALUATION_MISSING, d(1)),
    ("tsuchiya", C.WEEKLY_EVALUATION_MISSING, d(20)),
}
HIGASHIOSAKA = BASE | {
    ("aoki", C.TOO_MANY_DAYS, d(1)),
    ("tsuchiya", C.TSUSHO_WEEK_MISSING, d(20)),
    ("tsuchiya", C.OUTSIDE_APPROVAL, d(21)),
    (None, C.ZAITAKU_SHARE, d(1)),
}
# Sapporo: LINE text alone does not count; 青木 had a phone contact only on Jul 1 and Jul 8.
SAPPORO = BASE | {
    ("aoki", C.CONTACTS_MISSING, day) for day in AOKI_ZAITAKU if day not in (d(1), d(8))
}
EXPECTED = {
    "national": BASE,
    "hitachi": BASE,
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
    assert len(aoki.confirmed_days) == (2 if profile == "sapporo" else 17)
    sakamoto = m[ids.sakamoto]
    assert len(sakamoto.confirmed_days) == 23  # voice contact hard: text counts in Sapporo too
    assert sakamoto.monthly_evaluation is None
    chiba = m[ids.chiba]
    assert (chiba.zaitaku_days, chiba.tsusho_days, chiba.findings) == ((), (d(6),), ())
    assert m[ids.tsuchiya].monthly_evaluation == d(17)
    assert m[ids.eguchi].days_used == 0 and m[ids.eguchi].ok
    if profile == "higashiosaka":
        assert (view.zaitaku_users, view.max_zaitaku_users) == (4, 2)
        assert aoki.max_days == 23 and sakamoto.max_days is None  # 大阪市: not this city's rule
    else:
        assert view.max_zaitaku_users is None


@pytest.mark.parametrize(
    ("profile", "today", "expected"),
    [
        # Thursday of the week of Jul 13: 青木 and 土屋 have 在宅 days and no evaluation yet.
        (
            "national",
            16,
            {
                ("aoki", C.WEEKLY_EVALUATION_DUE, d(19)),
                ("tsuchiya", C.WEEKLY_EVALUATION_DUE, d(19)),
            },
        ),
        (
            "higashiosaka",
            16,
            {
                ("aoki", C.WEEKLY_EVALUATION_DUE, d(19)),
                ("tsuchiya", C.WEEKLY_EVALUATION_DUE, d(19)),
                ("aoki", C.APPROVAL_EXPIRING, date(2026, 8, 10)),
                ("tsuchiya", C.APPROVAL_EXPIRING, d(20)),
            },
        ),
        # Monday: too early for the weekly warning; the 様式在-1 for June is due on the 15th.
        (
            "higashiosaka",
            13,
            {
                (None, C.MONTHLY_REPORT_DUE, d(15)),
                ("aoki", C.APPROVAL_EXPIRING, date(2026, 8, 10)),
                ("tsuchiya", C.APPROVAL_EXPIRING, d(20)),
            },
        ),
        ("sapporo", 13, set()),
        # The 25th: 坂本 has no monthly evaluation; 土屋 has none this week; 土屋's approval ended.
        (
            "higashiosaka",
            25,
            {
                ("sakamoto", C.MONTHLY_EVALUATION_DUE, d(31)),
                ("tsuchiya", C.WEEKLY_EVALUATION_DUE, d(26)),
                ("aoki", C.APPROVAL_EXPIRING, date(2026, 8, 10)),
            },
        ),
        (
            "hitachi",
            25,
            {
                ("sakamoto", C.MONTHLY_EVALUATION_DUE, d(31)),
                ("tsuchiya", C.WEEKLY_EVALUATION_DUE, d(26)),
            },
        ),
    ],
)
async def test_warnings_before_deadlines(
    db: Database, profile: str, today: int, expected: set[tuple[str | None, Code, date]]
) -> None:
    ids = await scenario.build(db, profile, chat_day=False)
    async with db.transaction() as s:
        f = await s.get_one(Facility, ids.facility)
        found = await compliance_report.coming_deadlines(s, f, d(today))
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
    assert text.splitlines()[0] == "2026年7月の記録の確認(東大阪市)"
    assert "在宅利用者 4人 / 定員 4人(上限 2人)" in text
    assert (
        "- 青木 葵: 在宅 18日(連絡2回確認済み 17日)、通所 6日、利用 24日/23、"
        "週の評価 4/5週、月の評価 7/3"
    ) in text
    assert "- 千葉 智: 在宅 0日(連絡2回確認済み 0日)、通所 1日、利用 1日/23、週の評価 0/0週" in text
    assert "7/14 1日2回の連絡の記録がそろっていません" in text
    assert "2026-06分の在宅就労支援対象者リスト(様式在-1)の提出期限は7/15です" in text
