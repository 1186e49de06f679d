"""Use case: the month's compliance view and the coming deadlines for one facility.

Loads the facts (日報, 支援記録, evaluations, approval periods, 届出) and hands them to the pure
`bot.core.compliance` rules of the facility's profile; renders the result for the CLI and Slack.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import compliance, texts
from bot.core.compliance import (
    SHEET_FIELDS,
    Code,
    Contact,
    DayFacts,
    EvaluationFacts,
    Finding,
    FlaggedEntry,
    MemberCompliance,
    MemberFacts,
    MonthCompliance,
)
from bot.core.domain import SupportKind
from storage.models import DailyReport, Evaluation, Facility, Member, SupportRecord

USED_STATUSES = ("started", "ending", "ended")  # `ending`: the end report is not complete
DAY_FLAG = "day"  # daily_report.flags["day"]: how the check-in classified the day
CLASSIFICATIONS = ("unplanned", "tsusho_day_at_home")
# Staff reached the member (R2 may be met by a staff call that confirmed the times).
STAFF_KINDS = (SupportKind.STAFF_CONTACT.value, SupportKind.ALERT_ACTION.value)
NOT_REACHING = ("slack",)  # taking an alert in Slack is not a contact with the member


async def facility_members(
    session: AsyncSession, facility: Facility, *, active_only: bool = True
) -> Sequence[Member]:
    stmt = select(Member).where(Member.facility_id == facility.id)
    if active_only:
        stmt = stmt.where(Member.active.is_(True))
    return (await session.execute(stmt.order_by(Member.id))).scalars().all()


def _filled(text: str | None) -> bool:
    return bool((text or "").strip())


async def member_facts(
    session: AsyncSession, members: Sequence[Member], start: date, end: date
) -> list[MemberFacts]:
    """What the rules look at, for each member, from `start` to `end` inclusive."""
    ids = [m.id for m in members]
    reports = (
        (
            await session.execute(
                select(DailyReport).where(
                    DailyReport.member_id.in_(ids),
                    DailyReport.business_date.between(start, end),
                )
            )
        )
        .scalars()
        .all()
    )
    records = (
        (
            await session.execute(
                select(SupportRecord)
                .where(
                    SupportRecord.member_id.in_(ids),
                    SupportRecord.business_date.between(start, end),
                )
                .order_by(SupportRecord.at, SupportRecord.id)
            )
        )
        .scalars()
        .all()
    )
    evaluations = (
        (
            await session.execute(
                select(Evaluation)
                .where(Evaluation.member_id.in_(ids), Evaluation.date.between(start, end))
                .order_by(Evaluation.date, Evaluation.id)
            )
        )
        .scalars()
        .all()
    )
    Key = tuple[int, date]
    modes: dict[Key, str] = {}
    by_day: dict[Key, DailyReport] = {}
    flagged: dict[int, list[FlaggedEntry]] = defaultdict(list)
    for r in reports:
        key = (r.member_id, r.business_date)
        by_day[key] = r
        if r.mode == "zaitaku" and r.status in USED_STATUSES:
            modes[key] = "zaitaku"
        elif r.mode == "tsusho" and r.status != "absent":
            modes[key] = "tsusho"
        elif (r.flags or {}).get(DAY_FLAG) == "unplanned" and r.status in USED_STATUSES:
            # The check-in keeps an unplanned day as 休み until staff classify it; it is a
            # finding to act on, and the rules count it nowhere meanwhile.
            modes[key] = "zaitaku"
        flagged[r.member_id].extend(
            FlaggedEntry(r.business_date, f, str(why))
            for f, why in sorted((r.flags or {}).items())
            if f != DAY_FLAG
        )
    contacts: dict[Key, list[Contact]] = defaultdict(list)
    kinds: dict[Key, set[str]] = defaultdict(set)
    for s in records:
        key = (s.member_id, s.business_date)
        contacts[key].append(Contact(s.kind, s.channel, s.at, s.late))
        if s.kind in STAFF_KINDS and s.channel not in NOT_REACHING:
            kinds[key].add("staff")
            if s.channel == "tsusho":
                modes.setdefault(key, "tsusho")  # the member came in: a 通所 day
        kinds[key].add(s.kind)
        flagged[s.member_id].extend(
            FlaggedEntry(s.business_date, f, str(why)) for f, why in sorted((s.flags or {}).items())
        )
    evals: dict[int, list[EvaluationFacts]] = defaultdict(list)
    for e in evaluations:
        key = (e.member_id, e.date)
        if e.method == "tsusho":
            modes.setdefault(key, "tsusho")
        contacts[key].append(Contact(SupportKind.EVALUATION.value, e.method, None, e.late))
        missing = frozenset(f for f in SHEET_FIELDS if not _filled(getattr(e, f)))
        evals[e.member_id].append(
            EvaluationFacts(e.date, e.kind, e.method, e.counts_as_monthly, missing, e.late)
        )
        flagged[e.member_id].extend(
            FlaggedEntry(e.date, f, str(why)) for f, why in sorted((e.flags or {}).items())
        )

    def day(key: Key, mode: str) -> DayFacts:
        r = by_day.get(key)
        seen = kinds[key]
        reached = "staff" in seen
        start_ok = end_ok = False
        if r is not None:
            start_ok = bool(r.start_at and _filled(r.planned_work)) and (
                SupportKind.START_CHECK.value in seen or reached
            )
            end_ok = bool(r.end_at and _filled(r.outputs)) and (
                SupportKind.END_CHECK.value in seen or reached
            )
        label = (r.flags or {}).get(DAY_FLAG) if r is not None else None
        return DayFacts(
            day=key[1],
            mode=mode,
            contacts=tuple(contacts[key]),
            start_check=start_ok,
            end_check=end_ok,
            classification=label if label in CLASSIFICATIONS else None,
            late_report=bool(r is not None and r.late),
        )

    out = []
    for m in members:
        out.append(
            MemberFacts(
                member_id=m.id,
                name=m.name,
                municipality=m.municipality,
                approval_from=m.approval_from,
                approval_until=m.approval_until,
                approval_kind=m.approval_kind,
                voice_contact_hard=m.voice_contact_hard,
                days_exception=(m.days_exception or "").strip() or None,
                notice_submitted_on=m.notice_submitted_on,
                notice_accepted_on=m.notice_accepted_on,
                days=tuple(day(key, mode) for key, mode in sorted(modes.items()) if key[0] == m.id),
                evaluations=tuple(evals[m.id]),
                flagged=tuple(sorted(flagged[m.id], key=lambda f: (f.day, f.field))),
            )
        )
    return out


async def month_view(session: AsyncSession, facility: Facility, month: date) -> MonthCompliance:
    profile = compliance.profile(facility.profile)
    start, end = compliance.fact_window(month)
    members = await facility_members(session, facility, active_only=False)
    facts = [
        f
        for m, f in zip(members, await member_facts(session, members, start, end), strict=True)
        if m.active or f.days or f.evaluations
    ]
    return compliance.evaluate_month(profile, month, facts, facility.capacity)


async def coming_deadlines(
    session: AsyncSession, facility: Facility, today: date
) -> tuple[Finding, ...]:
    profile = compliance.profile(facility.profile)
    start = min(today.replace(day=1), today - timedelta(days=today.weekday()))
    members = await facility_members(session, facility)
    facts = await member_facts(session, members, start, today)
    return compliance.warnings(profile, today, facts)


# --- text for the CLI and Slack ------------------------------------------------------------


def _md(d: date) -> str:
    return f"{d.month}/{d.day}"


def _label(field: str) -> str:
    return (
        texts.FIELD_LABELS.get(field)
        or texts.EVAL_SHEET_LABELS.get(field)
        or (texts.RECORD_FIELD_LABELS.get(field, field))
    )


def _detail(finding: Finding) -> str:
    """The finding's detail as a manager reads it (codes and field names in Japanese)."""
    d = finding.detail
    if finding.code is Code.FLAGGED_ENTRY:
        items = (item.partition("=") for item in d.split(",") if item)
        return "、".join(f"{_label(f)}({texts.FLAG_REASONS.get(why, why)})" for f, _, why in items)
    if finding.code is Code.SHEET_INCOMPLETE:
        return "、".join(_label(f) for f in d.split(",") if f)
    if finding.code is Code.APPROVAL_TOO_LONG:
        kind, _, period = d.partition(":")
        start, _, until = period.partition("..")
        return texts.APPROVAL_TOO_LONG_DETAIL.format(
            kind=texts.APPROVAL_KINDS.get(kind, kind),
            start=_md(date.fromisoformat(start)),
            until=_md(date.fromisoformat(until)),
        )
    if finding.code is Code.NOTICE_UNKNOWN:
        return texts.NOTICE_SUBMITTED.format(day=_md(date.fromisoformat(d))) if d else ""
    if finding.code is Code.APPROVAL_EXPIRING:
        return texts.APPROVAL_NOT_RENEWABLE if d == "three_months" else ""
    return d


def describe(finding: Finding, names: dict[int, str]) -> str:
    template = texts.COMPLIANCE_FINDINGS[finding.code.value]
    return template.format(
        member=names.get(finding.member_id or 0, ""),
        day=_md(finding.day) if finding.day else "",
        detail=_detail(finding),
    )


def _member_line(m: MemberCompliance) -> list[str]:
    monthly = _md(m.monthly_evaluation) if m.monthly_evaluation else texts.MONTH_NOT_DONE
    if m.monthly_evaluation and m.monthly_sheet_missing:
        monthly += texts.MONTH_SHEET_INCOMPLETE_MARK
    if m.monthly_evaluation and m.monthly_evaluation_late:
        monthly += texts.MONTH_LATE_MARK
    if m.days_exception:
        limit = texts.MONTH_DAYS_EXCEPTION_MARK
    else:
        limit = f"/{m.max_days}" if m.max_days is not None else ""
    late = (
        texts.MONTH_CONFIRMED_LATE.format(days=len(m.confirmed_late_days))
        if m.confirmed_late_days
        else ""
    )
    lines = [
        texts.MONTH_MEMBER.format(
            name=m.name,
            zaitaku=len(m.zaitaku_days),
            confirmed=len(m.confirmed_days),
            late=late,
            tsusho=len(m.tsusho_days),
            used=m.days_used,
            limit=limit,
            weekly=sum(w.required and w.evaluation is not None for w in m.weeks),
            weeks=sum(w.required for w in m.weeks),
            monthly=monthly,
        )
    ]
    if m.days_exception:
        lines.append("    " + texts.MONTH_DAYS_EXCEPTION.format(text=m.days_exception))
    return lines


def render_month(view: MonthCompliance, deadlines: Sequence[Finding] = ()) -> str:
    profile = compliance.profile(view.profile)
    names = {m.member_id: m.name for m in view.members}
    lines = [
        texts.MONTH_TITLE.format(
            year=view.month.year, month=view.month.month, profile=profile.label
        )
    ]
    if view.rules and view.rules != view.profile and profile.effective_from:
        since = profile.effective_from
        lines.append(
            texts.MONTH_NOT_IN_FORCE.format(
                profile=profile.label,
                since=f"{since.year}年{since.month}月{since.day}日",
                base=compliance.profile(view.rules).label,
            )
        )
    if view.max_zaitaku_users is not None:
        lines.append(
            texts.MONTH_SHARE.format(
                users=view.zaitaku_users, capacity=view.capacity, limit=view.max_zaitaku_users
            )
        )
    for m in view.members:
        lines.extend(_member_line(m))
        lines.extend("    " + describe(f, names) for f in m.findings)
    lines.extend("  " + describe(f, names) for f in view.findings)
    if not view.all_findings:
        lines.append(texts.MONTH_ALL_OK)
    if deadlines:
        lines.append(texts.MONTH_DEADLINES)
        lines.extend("  " + describe(f, names) for f in deadlines)
    return "\n".join(lines)
