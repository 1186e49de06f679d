"""`nippo closure|schedule except|member tasks|member deactivate|staff remove|staff role`: the
settings that needed SQL before the staff console (issue #20); the console's settings pages
call the same use cases (bot/services/admin.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.base import (
    FacilityOpt,
    _run,
    app,
    member_app,
    now,
    parse_date,
    schedule_app,
    staff_app,
)
from bot.services import admin
from storage.db import Database

closure_app = typer.Typer(help="Days the facility is closed (年末年始 …).", no_args_is_help=True)
app.add_typer(closure_app, name="closure")


@closure_app.command("add")
def closure_add(
    day: str,
    note: Annotated[str | None, typer.Option("--note", help="e.g. 年末年始")] = None,
    facility: FacilityOpt = None,
) -> None:
    """Close the facility on DAY (YYYY-MM-DD): no check-ins expected, no reminders."""

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            f = await admin.pick_facility(session, facility)
            c = await admin.add_closure(session, f, parse_date(day), note)
            typer.echo(f"closed {c.date.isoformat()} {c.note or ''}".rstrip())

    _run(work)


@closure_app.command("remove")
def closure_remove(day: str, facility: FacilityOpt = None) -> None:
    """Open the facility again on DAY."""

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            f = await admin.pick_facility(session, facility)
            done = await admin.remove_closure(session, f, parse_date(day))
            typer.echo(f"open on {day}" if done else f"{day} was not a closure")

    _run(work)


@closure_app.command("list")
def closure_list(facility: FacilityOpt = None) -> None:
    """The closures from today on."""

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            f = await admin.pick_facility(session, facility)
            for c in await admin.closures(session, f, now().date()):
                typer.echo(f"{c.date.isoformat()}\t{c.note or ''}")

    _run(work)


@schedule_app.command("except")
def schedule_except(
    member: str,
    day: Annotated[str, typer.Option("--date", help="YYYY-MM-DD")],
    mode: Annotated[str | None, typer.Option("--mode", help="zaitaku, tsusho or off")] = None,
    start: Annotated[str | None, typer.Option("--start")] = None,
    end: Annotated[str | None, typer.Option("--end")] = None,
    note: Annotated[str | None, typer.Option("--note")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Back to the weekly pattern.")] = False,
    facility: FacilityOpt = None,
) -> None:
    """A one-off plan for one date, over the weekly pattern (or --clear it)."""

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            f = await admin.pick_facility(session, facility)
            m = await admin.find_member(session, f, member)
            on = parse_date(day)
            if clear:
                done = await admin.clear_day(session, m, on)
                typer.echo(
                    f"{m.name}: {day} " + ("follows the week again" if done else "unchanged")
                )
                return
            if mode is None:
                raise admin.AdminError("give --mode zaitaku|tsusho|off, or --clear")
            row = await admin.set_day(session, m, on, mode, start, end, note)
            times = f" {row.start:%H:%M}-{row.end:%H:%M}" if row.start and row.end else ""
            typer.echo(f"{m.name}: {day} {row.mode}{times}")

    _run(work)


@member_app.command("tasks")
def member_tasks(
    member: str,
    task: Annotated[
        list[str] | None, typer.Option("--task", help="Repeatable; none: clear.")
    ] = None,
    facility: FacilityOpt = None,
) -> None:
    """Set the member's usual tasks (offered as buttons when they plan the day)."""

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            f = await admin.pick_facility(session, facility)
            m = await admin.find_member(session, f, member)
            tasks = admin.set_usual_tasks(m, task or [])
            typer.echo(f"{m.name}: {' | '.join(tasks) or '(none)'}")

    _run(work)


@member_app.command("deactivate")
def member_deactivate(member: str, facility: FacilityOpt = None) -> None:
    """The member stops using the service: kept with their records, off boards and reminders."""

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            f = await admin.pick_facility(session, facility)
            m = await admin.find_member(session, f, member)
            admin.set_active(m, False)
            await admin.audit(
                session, actor="cli", action="member.deactivate", target=f"member:{m.id}",
                now=now(),
            )  # fmt: skip
            typer.echo(f"member {m.id}: {m.name} deactivated")

    _run(work)


@staff_app.command("remove")
def staff_remove(staff: str, facility: FacilityOpt = None) -> None:
    """The staff member leaves: kept in the records they made, no longer mentioned or signed in."""

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            f = await admin.pick_facility(session, facility)
            s = await admin.find_staff(session, f, staff)
            admin.set_active(s, False)
            typer.echo(f"staff {s.id}: {s.name} removed")

    _run(work)


@staff_app.command("role")
def staff_role(staff: str, role: str, facility: FacilityOpt = None) -> None:
    """Make a staff member a manager, or staff again (ROLE: staff or manager)."""

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            f = await admin.pick_facility(session, facility)
            s = await admin.find_staff(session, f, staff)
            admin.set_role(s, role)
            typer.echo(f"staff {s.id}: {s.name} ({s.role})")

    _run(work)
