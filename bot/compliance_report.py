"""Use case: the month's compliance view and the coming deadlines for one facility.

Loads the facts (日報, 支援記録, evaluations, approval periods) and hands them to the pure
`bot.compliance` rules of the facility's profile.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import compliance, texts
from bot.compliance import (
    DayFacts,
    EvaluationFacts,
    Finding,
    MemberFacts,
    MonthCompliance,
)
from bot.domain import SupportKind
from storage.models import DailyReport, Evaluation, Facility, Member, SupportRecord

USED_STATUSES = ("started", "ended")
STAFF_CONTACT_KINDS = (
    SupportKind.STAFF_CONTACT.value,
    SupportKind.ALERT_ACTION.value,
    SupportKind.EVALUATION.value,
)


async def facility_members(
    session: AsyncSession, facility: Facility, *, active_only: bool = True
) -> Sequence[Member]:
    stmt = select(Member).where(Member.facility_id == facility.id)
    if active_only:
        stmt = stmt.where(Member.active.is_(True))
    return (await session.execute(stmt.order_by(Member.id))).scalars().all()


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
                select(SupportRecord).where(
                    SupportRecord.member_id.in_(ids),
                    SupportRecord.business_date.between(start, end),
                )
            )
        )
        .scalars()
        .all()
    )
    evaluations = (
        (
            await session.execute(
                select(Evaluation).where(
                    Evaluation.member_id.in_(ids), Evaluation.date.between(start, end)
                )
            )
        )
        .scalars()
        .all()
    )
    modes: dict[tuple[int, date], str] = {}
    for r in reports:
        if r.mode == "zaitaku" and r.status in USED_STATUSES:
            modes[(r.member_id, r.business_date)] = "zaitaku"
        elif r.mode == "tsusho" and r.status != "absent":
            modes[(r.member_id, r.business_date)] = "tsusho"
    checks: dict[tuple[int, date], set[str]] = defaultdict(set)
    channels: dict[tuple[int, date], set[str]] = defaultdict(set)
    for s in records:
        key = (s.member_id, s.business_date)
        checks[key].add(s.kind)
        if s.kind in STAFF_CONTACT_KINDS:
            channels[key].add(s.channel)
            if s.channel == "tsusho":
                modes.setdefault(key, "tsusho")  # the member came in: a 通所 day
    for e in evaluations:
        if e.method == "tsusho":
            modes.setdefault((e.member_id, e.date), "tsusho")

    out = []
    for m in members:
        days = tuple(
            DayFacts(
                day=d,
                mode=mode,
                start_checked=SupportKind.START_CHECK.value in checks[(m.id, d)],
                end_checked=SupportKind.END_CHECK.value in checks[(m.id, d)],
                contact_channels=frozenset(channels[(m.id, d)]),
            )
            for (mid, d), mode in sorted(modes.items())
            if mid == m.id
        )
        evals = tuple(
            EvaluationFacts(e.date, e.kind, e.method, e.counts_as_monthly)
            for e in sorted(evaluations, key=lambda e: (e.date, e.id))
            if e.member_id == m.id
        )
        out.append(
            MemberFacts(
                member_id=m.id,
                name=m.name,
                municipality=m.municipality,
                approval_from=m.approval_from,
                approval_until=m.approval_until,
                voice_contact_hard=m.voice_contact_hard,
                days=days,
                evaluations=evals,
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


# --- text for the CLI (and later Slack) ----------------------------------------------------


def _md(d: date) -> str:
    return f"{d.month}/{d.day}"


def describe(finding: Finding, names: dict[int, str]) -> str:
    template = texts.COMPLIANCE_FINDINGS[finding.code.value]
    return template.format(
        member=names.get(finding.member_id or 0, ""),
        day=_md(finding.day) if finding.day else "",
        detail=finding.detail,
    )


def render_month(view: MonthCompliance, deadlines: Sequence[Finding] = ()) -> str:
    profile = compliance.profile(view.profile)
    names = {m.member_id: m.name for m in view.members}
    lines = [
        texts.MONTH_TITLE.format(
            year=view.month.year, month=view.month.month, profile=profile.label
        )
    ]
    if view.max_zaitaku_users is not None:
        lines.append(
            texts.MONTH_SHARE.format(
                users=view.zaitaku_users, capacity=view.capacity, limit=view.max_zaitaku_users
            )
        )
    for m in view.members:
        lines.append(
            texts.MONTH_MEMBER.format(
                name=m.name,
                zaitaku=len(m.zaitaku_days),
                confirmed=len(m.confirmed_days),
                tsusho=len(m.tsusho_days),
                used=m.days_used,
                limit=f"/{m.max_days}" if m.max_days is not None else "",
                weekly=sum(w.required and w.evaluation is not None for w in m.weeks),
                weeks=sum(w.required for w in m.weeks),
                monthly=_md(m.monthly_evaluation) if m.monthly_evaluation else "未実施",
            )
        )
        lines.extend("    " + describe(f, names) for f in m.findings)
    lines.extend("  " + describe(f, names) for f in view.findings)
    if not view.all_findings:
        lines.append(texts.MONTH_ALL_OK)
    if deadlines:
        lines.append(texts.MONTH_DEADLINES)
        lines.extend("  " + describe(f, names) for f in deadlines)
    return "\n".join(lines)
