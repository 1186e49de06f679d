"""The pure rules at their edges (the whole month is in test_month.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import compliance
from bot.compliance import (
    Code,
    DayFacts,
    EvaluationFacts,
    MemberFacts,
    evaluate_month,
    monthly_evaluation,
    weeks_of,
)

FEB = date(2027, 2, 1)  # 28 days: at most 20 days used under Higashi-Osaka
HO = compliance.profile("higashiosaka")


def _member(days: list[DayFacts], **kw: object) -> MemberFacts:
    base = MemberFacts(member_id=1, name="A", municipality="東大阪市",
                       approval_until=date(2027, 12, 31), days=tuple(days))  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


def _codes(p: compliance.Profile, m: MemberFacts, month: date = FEB) -> set[Code]:
    return {f.code for f in evaluate_month(p, month, [m], None).all_findings}


def test_profiles_are_data() -> None:
    assert set(compliance.PROFILES) == {"national", "higashiosaka", "hitachi", "sapporo"}
    assert compliance.PROFILES["sapporo"].text_alone_counts is False
    assert HO.days_off_per_month == 8 and HO.monthly_report_due_day == 15
    with pytest.raises(ValueError):
        compliance.profile("tokyo")
    # a new municipality is a new row, not new code
    strict = replace(compliance.profile("national"), min_tsusho_days_per_week=2)
    week = [DayFacts(date(2027, 2, 1), "zaitaku", True, True), DayFacts(date(2027, 2, 2), "tsusho")]
    evals = (EvaluationFacts(date(2027, 2, 2), "monthly", "tsusho"),)
    assert _codes(strict, _member(week, evaluations=evals)) >= {Code.TSUSHO_WEEK_MISSING}


@pytest.mark.parametrize(("used", "too_many"), [(20, False), (21, True)])
def test_days_in_month_minus_eight(used: int, too_many: bool) -> None:
    days = [DayFacts(date(2027, 2, 1 + i), "tsusho") for i in range(used)]
    assert (Code.TOO_MANY_DAYS in _codes(HO, _member(days))) is too_many


@pytest.mark.parametrize(("capacity", "limit"), [(20, 10), (11, 5), (1, 0)])
def test_zaitaku_share_rounds_down(capacity: int, limit: int) -> None:
    members = [_member([], member_id=i, approval_from=date(2027, 1, 1)) for i in range(limit + 1)]
    over = evaluate_month(HO, FEB, members, capacity)
    assert over.max_zaitaku_users == limit
    assert [f.code for f in over.findings] == [Code.ZAITAKU_SHARE]
    ok = evaluate_month(HO, FEB, members[:limit], capacity)
    assert ok.findings == ()


def test_sapporo_needs_a_voice_contact_unless_it_is_hard() -> None:
    sapporo = compliance.profile("sapporo")
    text_only = DayFacts(date(2027, 2, 1), "zaitaku", True, True, frozenset({"message"}))
    phoned = replace(text_only, contact_channels=frozenset({"phone"}))
    for day, hard, counted in [
        (text_only, False, False),
        (phoned, False, True),
        (text_only, True, True),
    ]:
        m = _member([day], voice_contact_hard=hard)
        result = evaluate_month(sapporo, FEB, [m], None).members[0]
        assert (result.confirmed_days == (day.day,)) is counted
        national = evaluate_month(compliance.profile("national"), FEB, [m], None).members[0]
        assert national.confirmed_days == (day.day,)


def test_monthly_evaluation_rules() -> None:
    national = compliance.profile("national")
    d = date(2027, 2, 3)
    assert monthly_evaluation(national, [EvaluationFacts(d, "weekly", "tsusho")]) == d
    assert monthly_evaluation(national, [EvaluationFacts(d, "weekly", "visit")]) is None
    assert monthly_evaluation(national, [EvaluationFacts(d, "weekly", "phone", True)]) is None
    assert monthly_evaluation(national, [EvaluationFacts(d, "monthly", "visit")]) == d


def test_weeks_of_a_month() -> None:
    july = [(6, 29), (7, 6), (7, 13), (7, 20), (7, 27)]
    assert weeks_of(date(2026, 7, 15)) == tuple(date(2026, m, d) for m, d in july)
    assert weeks_of(date(2027, 2, 1)) == tuple(date(2027, 2, d) for d in (1, 8, 15, 22))


def test_other_cities_members_are_outside_the_municipal_rules() -> None:
    days = [DayFacts(date(2027, 2, 1 + i), "zaitaku", True, True) for i in range(25)]
    evals = tuple(EvaluationFacts(date(2027, 2, 1 + 7 * w), "monthly", "visit") for w in range(4))
    mine = _codes(HO, _member(days, evaluations=evals))
    assert {Code.TOO_MANY_DAYS, Code.TSUSHO_WEEK_MISSING} <= mine
    osaka = _codes(HO, _member(days, evaluations=evals, municipality="大阪市"))
    assert osaka == set()


_days = st.lists(
    st.builds(
        DayFacts,
        day=st.dates(date(2027, 1, 25), date(2027, 3, 7)),
        mode=st.sampled_from(["zaitaku", "tsusho"]),
        start_checked=st.booleans(),
        end_checked=st.booleans(),
        contact_channels=st.frozensets(st.sampled_from(["phone", "message", "video", "visit"])),
    ),
    max_size=25,
    unique_by=lambda d: d.day,
)
_evals = st.lists(
    st.builds(
        EvaluationFacts,
        day=st.dates(date(2027, 1, 25), date(2027, 3, 7)),
        kind=st.sampled_from(["weekly", "monthly"]),
        method=st.sampled_from(["visit", "tsusho", "phone", "ict"]),
    ),
    max_size=6,
)


@given(_days, _evals, _evals, st.sampled_from(sorted(compliance.PROFILES)))
def test_properties_of_the_month(
    days: list[DayFacts],
    evals: list[EvaluationFacts],
    more: list[EvaluationFacts],
    name: str,
) -> None:
    p = compliance.profile(name)
    m = _member(days, evaluations=tuple(evals))
    result = evaluate_month(p, FEB, [m], 10).members[0]
    # every 在宅 day of the month is either confirmed or not, never both
    assert set(result.confirmed_days) | set(result.unconfirmed_days) == set(result.zaitaku_days)
    assert not set(result.confirmed_days) & set(result.unconfirmed_days)
    assert all(d.month == 2 for d in result.zaitaku_days + result.tsusho_days)
    # more evaluations never add a finding
    richer = evaluate_month(p, FEB, [replace(m, evaluations=tuple(evals + more))], 10)
    assert set(richer.members[0].findings) <= set(result.findings)
    # Sapporo is the national baseline plus the voice rule: never fewer findings
    national = evaluate_month(compliance.profile("national"), FEB, [m], 10).members[0]
    sapporo = evaluate_month(compliance.profile("sapporo"), FEB, [m], 10).members[0]
    assert set(national.findings) <= set(sapporo.findings)
