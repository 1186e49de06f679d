"""The pure rules at their edges (a whole month per profile is in test_inspection_month.py).

Each test names the rule it checks with the words of its source (../shared/domain/).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core import compliance
from bot.core.compliance import (
    SHEET_FIELDS,
    Code,
    Contact,
    DayFacts,
    EvaluationFacts,
    FlaggedEntry,
    MemberFacts,
    approval_problem,
    evaluate_month,
    monthly_evaluation,
    weeks_of,
)

FEB = date(2027, 2, 1)  # 28 days: at most 20 days used (原則の日数)
HO = compliance.profile("higashiosaka")
NATIONAL = compliance.profile("national")
SAPPORO = compliance.profile("sapporo")
HITACHI = compliance.profile("hitachi")
JST = timezone(timedelta(hours=9))
SOURCES = Path(__file__).resolve().parents[2] / "docs" / "sources"  # verbatim copies
DOMAIN = Path(__file__).resolve().parents[3] / "shared" / "domain"  # the project's originals


def at(d: date, hhmm: str) -> datetime:
    h, m = hhmm.split(":")
    return datetime(d.year, d.month, d.day, int(h), int(m), tzinfo=JST)


def checks(d: date, start: str = "10:00", end: str = "15:00", channel: str = "line") -> tuple:
    return (
        Contact("start_check", channel, at(d, start)),
        Contact("end_check", channel, at(d, end)),
    )


def zaitaku(d: date, *contacts: Contact, **kw: object) -> DayFacts:
    """A 在宅 day with the member's start and end checks (R2 met) plus `contacts`."""
    return DayFacts(d, "zaitaku", (*checks(d), *contacts), True, True, **kw)  # type: ignore[arg-type]


def _member(days: list[DayFacts], **kw: object) -> MemberFacts:
    base = MemberFacts(member_id=1, name="A", municipality="東大阪市",
                       approval_from=date(2027, 1, 1), approval_until=date(2027, 12, 31),
                       days=tuple(days))  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


def _findings(p: compliance.Profile, m: MemberFacts, month: date = FEB) -> set[tuple[Code, date]]:
    return {(f.code, f.day) for f in evaluate_month(p, month, [m], None).all_findings if f.day}


def _codes(p: compliance.Profile, m: MemberFacts, month: date = FEB) -> set[Code]:
    return {f.code for f in evaluate_month(p, month, [m], None).all_findings}


def test_profiles_are_data() -> None:
    assert set(compliance.PROFILES) == {"national", "higashiosaka", "hitachi", "sapporo"}
    assert compliance.PROFILES["sapporo"].counted_contacts == compliance.VOICE_CONTACTS
    assert HO.effective_from == date(2026, 7, 1) and HO.monthly_report_due_day == 15
    assert dict(HO.approval_max_months) == {"year": 12, "three_months": 3}
    with pytest.raises(ValueError):
        compliance.profile("tokyo")
    # a new municipality is a new row, not new code
    strict = replace(NATIONAL, min_tsusho_days_per_week=2)
    week = [zaitaku(date(2027, 2, 1)), DayFacts(date(2027, 2, 2), "tsusho")]
    evals = (EvaluationFacts(date(2027, 2, 2), "monthly", "tsusho"),)
    assert _codes(strict, _member(week, evaluations=evals)) == {Code.TSUSHO_WEEK_MISSING}


@pytest.mark.skipif(not DOMAIN.is_dir(), reason="the project's domain folder is not here")
def test_the_copied_sources_are_the_domain_files_unchanged() -> None:
    """docs/sources/ holds the quoted files verbatim; where the originals are at hand, prove it."""
    for copy in SOURCES.glob("00*.txt"):
        assert copy.read_bytes() == (DOMAIN / copy.name).read_bytes(), copy.name


def test_every_quoted_source_is_in_its_file_word_for_word() -> None:
    """Each profile's `Source.quote` is exact text of the file it names (spacing aside: the
    PDF extractions break lines mid-sentence)."""
    squash = re.compile(r"\s+")
    files = {p.name[:3]: squash.sub("", p.read_text()) for p in SOURCES.glob("00*.txt")}
    assert set(files) == {"001", "002", "003"}
    quoted = [s for p in compliance.PROFILES.values() for s in p.rules if s.quote]
    assert len(quoted) >= 15
    for s in quoted:
        number = re.search(r"domain/(00\d)", s.where)
        assert number, s
        assert squash.sub("", s.quote) in files[number.group(1)], s
    unquoted = [s for p in compliance.PROFILES.values() for s in p.rules if not s.quote]
    assert {s.rule for s in unquoted} == {"days_cap", "contacts"}  # national 原則の日数, Sapporo
    assert all("../shared/domain/" in s.where for s in unquoted)


# --- 原則の日数 and the approval period: every profile ---------------------------------------


@pytest.mark.parametrize("p", [NATIONAL, HO, HITACHI, SAPPORO], ids=lambda p: p.name)
@pytest.mark.parametrize(("used", "too_many"), [(20, False), (21, True)])
def test_days_in_month_minus_eight_under_every_profile(
    p: compliance.Profile, used: int, too_many: bool
) -> None:
    days = [DayFacts(date(2027, 2, 1 + i), "tsusho") for i in range(used)]
    m = _member(days, municipality="大阪市")  # no city's own rule: the national cap
    assert (Code.TOO_MANY_DAYS in _codes(p, m)) is too_many
    excepted = replace(m, days_exception="市が25日まで認めた(2027-01-20 届出)")
    result = evaluate_month(p, FEB, [excepted], None).members[0]
    assert Code.TOO_MANY_DAYS not in {f.code for f in result.findings}
    assert (result.max_days, result.days_exception) == (None, excepted.days_exception)


def test_approval_period_under_every_profile() -> None:
    day = date(2027, 2, 1)
    unknown = _member([zaitaku(day)], approval_from=None, approval_until=None)
    ended = _member([zaitaku(day)], approval_until=date(2027, 1, 31))
    for p in (NATIONAL, SAPPORO, HO, HITACHI):
        assert (Code.APPROVAL_UNKNOWN, day) in _findings(p, unknown)
        assert (Code.OUTSIDE_APPROVAL, day) in _findings(p, ended)


def test_three_month_approval_is_at_most_three_months() -> None:
    """東大阪市 【認定期間】: 「就労継続支援B型 1回3か月以内」「（更新不可。…）」."""
    day = date(2027, 2, 1)
    ok = _member([zaitaku(day)], approval_kind="three_months", approval_until=date(2027, 3, 31))
    long = replace(ok, approval_until=date(2027, 4, 1))  # from Jan 1: Mar 31 is the last day
    assert Code.APPROVAL_TOO_LONG not in _codes(HO, ok)
    found = [f for f in evaluate_month(HO, FEB, [long], None).all_findings
             if f.code is Code.APPROVAL_TOO_LONG]  # fmt: skip
    assert [f.detail for f in found] == ["three_months:2027-01-01..2027-04-01"]
    assert Code.APPROVAL_TOO_LONG not in _codes(NATIONAL, long)  # no such kind nationally
    year = replace(ok, approval_kind="year", approval_until=date(2027, 12, 31))
    assert Code.APPROVAL_TOO_LONG not in _codes(HO, year)
    assert Code.APPROVAL_TOO_LONG in _codes(HO, replace(year, approval_until=date(2028, 1, 1)))


def test_approval_problems_as_staff_enter_them() -> None:
    jul1, sep30, oct1 = date(2026, 7, 1), date(2026, 9, 30), date(2026, 10, 1)
    assert approval_problem("three_months", jul1, sep30) is None
    assert approval_problem("three_months", jul1, oct1) == "three_months"
    assert approval_problem("year", jul1, date(2027, 6, 30)) is None
    assert approval_problem(None, oct1, jul1) == "order"
    # a new period right after a three-month one: 「再度利用するためには3か月以上の期間が必要」
    assert approval_problem("three_months", oct1, date(2026, 12, 31), "three_months", sep30)
    assert approval_problem("year", date(2026, 12, 30), date(2027, 12, 29), "three_months", sep30)
    assert (
        approval_problem("year", date(2027, 1, 1), date(2027, 12, 31), "three_months", sep30)
        is None
    )
    assert approval_problem("year", oct1, date(2027, 9, 30), "year", sep30) is None


# --- R1: what counts as a contact -----------------------------------------------------------


def _day_result(p: compliance.Profile, day: DayFacts, **kw: object) -> compliance.MemberCompliance:
    return evaluate_month(p, FEB, [_member([day], **kw)], None).members[0]


def test_a_day_staff_covered_by_phone_counts_by_its_contacts() -> None:
    """001 イ 「１日２回は連絡、助言又は進捗状況の確認等」: staff calls are contacts too."""
    d = date(2027, 2, 1)
    calls = DayFacts(d, "zaitaku", (Contact("staff_contact", "phone", at(d, "10:05")),
                                    Contact("staff_contact", "phone", at(d, "15:10"))))  # fmt: skip
    assert _day_result(NATIONAL, calls).confirmed_days == (d,)
    one = replace(calls, contacts=calls.contacts[:1])
    assert _day_result(NATIONAL, one).unconfirmed_days == (d,)
    start_and_call = replace(one, contacts=(checks(d)[0], calls.contacts[1]))
    assert _day_result(NATIONAL, start_and_call).confirmed_days == (d,)


def test_contacts_at_the_same_moment_count_once_and_prompts_never() -> None:
    """「1日2回」 is two contacts, not two rows: a start and an end sent together are one."""
    d = date(2027, 2, 1)
    together = DayFacts(d, "zaitaku", checks(d, "15:00", "15:03"), True, True)
    assert _day_result(NATIONAL, together).unconfirmed_days == (d,)
    prompts = tuple(Contact("reminder", "line", at(d, t)) for t in ("10:00", "10:00", "15:00"))
    assert _day_result(NATIONAL, DayFacts(d, "zaitaku", prompts)).unconfirmed_days == (d,)
    took = Contact("alert_action", "slack", at(d, "11:00"))  # a click in Slack, not a contact
    signed = Contact("sign_off", "slack", at(d, "17:00"))
    day = DayFacts(d, "zaitaku", (checks(d)[0], took, signed))
    assert _day_result(NATIONAL, day).unconfirmed_days == (d,)
    resolved = Contact("alert_action", "phone", at(d, "11:30"))  # staff phoned to close it
    assert _day_result(NATIONAL, replace(day, contacts=(*day.contacts, resolved))).confirmed_days


def test_sapporo_counts_voice_and_video_not_text_alone() -> None:
    """札幌市の照会回答: LINE text alone is not one of the two, unless voice is hard."""
    d = date(2027, 2, 1)
    text_only = zaitaku(d, Contact("staff_contact", "message", at(d, "12:00")))
    one_call = zaitaku(d, Contact("staff_contact", "phone", at(d, "12:00")))
    two = zaitaku(d, Contact("staff_contact", "phone", at(d, "10:30")),
                  Contact("staff_contact", "video", at(d, "14:30")))  # fmt: skip
    eval_call = replace(one_call, contacts=(*one_call.contacts, Contact("evaluation", "phone")))
    for day, hard, counted in [
        (text_only, False, False),
        (one_call, False, False),
        (two, False, True),
        (eval_call, False, True),  # a phone evaluation is a voice contact too
        (text_only, True, True),
    ]:
        result = _day_result(SAPPORO, day, voice_contact_hard=hard)
        assert (result.confirmed_days == (d,)) is counted, (day.contacts, hard)
        assert _day_result(NATIONAL, day, voice_contact_hard=hard).confirmed_days == (d,)


# --- 事後記録: never silently "confirmed" ------------------------------------------------------


def test_a_day_confirmed_only_by_a_late_record_says_so() -> None:
    d = date(2027, 2, 1)
    late_call = Contact("staff_contact", "phone", at(d, "15:00"), late=True)
    day = DayFacts(d, "zaitaku", (checks(d)[0], late_call))
    result = _day_result(NATIONAL, day)
    assert (result.confirmed_days, result.confirmed_late_days) == ((), (d,))
    assert (Code.CONFIRMED_LATE, d) in _findings(NATIONAL, _member([day]))
    on_time = replace(day, contacts=(*checks(d), late_call))  # in time without the late one
    assert _day_result(NATIONAL, on_time).confirmed_days == (d,)
    late_report = replace(on_time, late_report=True)  # the 日報 itself entered afterwards
    assert _day_result(NATIONAL, late_report).confirmed_late_days == (d,)


def test_a_week_evaluated_only_afterwards_says_so() -> None:
    d = date(2027, 2, 1)
    late = EvaluationFacts(date(2027, 2, 3), "weekly", "phone", late=True)
    m = _member([zaitaku(d)], evaluations=(late,))
    result = evaluate_month(NATIONAL, FEB, [m], None).members[0]
    assert (result.weeks[0].evaluation, result.weeks[0].late_evaluation) == (None, late.day)
    assert (Code.WEEKLY_EVALUATION_LATE, d) in _findings(NATIONAL, m)
    assert (Code.WEEKLY_EVALUATION_MISSING, d) not in _findings(NATIONAL, m)


# --- R6 (カ, キ): the 評価シート ---------------------------------------------------------------


def test_monthly_evaluation_rules() -> None:
    d = date(2027, 2, 3)
    assert monthly_evaluation(NATIONAL, [EvaluationFacts(d, "weekly", "tsusho")]) == d
    assert monthly_evaluation(NATIONAL, [EvaluationFacts(d, "weekly", "visit")]) is None
    assert monthly_evaluation(NATIONAL, [EvaluationFacts(d, "weekly", "phone", True)]) is None
    assert monthly_evaluation(NATIONAL, [EvaluationFacts(d, "monthly", "visit")]) == d
    # キ 「あわせてカの評価等も行われた場合」: a 通所 weekly one stands in only with a full sheet
    partial = EvaluationFacts(d, "weekly", "tsusho", True, frozenset({"issues"}))
    assert monthly_evaluation(NATIONAL, [partial]) is None


def test_an_incomplete_monthly_sheet_is_shown_as_such() -> None:
    d, e = date(2027, 2, 1), date(2027, 2, 5)
    sheet = EvaluationFacts(e, "monthly", "visit", missing=frozenset({"plan", "continuation"}))
    m = _member([zaitaku(d)], evaluations=(sheet,))
    found = [f for f in evaluate_month(NATIONAL, FEB, [m], None).all_findings
             if f.code is Code.SHEET_INCOMPLETE]  # fmt: skip
    assert [(f.day, f.detail) for f in found] == [(e, "plan,continuation")]
    result = evaluate_month(NATIONAL, FEB, [m], None).members[0]
    assert (result.monthly_evaluation, result.monthly_sheet_missing) == (
        e,
        ("plan", "continuation"),
    )
    # a complete one the same month is the one that counts
    full = EvaluationFacts(date(2027, 2, 19), "monthly", "tsusho")
    assert Code.SHEET_INCOMPLETE not in _codes(NATIONAL, replace(m, evaluations=(sheet, full)))
    # its blank fields are not repeated as flagged entries
    flagged = replace(
        m, flagged=(FlaggedEntry(e, "plan", "empty"), FlaggedEntry(e, "goal", "vague"))
    )
    details = [f.detail for f in evaluate_month(NATIONAL, FEB, [flagged], None).all_findings
               if f.code is Code.FLAGGED_ENTRY]  # fmt: skip
    assert details == ["goal=vague"]
    late = replace(m, evaluations=(replace(full, late=True),))
    assert (Code.MONTHLY_EVALUATION_LATE, full.day) in _findings(NATIONAL, late)


# --- municipal rules -----------------------------------------------------------------------


def test_higashiosaka_starts_on_2026_07_01_and_only_for_its_members() -> None:
    june, july = date(2026, 6, 1), date(2026, 7, 1)
    days = [
        zaitaku(june + timedelta(days=i))
        for i in range(0, 28)
        if (june + timedelta(i)).weekday() < 5
    ]
    days += [
        zaitaku(july + timedelta(days=i))
        for i in range(0, 31)
        if (july + timedelta(i)).weekday() < 5
    ]
    mondays = [date(2026, 6, 1) + timedelta(weeks=w) for w in range(9)]
    evals = tuple(EvaluationFacts(d, "monthly", "visit") for d in mondays)
    m = _member(days, evaluations=evals, approval_from=date(2026, 1, 1))
    assert Code.TSUSHO_WEEK_MISSING not in _codes(HO, m, june)  # not yet in force
    assert evaluate_month(HO, june, [m], None).rules == "national"
    assert Code.TSUSHO_WEEK_MISSING in _codes(HO, m, july)
    osaka = replace(m, municipality="大阪市")
    assert Code.TSUSHO_WEEK_MISSING not in _codes(HO, osaka, july)
    assert evaluate_month(HO, july, [osaka], None).members[0].rules == "national"


def test_higashiosaka_wants_start_and_end_checks_as_support_records() -> None:
    """002 イ 「作業開始時における開始時間と作業内容の確認、作業終了時における
    終了時間と成果内容の確認は必ず行い支援記録を作成すること」; nationally only contacts count."""
    d = date(2027, 2, 1)
    calls = DayFacts(d, "zaitaku", (Contact("staff_contact", "phone", at(d, "10:05")),
                                    Contact("staff_contact", "phone", at(d, "15:10"))),
                     start_check=True)  # fmt: skip
    assert (Code.END_CHECK_MISSING, d) in _findings(HO, _member([calls]))
    assert (Code.START_CHECK_MISSING, d) not in _findings(HO, _member([calls]))
    assert not {Code.END_CHECK_MISSING, Code.START_CHECK_MISSING} & _codes(
        NATIONAL, _member([calls])
    )


def test_days_classified_at_check_in() -> None:
    """An unplanned day is not 在宅 until staff say what it was; 在宅 on a 通所 day is a
    finding where the plan must be kept (002 【留意事項】エ 「事前に個別支援計画に位置付け、
    計画的に利用すること」)."""
    d1, d2 = date(2027, 2, 1), date(2027, 2, 2)
    m = _member([zaitaku(d1, classification="unplanned"),
                 zaitaku(d2, classification="tsusho_day_at_home")])  # fmt: skip
    result = evaluate_month(HO, FEB, [m], None).members[0]
    assert (result.zaitaku_days, result.unplanned_days, result.days_used) == ((d2,), (d1,), 1)
    assert {(Code.UNPLANNED_DAY, d1), (Code.TSUSHO_DAY_AT_HOME, d2)} <= _findings(HO, m)
    national = _findings(NATIONAL, m)
    assert (Code.UNPLANNED_DAY, d1) in national and (Code.TSUSHO_DAY_AT_HOME, d2) not in national


def test_hitachi_days_before_the_notice_is_accepted_are_not_billable() -> None:
    """003 1 「事前に当市へ所定の様式により報告を行い、その内容が適当であると認められた場合に
    限り報酬算定の対象となります」."""
    days = [zaitaku(date(2027, 2, d)) for d in (1, 2, 3)]
    m = _member(days, municipality="日立市", notice_submitted_on=date(2027, 1, 25),
                notice_accepted_on=date(2027, 2, 3))  # fmt: skip
    found = _findings(HITACHI, m)
    assert {(Code.NOT_BILLABLE, date(2027, 2, d)) for d in (1, 2)} <= found
    assert (Code.NOT_BILLABLE, date(2027, 2, 3)) not in found
    pending = replace(m, notice_accepted_on=None)
    unknown = [f for f in evaluate_month(HITACHI, FEB, [pending], None).all_findings
               if f.code is Code.NOTICE_UNKNOWN]  # fmt: skip
    assert [f.detail for f in unknown] == ["2027-01-25"]
    assert not {Code.NOT_BILLABLE, Code.NOTICE_UNKNOWN} & _codes(NATIONAL, pending)
    assert not {Code.NOT_BILLABLE, Code.NOTICE_UNKNOWN} & _codes(
        HITACHI, replace(pending, municipality="水戸市")
    )


@pytest.mark.parametrize(("capacity", "limit"), [(20, 10), (11, 5), (1, 0)])
def test_zaitaku_share_rounds_down(capacity: int, limit: int) -> None:
    members = [_member([], member_id=i) for i in range(limit + 1)]
    over = evaluate_month(HO, FEB, members, capacity)
    assert over.max_zaitaku_users == limit
    assert [f.code for f in over.findings] == [Code.ZAITAKU_SHARE]
    ok = evaluate_month(HO, FEB, members[:limit], capacity)
    assert ok.findings == ()


def test_weeks_of_a_month() -> None:
    july = [(6, 29), (7, 6), (7, 13), (7, 20), (7, 27)]
    assert weeks_of(date(2026, 7, 15)) == tuple(date(2026, m, d) for m, d in july)
    assert weeks_of(date(2027, 2, 1)) == tuple(date(2027, 2, d) for d in (1, 8, 15, 22))


def test_approval_expiry_warns_under_every_profile() -> None:
    today = date(2027, 2, 10)
    m = _member([], municipality="大阪市", approval_until=date(2027, 3, 12))
    for p in (NATIONAL, SAPPORO, HO, HITACHI):
        (w,) = [w for w in compliance.warnings(p, today, [m]) if w.member_id]
        assert (w.code, w.day) == (Code.APPROVAL_EXPIRING, date(2027, 3, 12))
        later = replace(m, approval_until=date(2027, 3, 13))
        assert [w for w in compliance.warnings(p, today, [later]) if w.member_id] == []


# --- properties ----------------------------------------------------------------------------

_moments = st.builds(
    lambda d, minute: at(d, f"{9 + minute // 60}:{minute % 60}"),
    st.dates(date(2027, 1, 25), date(2027, 3, 7)),
    st.integers(0, 8 * 60),
)
_contacts = st.lists(
    st.builds(
        Contact,
        kind=st.sampled_from(["start_check", "end_check", "staff_contact", "reminder"]),
        channel=st.sampled_from(["line", "phone", "message", "video", "visit"]),
        at=_moments,
        late=st.booleans(),
    ),
    max_size=4,
)
_days = st.lists(
    st.builds(
        DayFacts,
        day=st.dates(date(2027, 1, 25), date(2027, 3, 7)),
        mode=st.sampled_from(["zaitaku", "tsusho"]),
        contacts=_contacts.map(tuple),
        start_check=st.booleans(),
        end_check=st.booleans(),
        classification=st.sampled_from([None, None, "unplanned", "tsusho_day_at_home"]),
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
        missing=st.frozensets(st.sampled_from(SHEET_FIELDS), max_size=2),
        late=st.booleans(),
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
    # every 在宅 day of the month is confirmed, confirmed late or missing, exactly one of them
    parts = [result.confirmed_days, result.confirmed_late_days, result.unconfirmed_days]
    assert sorted(d for part in parts for d in part) == sorted(result.zaitaku_days)
    assert all(d.month == 2 for d in result.zaitaku_days + result.tsusho_days)
    assert not set(result.unplanned_days) & set(result.zaitaku_days + result.tsusho_days)
    # contacts entered late never make a day confirmed
    in_time = [replace(d, contacts=tuple(c for c in d.contacts if not c.late)) for d in days]
    strict = evaluate_month(p, FEB, [replace(m, days=tuple(in_time))], 10).members[0]
    assert set(result.confirmed_days) == set(strict.confirmed_days)
    # more evaluations in time and complete never add a finding
    good = [replace(e, late=False, missing=frozenset()) for e in more]
    richer = evaluate_month(p, FEB, [replace(m, evaluations=tuple(evals + good))], 10)
    assert set(richer.members[0].findings) <= set(result.findings)
    # Sapporo is the national baseline with a stricter contact rule: never fewer findings
    national = evaluate_month(NATIONAL, FEB, [m], 10).members[0]
    sapporo = evaluate_month(SAPPORO, FEB, [m], 10).members[0]
    assert set(national.confirmed_days) >= set(sapporo.confirmed_days)
    stricter = {Code.CONTACTS_MISSING, Code.CONFIRMED_LATE}
    assert {f for f in national.findings if f.code not in stricter} == {
        f for f in sapporo.findings if f.code not in stricter
    }
