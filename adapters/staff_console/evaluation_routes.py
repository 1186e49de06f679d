"""The console's evaluations: a member's 週1回 and 月1回 evaluations with what is due, the
評価シート as a form (`records.record_evaluation`, the same use case as `nippo eval add` and
Slack's form) and each sheet printable on A4 with a 確認欄."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from adapters.staff_console.console import Console, Ctx, Refused, see_page
from bot.core import texts
from bot.queries import compliance_report, exports
from bot.services import records
from bot.services.admin import AdminError
from storage.models import Evaluation, Member, Staff

SHOWN = 20  # the latest evaluations listed


def router(console: Console) -> APIRouter:
    r = APIRouter(prefix="/console", include_in_schema=False)

    async def list_page(
        ctx: Ctx, member: Member, status: int = 200, error: str | None = None
    ) -> Response:
        stmt = (
            select(Evaluation)
            .where(Evaluation.member_id == member.id)
            .order_by(Evaluation.date.desc(), Evaluation.id.desc())
            .limit(SHOWN)
        )
        done = list((await ctx.session.execute(stmt)).scalars())
        due = [
            compliance_report.describe(f, {member.id: member.name})
            for f in await compliance_report.coming_deadlines(ctx.session, ctx.facility, ctx.today)
            if f.member_id == member.id
        ]
        await ctx.audit("console.evaluations", f"member:{member.id}")
        return console.page(
            ctx, "evaluations.html", status, error=error, member=member, done=done, due=due,
            methods=list(records.EVALUATION_METHODS), sheet=texts.EVAL_SHEET_LABELS,
            kinds=texts.EVAL_MODAL_TITLE, form=ctx.form,
        )  # fmt: skip

    @r.get("/members/{member_id}/evaluations")
    async def evaluations(request: Request, member_id: int) -> Response:
        async def work(ctx: Ctx) -> Response:
            return await list_page(ctx, await ctx.member(member_id))

        return await console.run(request, work)

    @r.post("/members/{member_id}/evaluations")
    async def add(request: Request, member_id: int) -> Response:
        async def work(ctx: Ctx) -> Response:
            member, f = await ctx.member(member_id), ctx.form
            try:
                async with ctx.session.begin_nested():
                    try:
                        day = date.fromisoformat(f.get("date", ""))
                    except ValueError:
                        raise AdminError(texts.SLACK_BAD_DATE) from None
                    await records.record_evaluation(
                        ctx.session, member.id, kind=f.get("kind", ""), day=day,
                        method=f.get("method", ""), now=ctx.now, staff_id=ctx.staff.id,
                        **{k: f.get(k) for k in records.SHEET_FIELDS},
                    )  # fmt: skip
            except AdminError as exc:
                error = texts.CONSOLE_NOT_ACCEPTED.format(reason=exc)
                return await list_page(ctx, member, 400, error)
            return see_page(f"/console/members/{member.id}/evaluations", "saved")

        return await console.run(request, work)

    @r.get("/members/{member_id}/evaluations/{evaluation_id}")
    async def sheet(request: Request, member_id: int, evaluation_id: int) -> Response:
        async def work(ctx: Ctx) -> Response:
            member = await ctx.member(member_id)
            evaluation = await ctx.session.get(Evaluation, evaluation_id)
            if evaluation is None or evaluation.member_id != member.id:
                raise Refused(404, texts.CONSOLE_NOT_FOUND, audit=True)
            by = await ctx.session.get(Staff, evaluation.staff_id) if evaluation.staff_id else None
            await ctx.audit("console.evaluation", f"evaluation:{evaluation.id}")
            return console.page(
                ctx, "evaluation.html", member=member, e=evaluation, by=by,
                sheet=texts.EVAL_SHEET_LABELS, kinds=exports.EVAL_KIND_LABELS,
                method=records.method_label(evaluation.method),
            )  # fmt: skip

        return await console.run(request, work)

    return r
