"""The console's record pages: sign-in and out, today's board and its alerts, a member's
month (with its charts and evidence files), a day's record with staff edits and sign-off, and
(managers) exports."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from adapters.staff_console import pages
from adapters.staff_console.console import (
    NO_STORE,
    Console,
    Ctx,
    Refused,
    day_or_404,
    int_or_none,
    month_or_404,
    see_page,
)
from adapters.staff_console.security import COOKIE
from bot.core import texts
from bot.core.provenance import staff_ref
from bot.queries import board, compliance_report, evidence, exports, member_month
from bot.services import admin, alert_actions, console_auth, records
from bot.services.admin import AdminError
from storage.models import Member

MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*")
# a member's file is never a page of the console's origin: no script, no plugin, no form
FILE_CSP = "default-src 'none'; sandbox"


def router(console: Console) -> APIRouter:
    r = APIRouter(prefix="/console", include_in_schema=False)

    # --- signing in and out ---------------------------------------------------------------

    @r.get("/login/{token}")
    async def login_page(request: Request, token: str) -> Response:
        """A page with one button: link previews and scanners that open the address do not
        use the link up; the person does, by pressing it."""
        async with console.db.transaction(actor="console") as session:
            found = await console_auth.check_link(session, token, console.clock())
        if isinstance(found, console_auth.Refusal):
            return console.message(request, 410, texts.CONSOLE_LINK_REFUSED[found], how=True)
        return console.render(request, "login.html", token=token, name=found.name)

    @r.post("/login")
    async def login(request: Request) -> Response:
        raw = await request.form()
        token = raw.get("token")
        async with console.db.transaction(actor="console") as session:
            done = await console_auth.redeem(
                session, token if isinstance(token, str) else "", console.clock()
            )
        if isinstance(done, console_auth.Refusal):
            return console.message(request, 410, texts.CONSOLE_LINK_REFUSED[done], how=True)
        return console.signed_in_response(request, done[1])

    @r.post("/logout")
    async def logout(request: Request) -> Response:
        async def work(ctx: Ctx) -> Response:
            token = console.signer.token_of(request.cookies.get(COOKIE)) or ""
            await console_auth.sign_out(ctx.session, token, ctx.now)
            await ctx.audit("console.logout", f"staff:{ctx.staff.id}")
            return console.message(request, 200, texts.CONSOLE_SIGNED_OUT, clear=True)

        return await console.run(request, work)

    # --- today's board and its alerts -----------------------------------------------------

    @r.get("/")
    async def board_page(request: Request, day: str | None = None) -> Response:
        async def work(ctx: Ctx) -> Response:
            on = day_or_404(day) if day else ctx.today
            b = await board.status_board(ctx.session, ctx.facility, on, ctx.now)
            await ctx.audit("console.board", f"facility:{ctx.facility.id}", day=on.isoformat())
            return console.page(
                ctx, "board.html", board=b, rows=pages.problem_first(b),
                alerts=pages.alerts_first(b.alerts), methods=list(alert_actions.METHODS),
            )  # fmt: skip

        return await console.run(request, work)

    @r.post("/alerts/{alert_id}/take")
    async def take(request: Request, alert_id: int) -> Response:
        async def work(ctx: Ctx) -> Response:
            done = await alert_actions.take(
                ctx.session, alert_id, ctx.staff, ctx.now, channel="console"
            )
            return _alert_answer(ctx, done, "taken")

        return await console.run(request, work)

    @r.post("/alerts/{alert_id}/resolve")
    async def resolve(request: Request, alert_id: int) -> Response:
        async def work(ctx: Ctx) -> Response:
            method = ctx.form.get("method", "")
            outcome = ctx.form.get("outcome", "").strip()
            if method not in alert_actions.METHODS or not outcome:
                raise Refused(400, texts.CONSOLE_NOT_ACCEPTED.format(reason=texts.RESOLVE_OUTCOME))
            done = await alert_actions.resolve(
                ctx.session, alert_id, ctx.staff, method=method, outcome=outcome, now=ctx.now
            )
            return _alert_answer(ctx, done, "resolved")

        return await console.run(request, work)

    def _alert_answer(ctx: Ctx, done: alert_actions.ActionResult, note: str) -> Response:
        if not done.allowed:
            raise Refused(404, texts.ALERT_NOT_YOURS, audit=True)
        if not done.ok:
            text = (
                texts.ALERT_ALREADY_TAKEN.format(name=done.holder)
                if done.state == "acked" and done.holder
                else texts.ALERT_ALREADY_DONE
            )
            raise Refused(409, text)
        return see_page("/console/", note)

    # --- a member's month, a day's record -------------------------------------------------

    @r.get("/members/{member_id}")
    async def month_page(request: Request, member_id: int, month: str | None = None) -> Response:
        async def work(ctx: Ctx) -> Response:
            member = await ctx.member(member_id)
            first = month_or_404(month, ctx.today)
            view = await member_month.member_month(ctx.session, member, first, ctx.today)
            await ctx.audit("console.month", f"member:{member.id}", month=f"{first:%Y-%m}")
            return console.page(
                ctx, "month.html", view=view, weeks=pages.calendar_weeks(view.days),
                prev=pages.shift_month(first, -1), next=pages.shift_month(first, 1),
                charts=pages.month_charts(view.days),
                chart_rows=pages.chart_rows(view.days, view.tz),
            )  # fmt: skip

        return await console.run(request, work)

    async def _day_page(
        ctx: Ctx, member: Member, on: date, status: int = 200, **extra: Any
    ) -> Response:
        history = await records.report_history(ctx.session, member.id, on)
        day_records = (
            history.records if history else await records.day_records(ctx.session, member.id, on)
        )
        fields = pages.field_rows(history, ctx.facility.tz) if history else []
        files = await member_month.evidence_files(ctx.session, member, on, on)
        await ctx.audit("console.day", f"member:{member.id}", day=on.isoformat())
        return console.page(
            ctx, "day.html", status, member=member, day=on, history=history,
            records=day_records, fields=fields, files=files.get(on, ()), **extra,
        )  # fmt: skip

    @r.get("/members/{member_id}/days/{day}")
    async def day_page(request: Request, member_id: int, day: str) -> Response:
        async def work(ctx: Ctx) -> Response:
            return await _day_page(ctx, await ctx.member(member_id), day_or_404(day))

        return await console.run(request, work)

    @r.get("/members/{member_id}/evidence/{attachment_id}")
    async def evidence_file(
        request: Request, member_id: int, attachment_id: int, download: bool = False
    ) -> Response:
        """A kept photo, file, voice or video: shown in the page for the kinds the page plays,
        else (or on `download`) as an attachment."""

        async def work(ctx: Ctx) -> Response:
            member = await ctx.member(member_id)
            found = await member_month.evidence_data(ctx.session, member, attachment_id)
            if found is None:  # not this member's, gone, or their consent does not cover it
                raise Refused(404, texts.CONSOLE_NOT_FOUND, audit=True)
            file, data = found
            inline = file.kind != "file" and not download
            await ctx.audit(
                "console.evidence", f"attachment:{file.attachment_id}", member_id=member.id,
                day=file.day.isoformat(), download=not inline,
            )  # fmt: skip
            media = file.media_type if MEDIA_TYPE.fullmatch(file.media_type) else ""
            ext = evidence.extension(media, file.filename)
            name = f"{file.day.isoformat()}_{member.id}_{file.attachment_id}.{ext}"
            disposition = "inline" if inline else "attachment"
            return Response(
                data,
                media_type=media or "application/octet-stream",
                headers={
                    **NO_STORE,
                    "Cache-Control": "private, no-store",
                    "Content-Security-Policy": FILE_CSP,
                    "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(name)}",
                },
            )

        return await console.run(request, work)

    async def _day_change(
        request: Request, member_id: int, day: str, change: Callable[[Ctx, int], Awaitable[str]]
    ) -> Response:
        """A change to a day's 日報: done, or the day's page again with why not."""

        async def work(ctx: Ctx) -> Response:
            member, on = await ctx.member(member_id), day_or_404(day)
            history = await records.report_history(ctx.session, member.id, on)
            if history is None:
                raise Refused(404, texts.CONSOLE_NOT_FOUND)
            try:
                async with ctx.session.begin_nested():
                    note = await change(ctx, history.report_id)
            except AdminError as exc:
                error = texts.CONSOLE_NOT_ACCEPTED.format(reason=exc)
                return await _day_page(ctx, member, on, 400, error=error)
            return see_page(f"/console/members/{member.id}/days/{on.isoformat()}", note)

        return await console.run(request, work)

    @r.post("/members/{member_id}/days/{day}/edit")
    async def edit(request: Request, member_id: int, day: str) -> Response:
        async def change(ctx: Ctx, report_id: int) -> str:
            field = ctx.form.get("field", "")
            changed = await records.staff_edit(
                ctx.session, report_id, field, ctx.form.get("value", ""), ctx.staff.id, ctx.now,
                reason=ctx.form.get("reason"),
            )  # fmt: skip
            return f"{'edited' if changed else 'unchanged'}&field={quote(field)}"

        return await _day_change(request, member_id, day, change)

    @r.post("/members/{member_id}/days/{day}/sign-off")
    async def sign_off(request: Request, member_id: int, day: str) -> Response:
        async def change(ctx: Ctx, report_id: int) -> str:
            await records.sign_off(
                ctx.session, report_id, ctx.staff.id, ctx.now,
                advice=ctx.form.get("advice"), channel="console",
            )  # fmt: skip
            return "signed_off"

        return await _day_change(request, member_id, day, change)

    # --- managers: the month's compliance view, exports ----------------------------------

    @r.get("/compliance")
    async def compliance_page(request: Request, month: str | None = None) -> Response:
        async def work(ctx: Ctx) -> Response:
            first = month_or_404(month, ctx.today)
            view = await compliance_report.month_view(ctx.session, ctx.facility, first)
            current = first == ctx.today.replace(day=1)
            deadlines = (
                await compliance_report.coming_deadlines(ctx.session, ctx.facility, ctx.today)
                if current
                else ()
            )
            names = {m.member_id: m.name for m in view.members}
            findings = [
                (f, compliance_report.describe(f, names))
                for f in view.all_findings
                if f.member_id is not None and f.day is not None
            ]
            await ctx.audit(
                "console.compliance", f"facility:{ctx.facility.id}", month=f"{first:%Y-%m}"
            )
            return console.page(
                ctx, "compliance.html", first=first,
                summary=compliance_report.render_month(view, deadlines), findings=findings,
                prev=pages.shift_month(first, -1), next=pages.shift_month(first, 1),
            )  # fmt: skip

        return await console.run(request, work, manager=True)

    @r.get("/exports")
    async def exports_page(request: Request) -> Response:
        async def work(ctx: Ctx) -> Response:
            members = await admin.list_members(ctx.session, ctx.facility)
            return console.page(
                ctx, "exports.html", kinds=exports.KINDS, formats=exports.FORMATS,
                members=members, month=f"{ctx.today:%Y-%m}",
            )  # fmt: skip

        return await console.run(request, work, manager=True)

    @r.get("/exports/file")
    async def export_file(
        request: Request, kind: str, month: str, fmt: str = "csv", member: str | None = None
    ) -> Response:
        async def work(ctx: Ctx) -> Response:
            who = await ctx.member(int_or_none(member) or 0) if member else None
            first = month_or_404(month, ctx.today)
            try:
                _table, data = await exports.export(
                    ctx.session, ctx.facility, kind, first, fmt=fmt, now=ctx.now,
                    actor=staff_ref(ctx.staff.id), member=who,
                )  # fmt: skip
            except AdminError as exc:
                raise Refused(400, texts.CONSOLE_NOT_ACCEPTED.format(reason=exc)) from exc
            name = exports.filename(kind, first, who, fmt)
            media = (
                "text/csv; charset=utf-8"
                if fmt == "csv"
                else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            )
            return Response(
                data,
                media_type=media,
                headers={
                    **NO_STORE,
                    "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
                },
            )

        return await console.run(request, work, manager=True)

    return r
