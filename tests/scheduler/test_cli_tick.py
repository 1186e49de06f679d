"""`nippo tick [--at ISO-8601]` and `nippo deliver` (DESIGN §7) against a real SQLite file."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from bot.cli.main import app
from tests.support import run_cli as run

runner = CliRunner()


def test_tick_at_an_instant_prints_its_effects_once(cli_env: Path) -> None:
    run("facility", "init", "--name", "ひまわり", "--alert-channel", "C1")
    run("member", "add", "--name", "山田 太郎")
    run(
        "schedule", "set", "山田", "--days", "wed", "--mode", "zaitaku",
        "--start", "10:00", "--end", "15:00",
    )  # fmt: skip
    first = run("tick", "--at", "2026-07-01T10:31+09:00")
    assert "0 reminders, 1 alerts" in first  # not linked: no reminder, but staff hear of it
    assert "alert:missed-start:1:2026-07-01:staff" in first
    again = run("tick", "--at", "2026-07-01T10:32+09:00")
    assert "0 reminders, 0 alerts" in again
    assert "nothing to deliver" in run("deliver")  # no platform: messages wait


def test_tick_explains_a_bad_instant(cli_env: Path) -> None:
    naive = runner.invoke(app, ["tick", "--at", "2026-07-01T10:31"])
    assert naive.exit_code == 2 and "UTC offset" in naive.output
    bad = runner.invoke(app, ["tick", "--at", "soon"])
    assert bad.exit_code == 2 and "ISO-8601" in bad.output
