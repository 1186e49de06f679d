"""`nippo doctor`: checks the installation (database, LINE, Slack, public URL, clock,
facility) and prints one ✔ / ✘ line each; exit status 1 when anything is ✘. Registered on
the main app by importing this module in bot.cli.main."""

from __future__ import annotations

import asyncio

import typer

from bot.app import doctor
from bot.app.settings import Settings
from bot.cli.base import FacilityOpt, app, now
from storage.db import Database


@app.command("doctor")
def doctor_command(facility: FacilityOpt = None) -> None:
    """Check that the database, LINE, Slack, the public URL, the clock and the facility
    are set up; exit status 1 when anything needs fixing."""
    try:
        settings = Settings()
    except ValueError as exc:  # a malformed setting: say which, in one line
        typer.echo(f"✘ 設定: .env または環境変数に誤りがあります（{exc}）", err=True)
        raise typer.Exit(1) from exc

    async def go() -> list[doctor.Check]:
        database = doctor.open_database(settings.database_url)
        try:
            return await doctor.run(
                settings, database, now, facility, emit=lambda c: typer.echo(doctor.render(c))
            )
        finally:
            if isinstance(database, Database):
                await database.dispose()

    checks = asyncio.run(go())
    if doctor.failed(checks):
        typer.echo("\n✘ の項目を直してから、もう一度 `nippo doctor` を実行してください。")
        raise typer.Exit(1)
    typer.echo("\nすべて確認できました。")
