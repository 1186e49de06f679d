"""`nippo` commands for records: 支援記録, evaluations, 日報 history, the month, exports,
retention and 担当職員. Registered on the main app by importing this module in bot.cli.main."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, NamedTuple
from zoneinfo import ZoneInfo

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app.settings import Settings
from bot.cli.base import FacilityOpt, _run, app, member_app, now, parse_date
from bot.core import texts
from bot.core.calendar import business_date
from bot.queries import compliance_report, exports
from bot.queries.record_lines import flag_warnings, history_lines, late_mark
from bot.services import admin, records, retention
from bot.services.admin import AdminError
from storage.db import Database
from storage.models import Facility, Member, Staff

eval_app = typer.Typer(help="Weekly and monthly evaluations (評価シート).", no_args_is_help=True)
report_app = typer.Typer(help="日報: history, staff corrections, sign-off.", no_args_is_help=True)
retention_app = typer.Typer(help="Deleting records past retention.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
app.add_typer(report_app, name="report")
app.add_typer(retention_app, name="retention")

StaffOpt = Annotated[
    str | None,
    typer.Option("--staff", help="Slack user id of the staff member entering it (required)."),
]
# The words `--method` accepts, as the use cases define them.
CONTACT_METHOD_HELP = "/".join(records.CONTACT_METHODS)
EVALUATION_METHOD_HELP = "/".join(records.EVALUATION_METHODS)


def require(value: str | None, message: str) -> str:
    """A value staff must give (who they are, why they change a record): refused in one
    plain line, before anything is opened, when it is missing or blank."""
    if value is None or not value.strip():
        typer.echo(f"error: {message}", err=True)
        raise typer.Exit(2)
    return value.strip()


class Acting(NamedTuple):
    """A staff command's facility, member and the staff member acting."""

    facility: Facility
    member: Member
    staff: Staff


async def acting(
    session: AsyncSession, facility: str | None, member: str, staff_user: str
) -> Acting:
    f = await admin.pick_facility(session, facility)
    return Acting(
        f,
        await admin.find_member(session, f, member),
        await records.staff_by_slack_user(session, f, staff_user),
    )


async def _report(session: AsyncSession, member: Member, on: str) -> records.ReportHistory:
    """The member's 日報 of that date with its history; one plain line when there is none."""
    h = await records.report_history(session, member.id, parse_date(on))
    if h is None:
        raise AdminError(f"no 日報 for {member.name} on {on}")
    return h


def _instant(text: str | None, clock: datetime) -> datetime:
    if text is None:
        return clock
    try:
        at = datetime.fromisoformat(text)
    except ValueError as exc:
        raise AdminError(f"--at is ISO-8601 with a zone, not {text!r}") from exc
    if at.tzinfo is None:
        raise AdminError("--at needs a time zone, e.g. 2026-07-01T10:00+09:00")
    return at


def _hhmm(text: str | None, option: str) -> time | None:
    if text is None:
        return None
    try:
        return time.fromisoformat(text.strip().zfill(5))
    except ValueError as exc:
        raise AdminError(f"{option} is HH:MM, not {text!r}") from exc


@app.command("log")
def log_contact(
    member: str,
    method: Annotated[str, typer.Option("--method", help=CONTACT_METHOD_HELP)],
    text: Annotated[str, typer.Option("--text")],
    staff: StaffOpt = None,
    at: Annotated[str | None, typer.Option("--at", help="ISO-8601; default now")] = None,
    facility: FacilityOpt = None,
) -> None:
    """Log a contact with a member as a 支援記録 entry (who entered it and when are kept)."""
    staff_user = require(staff, texts.STAFF_REQUIRED)

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            _f, m, s = await acting(session, facility, member, staff_user)
            clock = now()
            when = _instant(at, clock)
            r = await records.log_contact(session, m.id, s.id, method, text, when, clock)
            typer.echo(f"支援記録 {r.id}: {m.name} {r.business_date} {method}{late_mark(r.late)}")
            for line in flag_warnings(r.flags, {"content": texts.CONTACT_TEXT_LABEL}):
                typer.echo(line)

    _run(work)


@eval_app.command("add")
def eval_add(
    member: str,
    kind: Annotated[str, typer.Option("--kind", help="weekly or monthly")],
    on: Annotated[str, typer.Option("--date", help="YYYY-MM-DD")],
    method: Annotated[str, typer.Option("--method", help=EVALUATION_METHOD_HELP)],
    staff: StaffOpt = None,
    goal: Annotated[str | None, typer.Option("--goal", help="訓練目標")] = None,
    activities: Annotated[str | None, typer.Option("--activities", help="取組内容")] = None,
    achievement: Annotated[str | None, typer.Option("--achievement", help="達成度")] = None,
    issues: Annotated[str | None, typer.Option("--issues", help="課題")] = None,
    plan: Annotated[str | None, typer.Option("--plan", help="改善方針")] = None,
    health_notes: Annotated[
        str | None, typer.Option("--health-notes", help="健康面・体調面の留意事項")
    ] = None,
    continuation: Annotated[
        str | None, typer.Option("--continuation", help="在宅就労継続の妥当性")
    ] = None,
    facility: FacilityOpt = None,
) -> None:
    """Record a weekly or monthly evaluation with the 評価シート fields."""
    staff_user = require(staff, texts.STAFF_REQUIRED)

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            _f, m, s = await acting(session, facility, member, staff_user)
            e = await records.record_evaluation(
                session,
                m.id,
                kind=kind,
                day=parse_date(on),
                method=method,
                now=now(),
                staff_id=s.id,
                goal=goal,
                activities=activities,
                achievement=achievement,
                issues=issues,
                plan=plan,
                health_notes=health_notes,
                continuation=continuation,
            )
            blank = [f for f in records.SHEET_FIELDS if not (getattr(e, f) or "").strip()]
            monthly = ""
            if e.counts_as_monthly or e.kind == "monthly":
                monthly = (
                    " (counts as the monthly evaluation)"
                    if not blank
                    else " (incomplete 評価シート: does not count as the monthly evaluation yet: "
                    + "、".join(texts.EVAL_SHEET_LABELS.get(f, f) for f in blank)
                    + ")"
                )
            typer.echo(
                f"evaluation {e.id}: {m.name} {e.kind} {e.date} {e.method}{monthly}"
                f"{late_mark(e.late)}"
            )
            for line in flag_warnings(e.flags, texts.EVAL_SHEET_LABELS):
                typer.echo(line)

    _run(work)


@report_app.command("history")
def report_history(
    member: str,
    on: Annotated[str, typer.Option("--date", help="YYYY-MM-DD")],
    facility: FacilityOpt = None,
) -> None:
    """Show a 日報 as it stands and every change that led there."""

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            f = await admin.pick_facility(session, facility)
            m = await admin.find_member(session, f, member)
            h = await _report(session, m, on)
            await admin.audit(
                session, actor="cli", action="report_history", target=f"report:{h.report_id}",
                now=now(),
            )  # fmt: skip
            typer.echo(f"日報 {h.report_id}: {m.name} {h.business_date} ({h.status})")
            for line in history_lines(h, f.tz):
                typer.echo(line)

    _run(work)


@report_app.command("edit")
def report_edit(
    member: str,
    on: Annotated[str, typer.Option("--date", help="YYYY-MM-DD")],
    field: Annotated[str, typer.Option("--field")],
    value: Annotated[str, typer.Option("--value")],
    staff: StaffOpt = None,
    reason: Annotated[
        str | None, typer.Option("--reason", help="修正理由 (required), e.g. 本人に電話で確認")
    ] = None,
    facility: FacilityOpt = None,
) -> None:
    """Correct one 日報 field as staff, with the reason (kept as a revision; voids a sign-off)."""
    staff_user = require(staff, texts.STAFF_REQUIRED)
    why = require(reason, texts.REASON_OPTION_REQUIRED)

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            _f, m, s = await acting(session, facility, member, staff_user)
            h = await _report(session, m, on)
            signed = h.signed_off_at is not None
            changed = await records.staff_edit(
                session, h.report_id, field, value, s.id, now(), reason=why
            )
            typer.echo(f"{field}: {'changed' if changed else 'unchanged'}")
            if changed and signed:
                typer.echo(texts.CLI_SIGN_OFF_VOIDED)

    _run(work)


@report_app.command("sign-off")
def report_sign_off(
    member: str,
    on: Annotated[str, typer.Option("--date", help="YYYY-MM-DD")],
    staff: StaffOpt = None,
    advice: Annotated[
        str | None, typer.Option("--advice", help="助言: kept with the sign-off in the 支援記録")
    ] = None,
    facility: FacilityOpt = None,
) -> None:
    """Confirm a 日報 as staff, optionally with advice (name, time and advice are recorded)."""
    staff_user = require(staff, texts.STAFF_REQUIRED)

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            _f, m, s = await acting(session, facility, member, staff_user)
            h = await _report(session, m, on)
            clock = now()
            late = await records.sign_off(session, h.report_id, s.id, clock, advice=advice)
            typer.echo(f"signed off by {s.name}{late_mark(late)}")

    _run(work)


@report_app.command("create")
def report_create(
    member: str,
    on: Annotated[str, typer.Option("--date", help="YYYY-MM-DD")],
    method: Annotated[str, typer.Option("--method", help=CONTACT_METHOD_HELP)],
    text: Annotated[str, typer.Option("--text", help="what was talked about (the 支援記録)")],
    staff: StaffOpt = None,
    start: Annotated[str | None, typer.Option("--start", help="confirmed start HH:MM")] = None,
    end: Annotated[str | None, typer.Option("--end", help="confirmed end HH:MM")] = None,
    work_text: Annotated[str | None, typer.Option("--work", help="作業内容")] = None,
    outputs: Annotated[str | None, typer.Option("--outputs", help="成果")] = None,
    health: Annotated[int | None, typer.Option("--health", help="体調 1-5")] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="when the call was: HH:MM on --date or ISO-8601"),
    ] = None,
    facility: FacilityOpt = None,
) -> None:
    """Create a day's 日報 from a staff call when the member could not report themselves."""
    staff_user = require(staff, texts.STAFF_REQUIRED)
    confirmed = records.Confirmed(
        start=_hhmm(start, "--start"), end=_hhmm(end, "--end"), work=work_text,
        outputs=outputs, health=health,
    )  # fmt: skip

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            f, m, s = await acting(session, facility, member, staff_user)
            day, clock = parse_date(on), now()
            report, contact = await records.create_report_from_contact(
                session, m.id, s.id, day=day, method=method, text=text,
                at=_call_time(at, day, f.tz, clock), now=clock, confirmed=confirmed,
            )  # fmt: skip
            typer.echo(
                f"日報 {report.id}: {m.name} {day} ({report.status}), 支援記録 {contact.id}"
                f"{late_mark(report.late)}"
            )
            labels = {**texts.FIELD_LABELS, "content": texts.CONTACT_TEXT_LABEL}
            for line in flag_warnings({**contact.flags, **report.flags}, labels):
                typer.echo(line)

    _run(work)


def _call_time(text: str | None, day: date, tz: str, clock: datetime) -> datetime:
    """When the call was: --at (HH:MM on the day, or ISO-8601); without it, now, for today
    only: a past day's call time is not guessed."""
    if text is not None and len(text.strip()) <= 5:
        return datetime.combine(day, _hhmm(text, "--at") or time(0), ZoneInfo(tz))
    if text is not None:
        return _instant(text, clock)
    if business_date(tz, clock) != day:
        raise AdminError(texts.REPORT_NEEDS_AT)
    return clock


@app.command("month")
def month(
    month: Annotated[
        str | None, typer.Option("--month", help="YYYY-MM; default this month")
    ] = None,
    facility: FacilityOpt = None,
) -> None:
    """The month's compliance view for the facility's rule profile, and coming deadlines."""

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            f = await admin.pick_facility(session, facility)
            today = business_date(f.tz, now())
            first = exports.parse_month(month) if month else today.replace(day=1)
            view = await compliance_report.month_view(session, f, first)
            current = first == today.replace(day=1)
            deadlines = (
                await compliance_report.coming_deadlines(session, f, today) if current else ()
            )
            await admin.audit(
                session, actor="cli", action="month_view", target=f"{first:%Y-%m}", now=now()
            )
            typer.echo(compliance_report.render_month(view, deadlines))

    _run(work)


@app.command("export")
def export(
    kind: Annotated[str, typer.Argument(help="|".join((*exports.KINDS, "evidence")))],
    month: Annotated[str, typer.Option("--month", help="YYYY-MM")],
    member: Annotated[str | None, typer.Option("--member")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or xlsx")] = "csv",
    out: Annotated[Path | None, typer.Option("--out")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing file (never a symlink).")
    ] = False,
    facility: FacilityOpt = None,
) -> None:
    """Write a monthly record file (UTF-8 CSV with BOM, or XLSX); the export is audited.

    The file is created readable by its owner only (0600); a symlink is refused, and an
    existing file unless --force. `evidence` writes a ZIP of the month's photos, files, voice
    and video with an index.csv (bot/queries/evidence.py)."""
    if kind == "evidence":  # not a table: a ZIP, written file by file
        from bot.cli.members import export_evidence

        export_evidence(month, member, out, force, facility)
        return

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            f = await admin.pick_facility(session, facility)
            m = await admin.find_member(session, f, member) if member else None
            first = exports.parse_month(month)
            path = out or Path(exports.filename(kind, first, m, fmt))
            exports.check_target(path, force=force)  # refused: nothing built, nothing audited
            table, data = await exports.export(
                session, f, kind, first, fmt=fmt, now=now(), actor="cli", member=m
            )
            exports.write_file(path, data, force=force)  # fails: the audit row rolls back
            typer.echo(f"{path}: {len(table.rows)} rows")

    _run(work)


@retention_app.command("run")
def retention_run(
    apply: Annotated[bool, typer.Option("--apply", help="Delete; without it, only count.")] = False,
) -> None:
    """Count (or with --apply delete) records past the retention period (≥ 5 years)."""
    years = Settings().retention_years
    try:
        retention.check_years(years)
    except AdminError as exc:
        typer.echo(f"error: {exc} (RETENTION_YEARS)", err=True)
        raise typer.Exit(2) from exc

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            results = await retention.run(session, now(), years=years, apply=apply, actor="cli")
            verb = "deleted" if apply else "would delete (dry run; add --apply)"
            for r in results:
                counts = ", ".join(f"{k} {v}" for k, v in r.counts.items())
                scope = (
                    "raw inbound events"
                    if r.facility_id == retention.INSTALLATION
                    else f"facility {r.facility_id}"
                )
                typer.echo(f"{scope}: service dates before {r.cutoff} — {verb}: {counts}")

    _run(work)


@member_app.command("assign")
def member_assign(
    member: str,
    staff: Annotated[str, typer.Option("--staff", help="Slack user id of the 担当.")],
    substitute: Annotated[
        str | None, typer.Option("--substitute", help="Slack user id of the 代理.")
    ] = None,
    facility: FacilityOpt = None,
) -> None:
    """Set a member's 担当職員 and substitute (alerts mention them first)."""

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            f = await admin.pick_facility(session, facility)
            m = await admin.find_member(session, f, member)
            primary = await records.staff_by_slack_user(session, f, staff)
            sub = await records.staff_by_slack_user(session, f, substitute) if substitute else None
            await records.assign_staff(session, m, primary, sub)
            order = [
                (await session.get_one(Staff, i)).slack_user_id or ""
                for i in await records.mention_order(session, m)
            ]
            typer.echo(f"{m.name}: 担当 {primary.name}; mention order {' '.join(order)}")

    _run(work)


@member_app.command("set")
def member_set(
    member: str,
    approval_from: Annotated[str | None, typer.Option("--approval-from")] = None,
    approval_until: Annotated[str | None, typer.Option("--approval-until")] = None,
    approval_kind: Annotated[
        str | None,
        typer.Option("--approval-kind", help="year (1年) or three_months (3か月以内, 更新不可)"),
    ] = None,
    voice_contact_hard: Annotated[
        bool | None,
        typer.Option("--voice-contact-hard/--voice-contact-ok", help="Sapporo rule exception."),
    ] = None,
    days_exception: Annotated[
        str | None,
        typer.Option("--days-exception", help="A notified exception to 原則の日数 (what it says)."),
    ] = None,
    no_days_exception: Annotated[
        bool, typer.Option("--no-days-exception", help="The exception no longer applies.")
    ] = False,
    notice_submitted: Annotated[
        str | None, typer.Option("--notice-submitted", help="在宅支援の届出を出した日 (日立市)")
    ] = None,
    notice_accepted: Annotated[
        str | None, typer.Option("--notice-accepted", help="届出が受理された日")
    ] = None,
    facility: FacilityOpt = None,
) -> None:
    """Set a member's 在宅 approval (period and kind), the voice-contact exception, a notified
    exception to 原則の日数 and the city's 届出 dates."""

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            f = await admin.pick_facility(session, facility)
            m = await admin.find_member(session, f, member)
            admin.set_approval(
                m,
                parse_date(approval_from) if approval_from is not None else None,
                parse_date(approval_until) if approval_until is not None else None,
                approval_kind,
            )
            if voice_contact_hard is not None:
                m.voice_contact_hard = voice_contact_hard
            if no_days_exception:
                m.days_exception = None
            elif days_exception is not None:
                m.days_exception = days_exception.strip() or None
            if notice_submitted is not None:
                m.notice_submitted_on = parse_date(notice_submitted)
            if notice_accepted is not None:
                m.notice_accepted_on = parse_date(notice_accepted)
            sent, got = m.notice_submitted_on, m.notice_accepted_on
            if sent and got and got < sent:
                raise AdminError(texts.NOTICE_ORDER.format(accepted=got, submitted=sent))
            kind_label = texts.APPROVAL_KINDS.get(m.approval_kind or "", "-")
            typer.echo(
                f"{m.name}: 在宅 approval {m.approval_from or '-'}〜{m.approval_until or '-'}"
                f" ({kind_label}), voice contact hard: {m.voice_contact_hard}\n"
                f"  原則の日数の例外: {m.days_exception or '-'}\n"
                f"  届出: 提出 {m.notice_submitted_on or '-'} / 受理 {m.notice_accepted_on or '-'}"
            )

    _run(work)
