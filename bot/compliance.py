"""Compliance as data: what each municipality asks of 在宅 records, and a pure month check.

A `Profile` per municipality holds flags and thresholds (DESIGN §2); nothing here branches on
a city's name. `evaluate_month` turns one month of facts into findings per member, and
`warnings` says what falls due in the next few days. Pure: stdlib only, no clock reads.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from fractions import Fraction

ONSITE = frozenset({"visit", "tsusho"})  # R6: the monthly evaluation is on site
VOICE = frozenset({"phone", "video", "visit"})  # contacts that are more than LINE text


@dataclass(frozen=True)
class Profile:
    """The rules one municipality applies; `None` switches a check off."""

    name: str
    label: str
    sources: tuple[str, ...]
    # National baseline (留意事項通知): R1, R5, R6.
    weekly_evaluation: bool = True
    monthly_onsite_evaluation: bool = True
    onsite_methods: frozenset[str] = ONSITE
    weekly_by_tsusho_counts_as_monthly: bool = True
    # Sapporo: LINE text alone is not one of the day's contacts unless voice contact is hard.
    text_alone_counts: bool = True
    voice_channels: frozenset[str] = VOICE
    # Municipal additions (Higashi-Osaka).
    member_municipality: str | None = None  # member rules apply to this city's members only
    min_tsusho_days_per_week: int = 0
    days_off_per_month: int | None = None  # days used ≤ days in month − this
    max_zaitaku_share: Fraction | None = None  # 在宅 users ≤ share × capacity
    approval_period_check: bool = False
    monthly_report_due_day: int | None = None  # 様式在-1, due on this day of the next month
    # When to warn ahead of a deadline.
    weekly_evaluation_warn_weekday: int = 3  # Thursday
    monthly_evaluation_warn_day: int = 25
    approval_warn_days: int = 30
    report_warn_days: int = 5


NATIONAL_SOURCES = ("MHLW 留意事項通知 IV (domain/001)",)

PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(name="national", label="全国基準", sources=NATIONAL_SOURCES),
        Profile(
            name="higashiosaka",
            label="東大阪市",
            sources=(
                *NATIONAL_SOURCES,
                "東大阪市 在宅利用の支給決定の取扱い R8-07-01 (domain/002)",
            ),
            member_municipality="東大阪市",
            min_tsusho_days_per_week=1,
            days_off_per_month=8,
            max_zaitaku_share=Fraction(1, 2),
            approval_period_check=True,
            monthly_report_due_day=15,
        ),
        Profile(
            name="hitachi",
            label="日立市",
            sources=(
                *NATIONAL_SOURCES,
                "日立市 在宅支援の実施に関する留意事項 R8-02-02 (domain/003)",
            ),
        ),
        Profile(
            name="sapporo",
            label="札幌市",
            sources=(*NATIONAL_SOURCES, "札幌市の照会回答 (DESIGN §2)"),
            text_alone_counts=False,
        ),
    )
}


def profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}") from None


# --- facts in ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayFacts:
    """One day a member used the service: 在宅 or 通所, and which contacts were recorded."""

    day: date
    mode: str  # zaitaku | tsusho
    start_checked: bool = False
    end_checked: bool = False
    contact_channels: frozenset[str] = frozenset()  # channels of staff contacts that day


@dataclass(frozen=True)
class EvaluationFacts:
    day: date
    kind: str  # weekly | monthly
    method: str  # visit | tsusho | phone | ict
    counts_as_monthly: bool = False


@dataclass(frozen=True)
class MemberFacts:
    member_id: int
    name: str
    municipality: str | None = None
    approval_from: date | None = None
    approval_until: date | None = None
    voice_contact_hard: bool = False
    days: tuple[DayFacts, ...] = ()  # may reach into the weeks around the month
    evaluations: tuple[EvaluationFacts, ...] = ()


# --- findings out --------------------------------------------------------------------------


class Code(StrEnum):
    CONTACTS_MISSING = "contacts_missing"
    WEEKLY_EVALUATION_MISSING = "weekly_evaluation_missing"
    MONTHLY_EVALUATION_MISSING = "monthly_evaluation_missing"
    TSUSHO_WEEK_MISSING = "tsusho_week_missing"
    TOO_MANY_DAYS = "too_many_days"
    OUTSIDE_APPROVAL = "outside_approval"
    APPROVAL_UNKNOWN = "approval_unknown"
    ZAITAKU_SHARE = "zaitaku_share"
    # warnings ahead of a deadline
    WEEKLY_EVALUATION_DUE = "weekly_evaluation_due"
    MONTHLY_EVALUATION_DUE = "monthly_evaluation_due"
    APPROVAL_EXPIRING = "approval_expiring"
    MONTHLY_REPORT_DUE = "monthly_report_due"


@dataclass(frozen=True)
class Finding:
    code: Code
    member_id: int | None = None
    day: date | None = None  # the day, week start or deadline concerned
    detail: str = ""


@dataclass(frozen=True)
class WeekCheck:
    monday: date
    zaitaku_days: int
    tsusho_days: int
    evaluation: date | None
    required: bool  # a 在宅 day of this month falls in the week: an evaluation is due


@dataclass(frozen=True)
class MemberCompliance:
    member_id: int
    name: str
    rules_apply: bool  # municipal member rules (False: another city's member)
    zaitaku_days: tuple[date, ...]
    tsusho_days: tuple[date, ...]
    confirmed_days: tuple[date, ...]  # 在宅 days with both contacts as the profile counts them
    unconfirmed_days: tuple[date, ...]
    weeks: tuple[WeekCheck, ...]
    monthly_evaluation: date | None
    days_used: int
    max_days: int | None
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return not self.findings


@dataclass(frozen=True)
class MonthCompliance:
    profile: str
    month: date  # the first day
    members: tuple[MemberCompliance, ...]
    zaitaku_users: int
    capacity: int | None
    max_zaitaku_users: int | None
    findings: tuple[Finding, ...] = field(default=())  # facility-wide

    @property
    def all_findings(self) -> tuple[Finding, ...]:
        return self.findings + tuple(f for m in self.members for f in m.findings)


# --- the month check -----------------------------------------------------------------------


def month_days(month: date) -> tuple[date, date]:
    """First and last day of the month containing `month`."""
    first = month.replace(day=1)
    return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])


def weeks_of(month: date) -> tuple[date, ...]:
    """The Mondays of the weeks (Mon–Sun) that overlap the month."""
    first, last = month_days(month)
    monday = first - timedelta(days=first.weekday())
    out = []
    while monday <= last:
        out.append(monday)
        monday += timedelta(days=7)
    return tuple(out)


def fact_window(month: date) -> tuple[date, date]:
    """The dates whose facts `evaluate_month` looks at: whole weeks around the month."""
    mondays = weeks_of(month)
    return mondays[0], mondays[-1] + timedelta(days=6)


def day_confirmed(p: Profile, member: MemberFacts, d: DayFacts) -> bool:
    """Both daily contacts (R1/R2); under text-doesn't-count a voice contact is also needed."""
    if not (d.start_checked and d.end_checked):
        return False
    if p.text_alone_counts or member.voice_contact_hard:
        return True
    return bool(d.contact_channels & p.voice_channels)


def monthly_evaluation(p: Profile, evaluations: Sequence[EvaluationFacts]) -> date | None:
    """The first evaluation that counts as the month's on-site one (R6)."""
    for e in sorted(evaluations, key=lambda e: e.day):
        if e.method not in p.onsite_methods:
            continue
        if e.kind == "monthly" or e.counts_as_monthly:
            return e.day
        if p.weekly_by_tsusho_counts_as_monthly and e.method == "tsusho":
            return e.day
    return None


def _applies(p: Profile, m: MemberFacts) -> bool:
    return p.member_municipality is None or m.municipality == p.member_municipality


def evaluate_member(p: Profile, month: date, m: MemberFacts) -> MemberCompliance:
    first, last = month_days(month)
    in_month = [d for d in m.days if first <= d.day <= last]
    zaitaku = tuple(sorted(d.day for d in in_month if d.mode == "zaitaku"))
    tsusho = tuple(sorted(d.day for d in in_month if d.mode == "tsusho"))
    confirmed = tuple(
        sorted(d.day for d in in_month if d.mode == "zaitaku" and day_confirmed(p, m, d))
    )
    unconfirmed = tuple(d for d in zaitaku if d not in confirmed)
    applies = _applies(p, m)
    findings: list[Finding] = [Finding(Code.CONTACTS_MISSING, m.member_id, d) for d in unconfirmed]

    weeks = []
    for monday in weeks_of(month):
        sunday = monday + timedelta(days=6)
        week_days = [d for d in m.days if monday <= d.day <= sunday]
        z_in_month = [d for d in week_days if d.mode == "zaitaku" and first <= d.day <= last]
        evals = sorted(e.day for e in m.evaluations if monday <= e.day <= sunday)
        week = WeekCheck(
            monday=monday,
            zaitaku_days=sum(d.mode == "zaitaku" for d in week_days),
            tsusho_days=sum(d.mode == "tsusho" for d in week_days),
            evaluation=evals[0] if evals else None,
            required=bool(z_in_month),
        )
        weeks.append(week)
        if not week.required:
            continue  # no 在宅 day this week (in this month): nothing to evaluate
        if p.weekly_evaluation and week.evaluation is None:
            findings.append(Finding(Code.WEEKLY_EVALUATION_MISSING, m.member_id, monday))
        if applies and week.tsusho_days < p.min_tsusho_days_per_week:
            findings.append(Finding(Code.TSUSHO_WEEK_MISSING, m.member_id, monday))

    monthly = monthly_evaluation(p, [e for e in m.evaluations if first <= e.day <= last])
    if p.monthly_onsite_evaluation and zaitaku and monthly is None:
        findings.append(Finding(Code.MONTHLY_EVALUATION_MISSING, m.member_id, first))

    used = len(set(zaitaku) | set(tsusho))
    max_days = last.day - p.days_off_per_month if p.days_off_per_month is not None else None
    if applies and max_days is not None and used > max_days:
        findings.append(Finding(Code.TOO_MANY_DAYS, m.member_id, first, f"{used}>{max_days}"))

    if applies and p.approval_period_check and zaitaku:
        if m.approval_until is None:
            findings.append(Finding(Code.APPROVAL_UNKNOWN, m.member_id, first))
        else:
            findings.extend(
                Finding(Code.OUTSIDE_APPROVAL, m.member_id, d)
                for d in zaitaku
                if d > m.approval_until or (m.approval_from is not None and d < m.approval_from)
            )

    return MemberCompliance(
        member_id=m.member_id,
        name=m.name,
        rules_apply=applies,
        zaitaku_days=zaitaku,
        tsusho_days=tsusho,
        confirmed_days=confirmed,
        unconfirmed_days=unconfirmed,
        weeks=tuple(weeks),
        monthly_evaluation=monthly,
        days_used=used,
        max_days=max_days if applies else None,
        findings=tuple(findings),
    )


def is_zaitaku_user(month: date, m: MemberFacts) -> bool:
    """Counts towards the 在宅 share: a 在宅 day this month or an approval covering it."""
    first, last = month_days(month)
    if any(first <= d.day <= last and d.mode == "zaitaku" for d in m.days):
        return True
    if m.approval_until is None:
        return False
    return m.approval_until >= first and (m.approval_from is None or m.approval_from <= last)


def evaluate_month(
    p: Profile, month: date, members: Sequence[MemberFacts], capacity: int | None
) -> MonthCompliance:
    first, _ = month_days(month)
    results = tuple(evaluate_member(p, first, m) for m in members)
    users = sum(is_zaitaku_user(first, m) for m in members)
    limit = None
    findings: list[Finding] = []
    if p.max_zaitaku_share is not None and capacity is not None:
        limit = int(p.max_zaitaku_share * capacity)  # floor: 5 of capacity 11, not 5.5
        if users > limit:
            findings.append(Finding(Code.ZAITAKU_SHARE, None, first, f"{users}>{limit}"))
    return MonthCompliance(
        profile=p.name,
        month=first,
        members=results,
        zaitaku_users=users,
        capacity=capacity,
        max_zaitaku_users=limit,
        findings=tuple(findings),
    )


# --- warnings ahead of deadlines -----------------------------------------------------------


def warnings(p: Profile, today: date, members: Sequence[MemberFacts]) -> tuple[Finding, ...]:
    """What falls due soon, given the facts up to `today` (the facility's date)."""
    out: list[Finding] = []
    monday = today - timedelta(days=today.weekday())
    first, _ = month_days(today)
    for m in members:
        so_far = [d for d in m.days if d.day <= today]
        week_zaitaku = [d for d in so_far if monday <= d.day and d.mode == "zaitaku"]
        week_evals = [e for e in m.evaluations if monday <= e.day <= today]
        if (
            p.weekly_evaluation
            and today.weekday() >= p.weekly_evaluation_warn_weekday
            and week_zaitaku
            and not week_evals
        ):
            out.append(Finding(Code.WEEKLY_EVALUATION_DUE, m.member_id, monday + timedelta(6)))
        month_zaitaku = [d for d in so_far if first <= d.day and d.mode == "zaitaku"]
        month_evals = [e for e in m.evaluations if first <= e.day <= today]
        if (
            p.monthly_onsite_evaluation
            and today.day >= p.monthly_evaluation_warn_day
            and month_zaitaku
            and monthly_evaluation(p, month_evals) is None
        ):
            out.append(Finding(Code.MONTHLY_EVALUATION_DUE, m.member_id, month_days(today)[1]))
        if (
            _applies(p, m)
            and p.approval_period_check
            and m.approval_until is not None
            and 0 <= (m.approval_until - today).days <= p.approval_warn_days
        ):
            out.append(Finding(Code.APPROVAL_EXPIRING, m.member_id, m.approval_until))
    if p.monthly_report_due_day is not None:
        due = today.replace(day=p.monthly_report_due_day)
        if 0 <= (due - today).days <= p.report_warn_days:
            previous = (first - timedelta(days=1)).replace(day=1)
            out.append(Finding(Code.MONTHLY_REPORT_DUE, None, due, previous.isoformat()[:7]))
    return tuple(out)


# --- retention -----------------------------------------------------------------------------


def add_years(d: date, years: int) -> date:
    """The same day `years` later; 29 February becomes 28 February (民法143条)."""
    try:
        return d.replace(year=d.year + years)
    except ValueError:
        return d.replace(year=d.year + years, day=28)


def deletable(service_date: date, today: date, years: int) -> bool:
    """Kept `years` years from the service date; only what is older than that may go."""
    return add_years(service_date, years) < today


def retention_cutoff(today: date, years: int) -> date:
    """The oldest service date that must still be kept: `deletable(d) ⇔ d < cutoff`."""
    cutoff = add_years(today, -years)
    while not deletable(cutoff - timedelta(days=1), today, years):
        cutoff -= timedelta(days=1)
    while deletable(cutoff, today, years):
        cutoff += timedelta(days=1)
    return cutoff
