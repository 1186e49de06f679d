"""The `nippo` command line (DESIGN §7). Operators and scripts rely on these exact forms."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from bot import admin
from bot.admin import AdminError
from bot.cli_errors import ExplainedErrors
from bot.settings import DEFAULT_DATABASE_URL, Settings
from storage import db as storage_db
from storage.audit_chain import acting_as
from storage.db import Database

T = TypeVar("T")
DEMO_DATABASE_URL = "sqlite:///nippo-demo.db"

app = typer.Typer(
    help="Nippo: daily check-ins for 在宅 B型 members over LINE and Slack.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=ExplainedErrors,  # an operator's mistake is one line and a non-zero exit
)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
facility_app = typer.Typer(help="Facilities.", no_args_is_help=True)
member_app = typer.Typer(help="Members (利用者).", no_args_is_help=True)
staff_app = typer.Typer(help="Staff and managers.", no_args_is_help=True)
schedule_app = typer.Typer(help="Weekly schedules.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(facility_app, name="facility")
app.add_typer(member_app, name="member")
app.add_typer(staff_app, name="staff")
app.add_typer(schedule_app, name="schedule")

FacilityOpt = Annotated[
    str | None, typer.Option("--facility", help="Facility name (needed when there are several).")
]


def now() -> datetime:
    return datetime.now(UTC)


def parse_date(text: str) -> date:
    """A YYYY-MM-DD option value; a wrong one is one clear line, not a traceback."""
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise AdminError(f"dates are YYYY-MM-DD, not {text!r}") from exc


def _run(work: Callable[[Database], Awaitable[T]], url: str | None = None) -> T:
    """Migrate, open the database, run one unit of work, close. Operator mistakes (a wrong
    argument, no such facility or member: exit 2; the database out of reach: exit 1) become
    one line, in `ExplainedErrors` around every command (bot/cli_errors.py)."""
    url = url or Settings().database_url
    storage_db.upgrade(url)

    async def go() -> T:
        database = Database(url, actor="cli")  # the audit log's actor of the command's writes
        try:
            return await work(database)
        finally:
            await database.dispose()

    return asyncio.run(go())


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
def member_link_code(member: str, facility: FacilityOpt = None) -> None:
    """Print a single-use 6-digit code (valid 24 h) for the member to send to the bot."""

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            f = await admin.pick_facility(session, facility)
            m = await admin.find_member(session, f, member)
            code = await admin.issue_link_code(session, m, now())
            await admin.audit(
                session, actor="cli", action="link_code", target=f"member:{m.id}", now=now()
            )
            typer.echo(code)

    _run(work)


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
    from bot import accounts

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
    from bot import accounts

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
    slack_user: Annotated[str, typer.Option("--slack-user")],
    role: Annotated[str, typer.Option("--role")] = "staff",
    facility: FacilityOpt = None,
) -> None:
    """Register a staff member or manager by their Slack user id."""

    async def work(database: Database) -> None:
        async with database.transaction() as session:
            f = await admin.pick_facility(session, facility)
            s = await admin.add_staff(
                session, f, name=name, slack_user=slack_user, role=role, now=now()
            )
            typer.echo(f"staff {s.id}: {s.name} ({s.role})")

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


@app.command()
def tick(
    at: Annotated[
        str | None,
        typer.Option("--at", help="ISO-8601 instant with an offset, e.g. 2026-07-01T10:31+09:00."),
    ] = None,
) -> None:
    """Run one scheduler tick (now, or at that instant) and print its effects."""
    from bot import ticks

    instant = now()
    if at is not None:
        try:
            instant = datetime.fromisoformat(at)
        except ValueError as exc:
            typer.echo(f"error: --at {at!r} is not an ISO-8601 instant", err=True)
            raise typer.Exit(2) from exc
        if instant.tzinfo is None:
            typer.echo("error: --at needs a UTC offset, e.g. 2026-07-01T10:31+09:00", err=True)
            raise typer.Exit(2)

    async def work(database: Database) -> None:
        with acting_as("bot"):  # the tick's effects are the bot's, as in `nippo serve`
            summary = await ticks.tick(database, instant)
        if summary.skipped:
            typer.echo("another replica is ticking; nothing done")
            return
        typer.echo(
            f"tick {instant.isoformat()}: {summary.candidates} member-days checked, "
            f"{len(summary.reminders)} reminders, {len(summary.alerts)} alerts, "
            f"{len(summary.resolved)} resolved, {len(summary.digests)} digests, "
            f"{len(summary.evaluations)} evaluation reminders"
        )
        for key in summary.effects:
            typer.echo(f"  {key}")

    _run(work)


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
) -> None:
    """Run the web app (webhooks, /healthz) with its background loops."""
    import uvicorn

    from bot import logs
    from bot.app import create_app, freeze_startup_heap

    settings = Settings()
    logs.configure(settings.log_level, settings.log_format)
    storage_db.upgrade(settings.database_url)
    app = create_app(settings)
    freeze_startup_heap()
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,
        # a flood of slow or idle connections gets 503 at once instead of starving webhooks;
        # the reverse proxy's header and body timeouts do the rest (docs/operations.md)
        limit_concurrency=settings.http_limit_concurrency,
        timeout_keep_alive=settings.http_keep_alive_seconds,
        proxy_headers=True,
        forwarded_allow_ips=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
    )


@app.command()
def deliver() -> None:
    """Flush the outbox once with the configured senders (LINE, …)."""
    from bot import delivery
    from bot.app import build_senders, close_senders

    settings = Settings()

    async def work(database: Database) -> None:
        senders = build_senders(settings, database)
        if not senders:
            typer.echo("no platform configured (set LINE_* or SLACK_*): nothing to deliver")
            return
        try:
            done = await delivery.flush(database, senders, now())
        finally:
            await close_senders(senders)
        typer.echo(f"sent {done.sent}, retrying {done.retried}, failed {done.failed}")

    _run(work)


@app.command()
def demo(
    script: Annotated[bool, typer.Option("--script", help="Play a whole simulated day.")] = False,
) -> None:
    """Try Nippo in the terminal: SQLite, no LINE or Slack account needed."""
    from bot import demo as demo_mod

    settings = Settings()
    url = settings.database_url
    name = "デモ事業所"
    if url == DEFAULT_DATABASE_URL and "DATABASE_URL" not in _env():
        url = DEMO_DATABASE_URL
        for suffix in ("", "-wal", "-shm"):
            Path(f"nippo-demo.db{suffix}").unlink(missing_ok=True)
    else:
        name = f"デモ事業所 {now():%Y%m%d-%H%M%S}"

    if script:
        _run(lambda database: demo_mod.run_script(database, typer.echo, name=name), url)
    else:
        _run(
            lambda database: demo_mod.run_interactive(database, input, typer.echo, now, name=name),
            url,
        )
    typer.echo(f"\nデータベース: {storage_db.async_url(url)}")


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    app()


# Records commands (log, eval, report, month, export, retention, member assign/set) live in
# their own module; importing it registers them on `app`.
# `nippo data` (encryption at rest) and `nippo audit` (the audit log) likewise.
from bot import (  # noqa: E402, F401
    cli_audit,
    cli_data,
    cli_days,
    cli_doctor,
    cli_inbox,
    cli_members,
    cli_records,
)
