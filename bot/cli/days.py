"""`nippo report classify`: staff say what a flagged day was (在宅, 通所 or no service).
Registered on `nippo report` by importing this module in bot.cli.main."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from bot.cli.base import FacilityOpt, _run, now
from bot.cli.records import StaffOpt, acting, report_app, require
from bot.core import texts
from bot.core.domain import DayMode
from bot.services import days
from storage.db import Database


@report_app.command("classify")
def report_classify(
    member: str,
    on: Annotated[str, typer.Option("--date", help="YYYY-MM-DD")],
    mode: Annotated[str, typer.Option("--mode", help="zaitaku|tsusho|off")],
    staff: StaffOpt = None,
    reason: Annotated[
        str | None, typer.Option("--reason", help="修正理由 (required), e.g. 本人に電話で確認")
    ] = None,
    facility: FacilityOpt = None,
) -> None:
    """Say what a day was (a day reported outside the plan is flagged until then)."""
    staff_user = require(staff, texts.STAFF_REQUIRED)
    why = require(reason, texts.REASON_OPTION_REQUIRED)
    try:
        day_mode = DayMode(mode)
        day = date.fromisoformat(on)
    except ValueError as exc:
        typer.echo(f"error: --mode is zaitaku, tsusho or off and --date YYYY-MM-DD ({exc})")
        raise typer.Exit(2) from exc

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            _f, m, s = await acting(session, facility, member, staff_user)
            done = await days.classify_day(session, m, day, day_mode, s, why, now())
            typer.echo(f"{m.name} {day.isoformat()}: mode {done.before} -> {done.after}")
            if done.flag_cleared:
                typer.echo(f"flag cleared: {done.flag_cleared}")
            if done.sign_off_voided:
                typer.echo(texts.CLI_SIGN_OFF_VOIDED)

    _run(work)
