"""Compliance as data: what each municipality asks of 在宅 records, and a pure month check.

A `Profile` per municipality holds the rules as values (which contacts count, which fields a
評価シート needs, the day cap, …) with the words of their sources (`Source`); nothing here
branches on a city's name. `evaluate_month` turns one month of facts into findings per
member, and `warnings` says what falls due in the next few days. Pure: stdlib only, no clock
reads.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from fractions import Fraction

from bot.core.domain import EVALUATION_CONTACT_METHODS, ONSITE_CONTACT_METHODS

ANY = "*"  # a contact kind that counts on whatever channel it came
SHEET_FIELDS = ("goal", "activities", "achievement", "issues", "plan", "health_notes",
                "continuation")  # fmt: skip
ONSITE = frozenset(ONSITE_CONTACT_METHODS)  # R6: the monthly evaluation is on site
WEEKLY_METHODS = frozenset(EVALUATION_CONTACT_METHODS)  # R5: 訪問・通所・電話・ICT

# (支援記録 kind, channel) pairs that are a contact with the member (R1). The member's own
# start and end checks count on any platform; staff count when they reached the member (a
# Slack click to take an alert is not a contact, nor is a sign-off or a reminder).
STAFF_REACHED = ("phone", "video", "visit", "message", "tsusho")
NATIONAL_CONTACTS = frozenset(
    {("start_check", ANY), ("end_check", ANY)}
    | {("staff_contact", c) for c in STAFF_REACHED}
    | {("alert_action", c) for c in ("phone", "video", "visit", "message")}
    | {("evaluation", c) for c in ("phone", "visit", "tsusho", "ict")}
)
# Contacts by voice or in person only (Sapporo: LINE text alone is not one of the two).
VOICE_CONTACTS = frozenset(
    {("staff_contact", c) for c in ("phone", "video", "visit", "tsusho")}
    | {("alert_action", c) for c in ("phone", "video", "visit")}
    | {("evaluation", c) for c in ("phone", "visit", "tsusho")}
)


@dataclass(frozen=True)
class Source:
    """One rule as Nippo reads it, and where it comes from: the file and its exact words
    (`quote` is empty when no file in ../shared/domain/ holds the text)."""

    rule: str
    summary: str
    where: str
    quote: str = ""


@dataclass(frozen=True)
class Profile:
    """The rules one municipality applies; `None` (or 0, or an empty set) switches one off."""

    name: str
    label: str
    rules: tuple[Source, ...] = ()
    # Municipal rules start on `effective_from` and apply to `member_municipality`'s members;
    # other members, and every month before, are checked under `base`.
    base: str | None = None
    effective_from: date | None = None
    member_municipality: str | None = None
    # R1 (イ): two contacts a day, as (kind, channel) pairs; contacts within a few minutes of
    # each other (one message that started and ended the day, a call logged twice) count once.
    contacts_per_day: int = 2
    counted_contacts: frozenset[tuple[str, str]] = NATIONAL_CONTACTS
    counted_if_voice_hard: frozenset[tuple[str, str]] = NATIONAL_CONTACTS
    same_contact_minutes: int = 5
    # R2: start check (time + work content) and end check (time + outputs) as 支援記録.
    start_end_checks: bool = False
    # R5 (オ) and R6 (カ, キ).
    weekly_evaluation: bool = True
    weekly_methods: frozenset[str] = WEEKLY_METHODS
    monthly_onsite_evaluation: bool = True
    onsite_methods: frozenset[str] = ONSITE
    sheet_fields: tuple[str, ...] = SHEET_FIELDS
    weekly_by_tsusho_counts_as_monthly: bool = True
    # 原則の日数: days used (在宅+通所) ≤ days in month − this, unless an exception was notified.
    days_off_per_month: int | None = 8
    approval_period_check: bool = True
    # Approval kinds and their longest period in months (東大阪市: 1 year, 3 months).
    approval_max_months: tuple[tuple[str, int], ...] = ()
    min_tsusho_days_per_week: int = 0
    planned_use_only: bool = False  # 在宅 on a planned 通所 day is a finding
    prior_notice_required: bool = False  # 在宅 days before the city accepted the 届出 don't bill
    max_zaitaku_share: Fraction | None = None  # 在宅 users ≤ share × capacity
    monthly_report_due_day: int | None = None  # 様式在-1, due on this day of the next month
    # When to warn ahead of a deadline.
    weekly_evaluation_warn_weekday: int = 3  # Thursday
    monthly_evaluation_warn_day: int = 25
    approval_warn_days: int = 30
    report_warn_days: int = 5


# --- the profiles and their sources --------------------------------------------------------

MHLW = "domain/001 (MHLW 留意事項通知 IV ①)"
HO = "domain/002 (東大阪市 在宅利用の支給決定の取扱い)"
HT = "domain/003 (日立市 在宅支援の実施に関する留意事項)"

NATIONAL_RULES = (
    Source(
        "contacts",
        "在宅の日は1日2回の連絡と日報",
        f"{MHLW} イ",
        "１日２回は連絡、助言又は進捗状況の確認等のその他の支援が行われ、日報が作成されていること",
    ),
    Source(
        "weekly_evaluation",
        "週1回の評価(訪問・通所・電話・ICT)",
        f"{MHLW} オ",
        "事業所職員による訪問、在宅利用者による通所又は電話・パソコン等のＩＣＴ機器の活用により、"
        "評価等を 1 週間につき１回は行うこと",
    ),
    Source(
        "monthly_evaluation",
        "月1回、訪問か通所で訓練目標に対する達成度の評価",
        f"{MHLW} カ",
        "原則として月の利用日数のうち１日は事業所職員による訪問又は在宅利用者による通所により、"
        "在宅利用者の居宅又は事業所内において訓練目標に対する達成度の評価等を行うこと",
    ),
    Source(
        "weekly_by_tsusho",
        "通所による週の評価が月の評価も兼ねるとき、月の評価に代えられる",
        f"{MHLW} キ",
        "オが通所により行われ、あわせてカの評価等も行われた場合、カによる通所に置き換えて差し支えない",
    ),
    Source(
        "approval",
        "在宅利用は市町村が認めた期間だけ",
        "domain/001 (留意事項通知の要件のまとめ)",
        "在宅でのサービスによる支援効果が認められると市町村が判断した利用者",
    ),
    Source(
        "days_cap",
        "利用日数(在宅+通所)は原則の日数(当該月の日数−8日)まで(例外の届出がない限り)",
        "厚生労働省の支給決定の取扱い(原則の日数)。../shared/domain/ にその本文はなく、"
        "東大阪市が同じ上限を定めている(domain/002 【支給量】)",
    ),
    Source(
        "combining",
        "在宅と通所の組み合わせは認められている(全国基準では予定外の在宅を指摘しない)",
        "domain/001 (留意事項通知 IV ② ア)",
        "在宅と通所に支援を組み合わせることも可能であること",
    ),
)

HIGASHIOSAKA_RULES = (
    Source("effective_from", "2026-07-01 から", f"{HO} 2", "2 適用開始日 令和8年7月1日（水）"),
    Source(
        "members",
        "東大阪市が支給決定した利用者だけ",
        f"{HO} 【留意事項】ア",
        "本取扱いの対象者は、東大阪市で支給決定を受けている利用者に限る",
    ),
    Source(
        "start_end_checks",
        "開始確認(時刻と作業内容)と終了確認(時刻と成果)を支援記録に",
        f"{HO} 【事業所の要件】イ",
        "作業開始時における開始時間と作業内容の確認、作業終了時における終了時間と成果内容の確認は"
        "必ず行い支援記録を作成すること",
    ),
    Source(
        "sheet",
        "評価シートの7項目",
        f"{HO} 【事業所の要件】カ",
        "訓練目標、取組内容、訓練目標に対する達成度、課題、今後における課題の改善方針、"
        "健康面・体調面での留意事項、在宅就労継続の妥当性を記載した評価シートを作成すること",
    ),
    Source(
        "tsusho_week",
        "週1日以上は通所",
        f"{HO} 1 【支給決定を検討するにあたり…】",
        "週のうち1日以上は通所によりサービス利用することを原則とすること",
    ),
    Source(
        "days_cap",
        "利用日数(在宅+通所)は当該月の日数−8日まで",
        f"{HO} 【支給量】",
        "1カ月の支給量は、在宅利用と通所を合算して当該月-8日を超えないものとする",
    ),
    Source("approval_year", "承認期間 1年", f"{HO} 【認定期間】", "就労継続支援B型 1年間"),
    Source(
        "approval_three_months",
        "承認期間 3か月以内、更新不可",
        f"{HO} 【認定期間】",
        "就労継続支援B型 1回3か月以内",
    ),
    Source(
        "approval_three_months_renewal",
        "3か月の承認は更新できず、次まで3か月以上あける",
        f"{HO} 【認定期間】",
        "（更新不可。再度利用するためには3か月以上の期間が必要。）",
    ),
    Source(
        "planned_use",
        "在宅と通所は計画どおりに(その日の都合で変えない)",
        f"{HO} 【留意事項】エ",
        "自由に変更するものではなく、事前に個別支援計画に位置付け、計画的に利用すること",
    ),
    Source(
        "share",
        "在宅利用者は定員の5割まで(他市の利用者も数える)",
        f"{HO} 【定員に対する在宅利用の割合】",
        "在宅利用の支給決定者数は、定員の5割を超えないものとする",
    ),
    Source(
        "monthly_report",
        "様式在-1 を翌月15日までに(2026年7月分から)",
        f"{HO} 3 提出書類",
        "令和8年7月サービス提供分から報告開始（提出期限：令和8年8月15日）",
    ),
)

HITACHI_RULES = (
    Source(
        "members",
        "日立市に届け出た在宅支援の利用者",
        f"{HT} 3",
        "在宅支援の利用を希望する場合は、別添「就労移行支援・就労継続支援(A型・B型)における"
        "在宅支援利用届出書」の提出を義務付けます",
    ),
    Source(
        "prior_notice",
        "届出が受理される前の在宅利用は報酬算定の対象外",
        f"{HT} 1",
        "在宅支援の開始にあたっては、事前に当市へ所定の様式により報告を行い、"
        "その内容が適当であると認められた場合に限り報酬算定の対象となります",
    ),
    Source(
        "contacts",
        "1日2回以上の連絡と日報",
        f"{HT} 2 (3)",
        "利用者に対し、1日2回以上の連絡、助言、または進捗状況の確認等の支援を行い、日報を作成すること",
    ),
    Source(
        "weekly_by_tsusho",
        "通所による週の評価は月の評価を兼ねられる",
        f"{HT} 2 (5)イ",
        "なお、週1回の評価を通所により行い、月1回の評価を兼ねることも可能とする",
    ),
)

SAPPORO_RULES = (
    Source(
        "contacts",
        "LINE などの文字だけのやりとりは1日2回の連絡に数えない"
        "(音声での連絡が難しい障害のある方を除く)。職員の電話・ビデオ・訪問・通所は数え、電話での評価は週の評価になる",
        "札幌市が事業所の照会に答えたもの(行政書士事務所が公開)。"
        "../shared/domain/ にその本文を収めたファイルはない(DESIGN §2 の要約による)",
    ),
)

PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(name="national", label="全国基準", rules=NATIONAL_RULES),
        Profile(
            name="higashiosaka",
            label="東大阪市",
            rules=NATIONAL_RULES + HIGASHIOSAKA_RULES,
            base="national",
            effective_from=date(2026, 7, 1),
            member_municipality="東大阪市",
            start_end_checks=True,
            min_tsusho_days_per_week=1,
            approval_max_months=(("year", 12), ("three_months", 3)),
            planned_use_only=True,
            max_zaitaku_share=Fraction(1, 2),
            monthly_report_due_day=15,
        ),
        Profile(
            name="hitachi",
            label="日立市",
            rules=NATIONAL_RULES + HITACHI_RULES,
            base="national",
            member_municipality="日立市",
            prior_notice_required=True,
        ),
        Profile(
            name="sapporo",
            label="札幌市",
            rules=NATIONAL_RULES + SAPPORO_RULES,
            counted_contacts=VOICE_CONTACTS,
        ),
    )
}


def profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}") from None


def in_force(p: Profile, month: date) -> bool:
    return p.effective_from is None or month_days(month)[1] >= p.effective_from


def rules_for(p: Profile, month: date, m: MemberFacts | None = None) -> Profile:
    """The profile a member's month is checked under: the municipal one when it is in force
    and the member is that city's (with no member: the facility-wide rules), else its base."""
    applies = m is None or p.member_municipality is None or m.municipality == p.member_municipality
    if in_force(p, month) and applies:
        return p
    return profile(p.base) if p.base else p


# --- facts in ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Contact:
    """One 支援記録 (or evaluation) that may be a contact with the member."""

    kind: str  # start_check | end_check | staff_contact | alert_action | evaluation | …
    channel: str  # line | slack | console | phone | video | visit | message | tsusho | ict …
    at: datetime | None = None  # the moment it describes; None: only the day is known
    late: bool = False  # 事後記録: entered after the facility's grace


@dataclass(frozen=True)
class DayFacts:
    """One day a member used the service (or reported on), with the day's contacts."""

    day: date
    mode: str  # zaitaku | tsusho
    contacts: tuple[Contact, ...] = ()
    start_check: bool = False  # R2: a start check with the start time and the work content
    end_check: bool = False  # R2: an end check with the end time and the outputs
    classification: str | None = None  # unplanned | tsusho_day_at_home (set at check-in)
    late_report: bool = False  # the 日報 itself is a 事後記録


@dataclass(frozen=True)
class EvaluationFacts:
    day: date
    kind: str  # weekly | monthly
    method: str  # visit | tsusho | phone | ict
    counts_as_monthly: bool = False
    missing: frozenset[str] = frozenset()  # 評価シート fields left blank
    late: bool = False  # 事後記録


@dataclass(frozen=True)
class FlaggedEntry:
    """A text an inspector would doubt (empty, 特になし, copied), as the record flags it."""

    day: date
    field: str
    reason: str


@dataclass(frozen=True)
class MemberFacts:
    member_id: int
    name: str
    municipality: str | None = None
    approval_from: date | None = None
    approval_until: date | None = None
    approval_kind: str | None = None  # year | three_months
    voice_contact_hard: bool = False
    days_exception: str | None = None  # a notified exception to 原則の日数
    notice_submitted_on: date | None = None  # 事前届出 (日立市)
    notice_accepted_on: date | None = None
    days: tuple[DayFacts, ...] = ()  # may reach into the weeks around the month
    evaluations: tuple[EvaluationFacts, ...] = ()
    flagged: tuple[FlaggedEntry, ...] = ()


# --- findings out --------------------------------------------------------------------------


class Code(StrEnum):
    CONTACTS_MISSING = "contacts_missing"
    CONFIRMED_LATE = "confirmed_late"
    START_CHECK_MISSING = "start_check_missing"
    END_CHECK_MISSING = "end_check_missing"
    UNPLANNED_DAY = "unplanned_day"
    TSUSHO_DAY_AT_HOME = "tsusho_day_at_home"
    FLAGGED_ENTRY = "flagged_entry"
    NOT_BILLABLE = "not_billable"
    NOTICE_UNKNOWN = "notice_unknown"
    WEEKLY_EVALUATION_MISSING = "weekly_evaluation_missing"
    WEEKLY_EVALUATION_LATE = "weekly_evaluation_late"
    MONTHLY_EVALUATION_MISSING = "monthly_evaluation_missing"
    MONTHLY_EVALUATION_LATE = "monthly_evaluation_late"
    SHEET_INCOMPLETE = "sheet_incomplete"
    TSUSHO_WEEK_MISSING = "tsusho_week_missing"
    TOO_MANY_DAYS = "too_many_days"
    OUTSIDE_APPROVAL = "outside_approval"
    APPROVAL_UNKNOWN = "approval_unknown"
    APPROVAL_TOO_LONG = "approval_too_long"
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
    evaluation: date | None  # the first evaluation entered in time
    required: bool  # a 在宅 day of this month falls in the week: an evaluation is due
    late_evaluation: date | None = None  # only a 事後記録 evaluation this week


@dataclass(frozen=True)
class MemberCompliance:
    member_id: int
    name: str
    rules: str  # the profile the member's month was checked under
    zaitaku_days: tuple[date, ...]
    tsusho_days: tuple[date, ...]
    confirmed_days: tuple[date, ...]  # 在宅 days with both contacts, entered in time
    unconfirmed_days: tuple[date, ...]
    weeks: tuple[WeekCheck, ...]
    monthly_evaluation: date | None
    days_used: int
    max_days: int | None
    findings: tuple[Finding, ...]
    confirmed_late_days: tuple[date, ...] = ()  # both contacts only with a 事後記録
    unplanned_days: tuple[date, ...] = ()  # staff have not said yet what the day was
    monthly_evaluation_late: bool = False
    monthly_sheet_missing: tuple[str, ...] = ()
    days_exception: str | None = None

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
    rules: str = ""  # the facility-wide rules of the month (the base before effective_from)

    @property
    def all_findings(self) -> tuple[Finding, ...]:
        return self.findings + tuple(f for m in self.members for f in m.findings)


# --- dates ---------------------------------------------------------------------------------


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


def add_months(d: date, months: int) -> date:
    """The same day `months` later, or the month's last day when it has no such day."""
    y, m = divmod(d.month - 1 + months, 12)
    first = date(d.year + y, m + 1, 1)
    return first.replace(day=min(d.day, month_days(first)[1].day))


def approval_limit(start: date, months: int) -> date:
    """The last day of an approval of `months` months from `start` (3 months from Jul 1:
    Sep 30)."""
    return add_months(start, months) - timedelta(days=1)


# --- contacts (R1, R2) ---------------------------------------------------------------------


def _counted(rule: frozenset[tuple[str, str]], c: Contact) -> bool:
    return (c.kind, c.channel) in rule or (c.kind, ANY) in rule


def contact_count(p: Profile, m: MemberFacts, d: DayFacts, *, in_time_only: bool) -> int:
    """The day's distinct contacts as the profile counts them: contacts within
    `same_contact_minutes` of each other are one (one message, one call logged twice)."""
    rule = p.counted_if_voice_hard if m.voice_contact_hard else p.counted_contacts
    counted = [c for c in d.contacts if _counted(rule, c) and not (in_time_only and c.late)]
    untimed = sum(c.at is None for c in counted)
    moments = sorted(c.at for c in counted if c.at is not None)
    window = timedelta(minutes=p.same_contact_minutes)
    distinct, last = 0, None
    for at in moments:
        if last is None or at - last > window:
            distinct += 1
            last = at
    return distinct + untimed


def day_status(p: Profile, m: MemberFacts, d: DayFacts) -> str:
    """confirmed | late (both contacts only with a 事後記録) | missing."""
    if contact_count(p, m, d, in_time_only=False) < p.contacts_per_day:
        return "missing"
    if d.late_report or contact_count(p, m, d, in_time_only=True) < p.contacts_per_day:
        return "late"
    return "confirmed"


# --- evaluations (R5, R6) ------------------------------------------------------------------


def sheet_missing(p: Profile, e: EvaluationFacts) -> tuple[str, ...]:
    return tuple(f for f in p.sheet_fields if f in e.missing)


def stands_for_monthly(p: Profile, e: EvaluationFacts) -> bool:
    """A monthly evaluation on site, or (キ) a weekly one by 通所 whose sheet is complete."""
    if e.method not in p.onsite_methods:
        return False
    if e.kind == "monthly":
        return True
    by_tsusho = e.counts_as_monthly or e.method == "tsusho"
    return p.weekly_by_tsusho_counts_as_monthly and by_tsusho and not sheet_missing(p, e)


def monthly_choice(p: Profile, evaluations: Sequence[EvaluationFacts]) -> EvaluationFacts | None:
    """The evaluation that stands for the month's: complete and in time first, then the
    earliest."""
    candidates = [e for e in evaluations if stands_for_monthly(p, e)]
    if not candidates:
        return None
    return min(candidates, key=lambda e: (bool(sheet_missing(p, e)), e.late, e.day))


def monthly_evaluation(p: Profile, evaluations: Sequence[EvaluationFacts]) -> date | None:
    """The day of the evaluation that counts as the month's on-site one (R6), if any."""
    chosen = monthly_choice(p, evaluations)
    return chosen.day if chosen else None


# --- the month check -----------------------------------------------------------------------


def _day_findings(p: Profile, m: MemberFacts, d: DayFacts, status: str) -> list[Finding]:
    out: list[Finding] = []
    if status == "missing":
        out.append(Finding(Code.CONTACTS_MISSING, m.member_id, d.day))
    elif status == "late":
        out.append(Finding(Code.CONFIRMED_LATE, m.member_id, d.day))
    if p.start_end_checks and not d.start_check:
        out.append(Finding(Code.START_CHECK_MISSING, m.member_id, d.day))
    if p.start_end_checks and not d.end_check:
        out.append(Finding(Code.END_CHECK_MISSING, m.member_id, d.day))
    if p.planned_use_only and d.classification == "tsusho_day_at_home":
        out.append(Finding(Code.TSUSHO_DAY_AT_HOME, m.member_id, d.day))
    return out


def _approval_findings(
    p: Profile, m: MemberFacts, first: date, zaitaku: Sequence[date]
) -> list[Finding]:
    if not (p.approval_period_check and zaitaku):
        return []
    if m.approval_until is None:
        return [Finding(Code.APPROVAL_UNKNOWN, m.member_id, first)]
    out = [
        Finding(Code.OUTSIDE_APPROVAL, m.member_id, d)
        for d in zaitaku
        if d > m.approval_until or (m.approval_from is not None and d < m.approval_from)
    ]
    months = dict(p.approval_max_months).get(m.approval_kind or "")
    if months and m.approval_from and m.approval_until > approval_limit(m.approval_from, months):
        detail = f"{m.approval_kind}:{m.approval_from.isoformat()}..{m.approval_until.isoformat()}"
        out.append(Finding(Code.APPROVAL_TOO_LONG, m.member_id, first, detail))
    return out


def _notice_findings(
    p: Profile, m: MemberFacts, first: date, zaitaku: Sequence[date]
) -> list[Finding]:
    if not (p.prior_notice_required and zaitaku):
        return []
    if m.notice_accepted_on is None:
        submitted = m.notice_submitted_on.isoformat() if m.notice_submitted_on else ""
        return [Finding(Code.NOTICE_UNKNOWN, m.member_id, first, submitted)]
    return [Finding(Code.NOT_BILLABLE, m.member_id, d) for d in zaitaku if d < m.notice_accepted_on]


def _flag_findings(
    m: MemberFacts, first: date, last: date, covered: set[tuple[date, str]]
) -> list[Finding]:
    """One finding per day with doubtful entries; blank sheet fields already reported as an
    incomplete sheet are not repeated."""
    by_day: dict[date, set[str]] = {}
    for f in m.flagged:
        if first <= f.day <= last and (f.day, f.field) not in covered:
            by_day.setdefault(f.day, set()).add(f"{f.field}={f.reason}")
    return [
        Finding(Code.FLAGGED_ENTRY, m.member_id, day, ",".join(sorted(items)))
        for day, items in sorted(by_day.items())
    ]


def _week(
    p: Profile, m: MemberFacts, monday: date, zaitaku: Sequence[date]
) -> tuple[WeekCheck, list[Finding]]:
    """R5 and the 通所 day of one week; `zaitaku` are the month's 在宅 days."""
    sunday = monday + timedelta(days=6)
    days = [d for d in m.days if monday <= d.day <= sunday and d.classification != "unplanned"]
    evals = sorted(
        (e for e in m.evaluations if monday <= e.day <= sunday and e.method in p.weekly_methods),
        key=lambda e: e.day,
    )
    in_time = [e.day for e in evals if not e.late]
    week = WeekCheck(
        monday=monday,
        zaitaku_days=sum(d.mode == "zaitaku" for d in days),
        tsusho_days=sum(d.mode == "tsusho" for d in days),
        evaluation=in_time[0] if in_time else None,
        required=any(monday <= d <= sunday for d in zaitaku),
        late_evaluation=evals[0].day if evals and not in_time else None,
    )
    if not week.required:
        return week, []  # no 在宅 day this week (in this month): nothing to evaluate
    out = []
    if p.weekly_evaluation and week.evaluation is None:
        late = week.late_evaluation is not None
        code = Code.WEEKLY_EVALUATION_LATE if late else Code.WEEKLY_EVALUATION_MISSING
        out.append(Finding(code, m.member_id, monday))
    if week.tsusho_days < p.min_tsusho_days_per_week:
        out.append(Finding(Code.TSUSHO_WEEK_MISSING, m.member_id, monday))
    return week, out


def _monthly_findings(
    m: MemberFacts, first: date, chosen: EvaluationFacts | None, missing: Sequence[str]
) -> list[Finding]:
    if chosen is None:
        return [Finding(Code.MONTHLY_EVALUATION_MISSING, m.member_id, first)]
    out = []
    if missing:
        out.append(Finding(Code.SHEET_INCOMPLETE, m.member_id, chosen.day, ",".join(missing)))
    if chosen.late:
        out.append(Finding(Code.MONTHLY_EVALUATION_LATE, m.member_id, chosen.day))
    return out


def evaluate_member(p: Profile, month: date, m: MemberFacts) -> MemberCompliance:
    first, last = month_days(month)
    rules = rules_for(p, first, m)
    in_month = [d for d in m.days if first <= d.day <= last]
    unplanned = tuple(sorted(d.day for d in in_month if d.classification == "unplanned"))
    used_days = [d for d in in_month if d.classification != "unplanned"]
    zaitaku = tuple(sorted(d.day for d in used_days if d.mode == "zaitaku"))
    tsusho = tuple(sorted(d.day for d in used_days if d.mode == "tsusho"))
    findings: list[Finding] = []
    status: dict[date, str] = {}
    for d in sorted(used_days, key=lambda d: d.day):
        if d.mode != "zaitaku":
            continue
        status[d.day] = day_status(rules, m, d)
        findings.extend(_day_findings(rules, m, d, status[d.day]))
    findings.extend(Finding(Code.UNPLANNED_DAY, m.member_id, d) for d in unplanned)

    weeks = []
    for monday in weeks_of(month):
        week, week_findings = _week(rules, m, monday, zaitaku)
        weeks.append(week)
        findings.extend(week_findings)

    chosen = monthly_choice(rules, [e for e in m.evaluations if first <= e.day <= last])
    missing_fields = sheet_missing(rules, chosen) if chosen else ()
    if rules.monthly_onsite_evaluation and zaitaku:
        findings.extend(_monthly_findings(m, first, chosen, missing_fields))
    covered = {(chosen.day, f) for f in missing_fields} if chosen else set()
    findings.extend(_flag_findings(m, first, last, covered))

    used = len(set(zaitaku) | set(tsusho))
    max_days = None
    if rules.days_off_per_month is not None and not m.days_exception:
        max_days = last.day - rules.days_off_per_month
    if max_days is not None and used > max_days:
        findings.append(Finding(Code.TOO_MANY_DAYS, m.member_id, first, f"{used}>{max_days}"))
    findings.extend(_approval_findings(rules, m, first, zaitaku))
    findings.extend(_notice_findings(rules, m, first, zaitaku))

    return MemberCompliance(
        member_id=m.member_id,
        name=m.name,
        rules=rules.name,
        zaitaku_days=zaitaku,
        tsusho_days=tsusho,
        confirmed_days=tuple(d for d in zaitaku if status[d] == "confirmed"),
        unconfirmed_days=tuple(d for d in zaitaku if status[d] == "missing"),
        weeks=tuple(weeks),
        monthly_evaluation=chosen.day if chosen else None,
        days_used=used,
        max_days=max_days,
        findings=tuple(findings),
        confirmed_late_days=tuple(d for d in zaitaku if status[d] == "late"),
        unplanned_days=unplanned,
        monthly_evaluation_late=bool(chosen and chosen.late),
        monthly_sheet_missing=missing_fields,
        days_exception=m.days_exception or None,
    )


def is_zaitaku_user(month: date, m: MemberFacts) -> bool:
    """Counts towards the 在宅 share: a 在宅 day this month or an approval covering it."""
    first, last = month_days(month)
    if any(
        first <= d.day <= last and d.mode == "zaitaku" and d.classification != "unplanned"
        for d in m.days
    ):
        return True
    if m.approval_until is None:
        return False
    return m.approval_until >= first and (m.approval_from is None or m.approval_from <= last)


def evaluate_month(
    p: Profile, month: date, members: Sequence[MemberFacts], capacity: int | None
) -> MonthCompliance:
    first, _ = month_days(month)
    facility_rules = rules_for(p, first)
    results = tuple(evaluate_member(p, first, m) for m in members)
    users = sum(is_zaitaku_user(first, m) for m in members)
    limit = None
    findings: list[Finding] = []
    if facility_rules.max_zaitaku_share is not None and capacity is not None:
        limit = int(facility_rules.max_zaitaku_share * capacity)  # floor: 5 of 11, not 5.5
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
        rules=facility_rules.name,
    )


# --- warnings ahead of deadlines -----------------------------------------------------------


def approval_warning(p: Profile, today: date, m: MemberFacts) -> Finding | None:
    """The member's 在宅 approval ends within the profile's warning days (every profile)."""
    rules = rules_for(p, today, m)
    if not rules.approval_period_check or m.approval_until is None:
        return None
    if not 0 <= (m.approval_until - today).days <= rules.approval_warn_days:
        return None
    return Finding(Code.APPROVAL_EXPIRING, m.member_id, m.approval_until, m.approval_kind or "")


def warnings(p: Profile, today: date, members: Sequence[MemberFacts]) -> tuple[Finding, ...]:
    """What falls due soon, given the facts up to `today` (the facility's date)."""
    out: list[Finding] = []
    monday = today - timedelta(days=today.weekday())
    first, last = month_days(today)
    for m in members:
        rules = rules_for(p, today, m)
        so_far = [d for d in m.days if d.day <= today and d.classification != "unplanned"]
        week_zaitaku = [d for d in so_far if monday <= d.day and d.mode == "zaitaku"]
        week_evals = [e for e in m.evaluations if monday <= e.day <= today]
        if (
            rules.weekly_evaluation
            and today.weekday() >= rules.weekly_evaluation_warn_weekday
            and week_zaitaku
            and not week_evals
        ):
            out.append(Finding(Code.WEEKLY_EVALUATION_DUE, m.member_id, monday + timedelta(6)))
        month_zaitaku = [d for d in so_far if first <= d.day and d.mode == "zaitaku"]
        month_evals = [e for e in m.evaluations if first <= e.day <= today]
        if (
            rules.monthly_onsite_evaluation
            and today.day >= rules.monthly_evaluation_warn_day
            and month_zaitaku
            and monthly_choice(rules, month_evals) is None
        ):
            out.append(Finding(Code.MONTHLY_EVALUATION_DUE, m.member_id, last))
        expiring = approval_warning(p, today, m)
        if expiring is not None:
            out.append(expiring)
    previous = (first - timedelta(days=1)).replace(day=1)
    report_rules = rules_for(p, previous)
    if report_rules.monthly_report_due_day is not None:
        due = today.replace(day=report_rules.monthly_report_due_day)
        if 0 <= (due - today).days <= report_rules.report_warn_days:
            out.append(Finding(Code.MONTHLY_REPORT_DUE, None, due, previous.isoformat()[:7]))
    return tuple(out)


# --- approvals as staff enter them ---------------------------------------------------------


def approval_problem(
    kind: str | None,
    start: date | None,
    until: date | None,
    previous_kind: str | None = None,
    previous_until: date | None = None,
) -> str | None:
    """Why an approval period cannot be recorded as given, or None (東大阪市 【認定期間】).

    "order": ends before it starts; "three_months": longer than 3 months; "renewal": a new
    period that starts within 3 months of the end of a three-month one (更新不可).
    """
    if start and until and until < start:
        return "order"
    if kind == "three_months" and start and until and until > approval_limit(start, 3):
        return "three_months"
    if (
        previous_kind == "three_months"
        and previous_until is not None
        and start is not None
        and start > previous_until
        and start <= add_months(previous_until, 3)
    ):
        return "renewal"
    return None


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
