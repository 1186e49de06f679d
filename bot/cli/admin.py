"""`nippo db|facility|member|staff|schedule`: setting up a facility (DESIGN §7)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from adapters.line import linking
from bot.app.settings import Settings
from bot.cli.base import (
    FacilityOpt,
    _run,
    db_app,
    facility_app,
    line_api,
    member_app,
    now,
    schedule_app,
    staff_app,
)
from bot.core import texts
from bot.services import admin
from bot.services.admin import AdminError
from storage import db as storage_db
from storage.db import Database


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations to DATABASE_URL."""
    storage_db.upgrade(Settings().database_url)
    typer.echo("database is up to date")


@facility_app.command("init")
def facility_init(
    name: Annotated[str, typer.Option("--name")],
    profile: Annotated[str, typer.Option("--profile")] = "national",
    capacity: Annotated[int | None, typer.Option("--capacity")] = None,
    alert_channel: Annotated[str | None, typer.Option("--alert-channel")] = None,
    tz: Annotated[str, typer.Option("--tz")] = "Asia/Tokyo",
) -> None:
    """Create a facility."""

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            f = await admin.init_facility(
                session,
                name=name,
                profile=profile,
                capacity=capacity,
                alert_channel=alert_channel,
                tz=tz,
                now=now(),
            )
            typer.echo(f"facility {f.id}: {f.name} ({f.profile}, {f.tz})")

    _run(work)


@facility_app.command("set")
def facility_set(
    facility: FacilityOpt = None,
    crisis_contact: Annotated[
        list[str] | None,
        typer.Option(
            "--crisis-contact",
            help='"名前|電話番号|受付時間", repeatable; "none": the national lines again.',
        ),
    ] = None,
    business_hours: Annotated[
        str | None, typer.Option("--business-hours", help="When staff answer, e.g. 09:00-18:00.")
    ] = None,
    business_days: Annotated[
        str | None, typer.Option("--business-days", help="e.g. mon,tue,wed,thu,fri")
    ] = None,
    ladder: Annotated[
        list[str] | None,
        typer.Option("--ladder", help="KEY=MINUTES (repeatable; KEY=default drops an override)."),
    ] = None,
    alert_channel: Annotated[str | None, typer.Option("--alert-channel")] = None,
    ask_temperature: Annotated[
        bool | None, typer.Option("--ask-temperature/--no-ask-temperature")
    ] = None,
    disclosure: Annotated[str | None, typer.Option("--disclosure", help="full or minimal")] = None,
    late_grace_hours: Annotated[
        int | None,
        typer.Option("--late-grace-hours", help="Hours after which an entry is a 事後記録."),
    ] = None,
    office_no: Annotated[
        str | None,
        typer.Option("--office-no", help="事業所番号 (10 digits, on 様式在-1); none clears it."),
    ] = None,
) -> None:
    """Change a facility's settings and print them."""
    changes = admin.FacilityChanges(
        crisis_contacts=crisis_contact or None,
        business_hours=business_hours,
        business_days=business_days,
        ladder=ladder or (),
        alert_channel=alert_channel,
        ask_temperature=ask_temperature,
        disclosure=disclosure,
        late_entry_grace_hours=late_grace_hours,
        office_no=office_no,
    )

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            f = await admin.pick_facility(session, facility)
            admin.update_facility(f, changes)
            await admin.audit(
                session, actor="cli", action="facility.set", target=f"facility:{f.id}", now=now()
            )
            typer.echo("\n".join(admin.describe_facility(f)))

    _run(work)


@member_app.command("add")
def member_add(
    name: Annotated[str, typer.Option("--name")],
    kana: Annotated[str | None, typer.Option("--kana")] = None,
    recipient_no: Annotated[str | None, typer.Option("--recipient-no")] = None,
    municipality: Annotated[str | None, typer.Option("--municipality")] = None,
    facility: FacilityOpt = None,
) -> None:
    """Add a member."""

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            f = await admin.pick_facility(session, facility)
            m = await admin.add_member(
                session,
                f,
                name=name,
                kana=kana,
                recipient_no=recipient_no,
                municipality=municipality,
                now=now(),
            )
            typer.echo(f"member {m.id}: {m.name}")

    _run(work)


@member_app.command("import")
def member_import(file: Path, facility: FacilityOpt = None) -> None:
    """Add members from a CSV with a header row (name, kana, recipient_no, municipality, tasks)."""
    content = file.read_text(encoding="utf-8-sig")

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            f = await admin.pick_facility(session, facility)
            added = await admin.import_members(session, f, content, now())
            typer.echo(f"imported {len(added)} members")

    _run(work)


@member_app.command("link-code")
def member_link_code(
    member: str,
    facility: FacilityOpt = None,
    qr: Annotated[
        Path | None,
        typer.Option(
            "--qr",
            help="Also write a printable QR PNG: scanned with LINE, it opens the chat with the"
            " code typed in.",
        ),
    ] = None,
) -> None:
    """Print a single-use 6-digit code (valid 24 h) for the member to send to the bot."""

    async def work(database: Database) -> None:
        # LINE is asked first: when it cannot say the account's id, no new code voids the old.
        account = await _line_basic_id() if qr is not None else None
        async with database.transaction() as session:
            f = await admin.pick_facility(session, facility)
            m = await admin.find_member(session, f, member)
            code = await admin.issue_link_code(session, m, now())
            await admin.audit(
                session, actor="cli", action="link_code", target=f"member:{m.id}", now=now()
            )
            if qr is not None and account is not None:  # a file that cannot be written: no code
                linking.write_qr(linking.oa_message_url(account, code), qr)
            typer.echo(code)
        if qr is not None:
            typer.echo(
                f"QR: {qr}（印刷してお渡しください。読み取るとコード入りでトークが開きます）"
            )

    _run(work)


async def _line_basic_id() -> str:
    api = line_api(Settings())
    try:
        return await linking.basic_id(api)
    except linking.LinkingUnavailable as exc:
        raise AdminError(
            f"LINE からアカウントの ID を取得できません。トークンと通信を確かめてください ({exc})"
        ) from exc
    finally:
        await api.aclose()


@member_app.command("list")
def member_list(facility: FacilityOpt = None) -> None:
    """List active members."""

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            f = await admin.pick_facility(session, facility)
            for m in await admin.list_members(session, f):
                typer.echo(f"{m.id}\t{m.name}\t{m.kana or ''}\t{m.recipient_no or ''}")

    _run(work)


@member_app.command("accounts")
def member_accounts(member: str, facility: FacilityOpt = None) -> None:
    """List the member's LINE/Slack accounts: id, platform, state, linked since, last message."""
    from bot.services import accounts

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            f = await admin.pick_facility(session, facility)
            m = await admin.find_member(session, f, member)
            found = await accounts.accounts_of(session, m)
            await admin.audit(
                session, actor="cli", action="account.list", target=f"member:{m.id}", now=now()
            )
            if not found:
                typer.echo(f"{m.name}: no linked account")
            for line in accounts.describe(found, f.tz):
                typer.echo(line)

    _run(work)


@member_app.command("unlink")
def member_unlink(
    member: str,
    platform: Annotated[
        str | None, typer.Option("--platform", help="Only the member's accounts on line|slack.")
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Every linked account of the member.")
    ] = False,
    facility: FacilityOpt = None,
) -> None:
    """Cut the member's account off (its next message gets the linking prompt)."""
    from bot.services import accounts

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            f = await admin.pick_facility(session, facility)
            m = await admin.find_member(session, f, member)
            done = await accounts.unlink(
                session, m, now(), actor="cli", platform=platform, all_=all_
            )
            if not done:
                typer.echo(f"{m.name}: nothing to unlink")
            for identity in done:
                typer.echo(f"unlinked {identity.id}\t{identity.platform}")

    _run(work)


@staff_app.command("add")
def staff_add(
    name: Annotated[str, typer.Option("--name")],
    slack_user: Annotated[
        str | None, typer.Option("--slack-user", help="Without Slack: leave out (console only).")
    ] = None,
    role: Annotated[str, typer.Option("--role")] = "staff",
    facility: FacilityOpt = None,
) -> None:
    """Register a staff member or manager (by their Slack user id when the facility uses Slack)."""

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            f = await admin.pick_facility(session, facility)
            s = await admin.add_staff(
                session, f, name=name, slack_user=slack_user, role=role, now=now()
            )
            typer.echo(f"staff {s.id}: {s.name} ({s.role})")

    _run(work)


@staff_app.command("login-link")
def staff_login_link(staff: str, facility: FacilityOpt = None) -> None:
    """Print a one-time link (valid 10 minutes) that signs the staff member in to the console."""
    from bot.services import console_auth

    base_url = Settings().public_url

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            f = await admin.pick_facility(session, facility)
            s = await admin.find_staff(session, f, staff)
            url = await console_auth.issue_link(
                session, s, now(), issued_by="cli", base_url=base_url
            )
            typer.echo(texts.CONSOLE_LINK_CLI.format(name=s.name, url=url))

    _run(work)


@schedule_app.command("set")
def schedule_set(
    member: str,
    days: Annotated[str, typer.Option("--days")],
    mode: Annotated[str, typer.Option("--mode")],
    start: Annotated[str | None, typer.Option("--start")] = None,
    end: Annotated[str | None, typer.Option("--end")] = None,
    facility: FacilityOpt = None,
) -> None:
    """Set a member's weekly pattern for some weekdays."""
    try:
        spec = admin.parse_schedule(days, mode, start, end)
    except AdminError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            f = await admin.pick_facility(session, facility)
            m = await admin.find_member(session, f, member)
            await admin.set_schedule(session, m, spec)
            typer.echo(
                f"{m.name}: {admin.weekday_names(spec.days)} {spec.mode.value} "
                f"{spec.start or ''}-{spec.end or ''}"
            )

    _run(work)
