"""The `nippo` command line (DESIGN §7). Operators and scripts rely on these exact forms."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from bot.app.settings import Settings
from bot.cli.errors import ExplainedErrors
from bot.core.ports import system_clock
from bot.services.admin import AdminError
from storage import db as storage_db
from storage.db import Database

if TYPE_CHECKING:
    from adapters.line.sender import LineApi

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


now = system_clock  # a module attribute, so a test can set the CLI's moment


def parse_date(text: str) -> date:
    """A YYYY-MM-DD option value; a wrong one is one clear line, not a traceback."""
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise AdminError(f"dates are YYYY-MM-DD, not {text!r}") from exc


def line_api(settings: Settings) -> LineApi:
    """LINE's API clients from the settings (close them with `aclose`); an operator's mistake
    when LINE is not set up."""
    from adapters.line.sender import LineApi  # the SDK loads only for commands that use it

    if settings.line_channel_access_token is None:
        raise AdminError(
            "LINE_CHANNEL_ACCESS_TOKEN が未設定です。.env に LINE のチャネルアクセストークンを"
            "入れてください (LINE is not configured)"
        )
    return LineApi(
        settings.line_channel_access_token.get_secret_value(),
        settings.line_api_base_url,
        settings.line_data_api_base_url,
    )


def _run(work: Callable[[Database], Awaitable[T]], url: str | None = None) -> T:
    """Migrate, open the database, run one unit of work, close. Operator mistakes (a wrong
    argument, no such facility or member: exit 2; the database out of reach: exit 1) become
    one line, in `ExplainedErrors` around every command (bot/cli/errors.py)."""
    url = url or Settings().database_url
    storage_db.upgrade(url)

    async def go() -> T:
        database = Database(url, actor="cli")  # the audit log's actor of the command's writes
        try:
            return await work(database)
        finally:
            await database.dispose()

    return asyncio.run(go())
