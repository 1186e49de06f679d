"""`nippo` commands for records: 支援記録, evaluations, 日報 history, the month, exports,
retention and 担当職員. Registered on the main app by importing this module from bot.cli."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer

from bot import admin, compliance_report, exports, records, retention
from bot.admin import AdminError
from bot.cli import FacilityOpt, _run, app, member_app, now
from bot.settings import Settings
from storage.db import Database

eval_app = typer.Typer(help="Weekly and monthly evaluations (評価シート).", no_args_is_help=True)
report_app = typer.Typer(help="日報: history, staff corrections, sign-off.", no_args_is_help=True)
retention_app = typer.Typer(help="Deleting records past retention.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
app.add_typer(report_app, name="report")
app.add_typer(retention_app, name="retention")

StaffOpt = Annotated[str | None, typer.Option("--staff", help="Slack user id of the staff.")]


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise AdminError(f"dates are YYYY-MM-DD, not {text!r}") from exc


def _instant(text: str | None) -> datetime:
    if text is None:
        return now()
    try:
        at = datetime.fromisoformat(text)
    except ValueError as exc:
        raise AdminError(f"--at is ISO-8601 with a zone, not {text!r}") from exc
    if at.tzinfo is None:
        raise AdminError("--at needs a time zone, e.g. 2026-07-01T10:00+09:00")
    return at


@app.command("log")
def log_contact(
    member: str,
    method: Annotated[str, typer.Option("--method", help="電話/訪問/通所/メッセージ/ビデオ")],
    text: Annotated[str, typer.Option("--text")],
    staff: StaffOpt = None,
    at: Annotated[str | None, typer.Option("--at", help="ISO-8601; default now")] = None,
    facility: FacilityOpt = None,
) -> None:
    """Log a contact with a member as a 支援記録 entry."""

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            f = await admin.pick_facility(session, facility)
            m = await admin.find_member(session, f, member)
            s = await records.staff_by_slack_user(session, f, staff) if staff else None
            r = await records.log_contact(
                session, m.id, s.id if s else None, method, text, _instant(at)
            )
            typer.echo(f"支援記録 {r.id}: {m.name} {r.business_date} {method}")

    _run(work)


@eval_app.command("add")
def eval_add(
    member: str,
    kind: Annotated[str, typer.Option("--kind", help="weekly or monthly")],
    on: Annotated[str, typer.Option("--date", help="YYYY-MM-DD")],
    method: Annotated[str, typer.Option("--method", help="訪問/通所/電話/ICT")],
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

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            f = await admin.pick_facility(session, facility)
            m = await admin.find_member(session, f, member)
            s = await records.staff_by_slack_user(session, f, staff) if staff else None
            e = await records.record_evaluation(
                session,
                m.id,
                kind=kind,
                day=_date(on),
                method=method,
                now=now(),
                staff_id=s.id if s else None,
                goal=goal,
                activities=activities,
                achievement=achievement,
                issues=issues,
                plan=plan,
                health_notes=health_notes,
                continuation=continuation,
            )
            monthly = " (counts as the monthly evaluation)" if e.counts_as_monthly else ""
            typer.echo(f"evaluation {e.id}: {m.name} {e.kind} {e.date} {e.method}{monthly}")

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
            h = await records.report_history(session, m.id, _date(on))
            if h is None:
                raise AdminError(f"no 日報 for {m.name} on {on}")
            await admin.audit(
                session, actor="cli", action="report_history", target=f"report:{h.report_id}",
                now=now(),
            )  # fmt: skip
            typer.echo(f"日報 {h.report_id}: {m.name} {h.business_date} ({h.status})")
            for field, value in h.current.items():
                typer.echo(f"  {field}: {'' if value is None else value}")
            if h.signed_off_by:
                typer.echo(f"  signed off: {h.signed_off_by} {h.signed_off_at}")
            for r in h.revisions:
                typer.echo(
                    f"  {r.at.isoformat()} {r.field}: {r.before!r} -> {r.after!r}"
                    f" ({r.source}, {r.by})"
                )

    _run(work)


@report_app.command("edit")
def report_edit(
    member: str,
    on: Annotated[str, typer.Option("--date", help="YYYY-MM-DD")],
    field: Annotated[str, typer.Option("--field")],
    value: Annotated[str, typer.Option("--value")],
    staff: Annotated[str, typer.Option("--staff", help="Slack user id of the staff.")],
    facility: FacilityOpt = None,
) -> None:
    """Correct one 日報 field as staff (kept as a revision)."""

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            f = await admin.pick_facility(session, facility)
            m = await admin.find_member(session, f, member)
            s = await records.staff_by_slack_user(session, f, staff)
            h = await records.report_history(session, m.id, _date(on))
            if h is None:
                raise AdminError(f"no 日報 for {m.name} on {on}")
            changed = await records.staff_edit(session, h.report_id, field, value, s.id, now())
            typer.echo(f"{field}: {'changed' if changed else 'unchanged'}")

    _run(work)


@report_app.command("sign-off")
def report_sign_off(
    member: str,
    on: Annotated[str, typer.Option("--date", help="YYYY-MM-DD")],
    staff: Annotated[str, typer.Option("--staff", help="Slack user id of the staff.")],
    facility: FacilityOpt = None,
) -> None:
    """Confirm a 日報 as staff (name and time are recorded)."""

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            f = await admin.pick_facility(session, facility)
            m = await admin.find_member(session, f, member)
            s = await records.staff_by_slack_user(session, f, staff)
            h = await records.report_history(session, m.id, _date(on))
            if h is None:
                raise AdminError(f"no 日報 for {m.name} on {on}")
            await records.sign_off(session, h.report_id, s.id, now())
            typer.echo(f"signed off by {s.name}")

    _run(work)


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
            today = admin.today(f, now())
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
    kind: Annotated[str, typer.Argument(help="nippo|support-records|zaitaku-list|eval-sheet")],
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
    existing file unless --force."""

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
            order = await records.mention_order(session, m)
            typer.echo(f"{m.name}: 担当 {primary.name}; mention order {' '.join(order)}")

    _run(work)


@member_app.command("set")
def member_set(
    member: str,
    approval_from: Annotated[str | None, typer.Option("--approval-from")] = None,
    approval_until: Annotated[str | None, typer.Option("--approval-until")] = None,
    voice_contact_hard: Annotated[
        bool | None,
        typer.Option("--voice-contact-hard/--voice-contact-ok", help="Sapporo rule exception."),
    ] = None,
    facility: FacilityOpt = None,
) -> None:
    """Set a member's 在宅 approval period or voice-contact exception."""

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            f = await admin.pick_facility(session, facility)
            m = await admin.find_member(session, f, member)
            if approval_from is not None:
                m.approval_from = _date(approval_from)
            if approval_until is not None:
                m.approval_until = _date(approval_until)
            if voice_contact_hard is not None:
                m.voice_contact_hard = voice_contact_hard
            if m.approval_from and m.approval_until and m.approval_until < m.approval_from:
                raise AdminError("--approval-until is before --approval-from")
            typer.echo(
                f"{m.name}: 在宅 approval {m.approval_from or '-'}〜{m.approval_until or '-'}, "
                f"voice contact hard: {m.voice_contact_hard}"
            )

    _run(work)
