"""`nippo member consent …`, `nippo member emergency-contact …` and the evidence ZIP of
`nippo export evidence`. Registered on the main app by importing this module in bot.cli.main."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

from bot.cli.base import FacilityOpt, _run, member_app, now, parse_date
from bot.queries import evidence, exports
from bot.services import admin, consent, records
from bot.services import emergency_contacts as contacts
from bot.services.admin import AdminError
from storage.db import Database

contact_app = typer.Typer(
    help="Emergency contacts (家族, 主治医, 住所), shown to staff on urgent alerts.",
    no_args_is_help=True,
)
member_app.add_typer(contact_app, name="emergency-contact")

LIST = "list"


@member_app.command("consent")
def member_consent(
    member: Annotated[str, typer.Argument(help="MEMBER, or `list` for every member.")],
    covers: Annotated[
        str | None, typer.Option("--covers", help="records,evidence,slack (what it covers)")
    ] = None,
    on: Annotated[
        str | None, typer.Option("--date", help="YYYY-MM-DD the 同意書 was given (or withdrawn)")
    ] = None,
    staff: Annotated[
        str | None, typer.Option("--staff", help="Slack user id of the staff who took it.")
    ] = None,
    withdraw: Annotated[
        bool, typer.Option("--withdraw", help="Withdraw --covers (default: all) from --date.")
    ] = False,
    facility: FacilityOpt = None,
) -> None:
    """Record a member's 同意書 (or its withdrawal); without --covers/--withdraw, show it."""
    showing = covers is None and not withdraw
    if not showing and (on is None or staff is None):
        raise_usage("recording consent needs --date YYYY-MM-DD and --staff SLACK_USER")
    if member == LIST and not showing:
        raise_usage("`nippo member consent list` takes no --covers or --withdraw")

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            f = await admin.pick_facility(session, facility)
            if member == LIST:
                shown = list(await admin.list_members(session, f))
            else:
                shown = [await admin.find_member(session, f, member)]
            if not showing:
                m = shown[0]
                s = await records.staff_by_slack_user(session, f, staff or "")
                day = parse_date(on or "")
                if withdraw:
                    what = consent.parse_covers(covers) if covers else None
                    await consent.withdraw(session, f, m, covers=what, on=day, staff=s, now=now())
                else:
                    await consent.record(
                        session,
                        f,
                        m,
                        covers=consent.parse_covers(covers or ""),
                        given_on=day,
                        staff=s,
                        now=now(),
                    )
            else:
                target = f"member:{shown[0].id}" if member != LIST else f"facility:{f.id}"
                await admin.audit(
                    session, actor="cli", action="consent.list", target=target, now=now()
                )
            for line in await consent.describe(session, f, shown):
                typer.echo(line)

    _run(work)


def raise_usage(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


@contact_app.command("add")
def contact_add(
    member: str,
    label: Annotated[str, typer.Option("--label", help="|".join(contacts.LABELS))],
    name: Annotated[
        str | None, typer.Option("--name", help="Who (for 住所: the address itself).")
    ] = None,
    phone: Annotated[str | None, typer.Option("--phone")] = None,
    note: Annotated[str | None, typer.Option("--note", help="e.g. 母, 平日9-17時")] = None,
    staff: Annotated[
        str | None, typer.Option("--staff", help="Slack user id of the staff entering it.")
    ] = None,
    facility: FacilityOpt = None,
) -> None:
    """Add an emergency contact to a member."""
    contact = _checked(label, name, phone, note)

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            f = await admin.pick_facility(session, facility)
            m = await admin.find_member(session, f, member)
            by = "cli"
            if staff:
                by = f"staff:{(await records.staff_by_slack_user(session, f, staff)).id}"
            number = contacts.add(m, contact, now=now(), by=by)
            typer.echo(f"{m.name}: emergency contact {number} added")
            for line in contacts.describe(contacts.contacts_of(m)):
                typer.echo(line)

    _run(work)


def _checked(
    label: str, name: str | None, phone: str | None, note: str | None
) -> contacts.EmergencyContact:
    try:
        return contacts.make(label, name, phone, note)
    except AdminError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@contact_app.command("list")
def contact_list(member: str, facility: FacilityOpt = None) -> None:
    """List a member's emergency contacts, numbered."""

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            f = await admin.pick_facility(session, facility)
            m = await admin.find_member(session, f, member)
            await admin.audit(
                session, actor="cli", action="emergency_contact.list", target=f"member:{m.id}",
                now=now(),
            )  # fmt: skip
            found = contacts.contacts_of(m)
            if not found:
                typer.echo(f"{m.name}: no emergency contact")
            for line in contacts.describe(found):
                typer.echo(line)

    _run(work)


@contact_app.command("remove")
def contact_remove(
    member: str,
    number: Annotated[int, typer.Argument(help="The number `list` shows.")],
    facility: FacilityOpt = None,
) -> None:
    """Remove one of a member's emergency contacts."""

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            f = await admin.pick_facility(session, facility)
            m = await admin.find_member(session, f, member)
            gone = contacts.remove(m, number)
            typer.echo(f"{m.name}: removed {contacts.line(gone)}")

    _run(work)


def export_evidence(
    month: str, member: str | None, out: Path | None, force: bool, facility: str | None
) -> None:
    """`nippo export evidence`: the month's photos, files, voice and video as a ZIP with
    index.csv."""

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            f = await admin.pick_facility(session, facility)
            m = await admin.find_member(session, f, member) if member else None
            first = exports.parse_month(month)
            facility_id, member_id = f.id, (m.id if m else None)
        path = out or Path(exports.filename(evidence.KIND, first, m, "zip"))
        bundle = await evidence.export_bundle(
            database, facility_id, first, member_id=member_id, path=path, force=force,
            now=now(), actor="cli",
        )  # fmt: skip
        typer.echo(f"{path}: {len(bundle.entries)} files, SHA-256 {bundle.sha256}")
        for e in bundle.mismatches:
            typer.echo(
                f"warning: {e.path}: SHA-256 differs from the one stored on arrival "
                f"({e.item.sha256})",
                err=True,
            )
        if bundle.without_consent:
            typer.echo(
                f"warning: {len(bundle.without_consent)} files are from days without consent "
                "covering evidence (column 証拠保存の同意)",
                err=True,
            )
        if bundle.missing:
            typer.echo(f"warning: {bundle.missing} files were deleted meanwhile", err=True)

    _run(work)
