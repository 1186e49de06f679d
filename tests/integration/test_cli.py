"""The operator CLI in its documented forms (DESIGN §7), against a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.main import app
from tests.support import run_cli as run

runner = CliRunner()


def test_set_up_a_facility_from_the_command_line(cli_env: Path) -> None:
    run("db", "upgrade")
    assert "ひまわり" in run("facility", "init", "--name", "ひまわり", "--capacity", "20")
    run("member", "add", "--name", "山田 太郎", "--kana", "やまだ たろう", "--recipient-no", "123")
    csv = cli_env / "members.csv"
    csv.write_text(
        "氏名,ふりがな,受給者証番号,市町村,作業\n佐藤 花子,さとう はなこ,456,東大阪市,封入|検品\n",
        encoding="utf-8-sig",
    )
    assert "imported 1 members" in run("member", "import", str(csv))
    listing = run("member", "list")
    assert "山田 太郎" in listing and "佐藤 花子" in listing
    assert "zaitaku 10:00:00-15:00:00" in run(
        "schedule",
        "set",
        "やまだ",
        "--days",
        "mon,tue,wed",
        "--mode",
        "zaitaku",
        "--start",
        "10:00",
        "--end",
        "15:00",
    )
    code = run("member", "link-code", "佐藤").strip()
    assert code.isdigit() and len(code) == 6
    assert "manager" in run(
        "staff", "add", "--name", "鈴木", "--slack-user", "U1", "--role", "manager"
    )


def test_operator_mistakes_are_explained(cli_env: Path) -> None:
    run("facility", "init", "--name", "A")
    bad = runner.invoke(app, ["facility", "init", "--name", "B", "--profile", "tokyo"])
    assert bad.exit_code == 2 and "unknown profile" in bad.output
    run("facility", "init", "--name", "B")
    many = runner.invoke(app, ["member", "list"])
    assert many.exit_code == 2 and "--facility" in many.output
    run("member", "add", "--name", "山田 太郎", "--facility", "A")
    run("member", "add", "--name", "山田 花子", "--facility", "A")
    ambiguous = runner.invoke(app, ["member", "link-code", "山田", "--facility", "A"])
    assert (
        ambiguous.exit_code == 2
        and "山田 太郎" in ambiguous.output
        and "山田 花子" in ambiguous.output
    )
    sched = runner.invoke(
        app, ["schedule", "set", "山田 太郎", "--days", "mon", "--mode", "zaitaku"]
    )
    assert sched.exit_code == 2 and "--start" in sched.output


def test_demo_script_plays_a_day_and_prints_the_reports(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL")
    out = run("demo", "--script")
    assert "開始を記録しました" in out and "終了を記録しました" in out
    table = out.split("=== 日報 2026-07-01 ===")[1]
    assert (
        "山田 太郎 | ended | 09:58 | 4 | 6 | データ入力 | 14:55 | データ入力 | 入力120件 | 3"
        in table
    )
    assert "鈴木 一郎 | absent" in table
    # The scheduler's part: reminders, a missed contact escalated then resolved, the digest.
    assert "おはようございます、田中 美咲さん。" in out
    assert "【開始の連絡がありません】田中 美咲さん" in out
    assert "【連絡がありました】田中 美咲さん" in out
    assert "【本日のまとめ】7/1 在宅利用者 4名" in out
    assert (cli_env / "nippo-demo.db").exists()
    # Running it again starts afresh.
    assert run("demo", "--script").count("=== 日報") == 1
