"""The records commands in their documented forms, against a real SQLite file."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from bot.cli.main import app
from tests.support import run_cli as run

runner = CliRunner()


def fails(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 2, result.output
    return result.output


def test_records_from_the_command_line(cli_env: Path) -> None:
    run("facility", "init", "--name", "ひまわり", "--profile", "higashiosaka", "--capacity", "10")
    run("member", "add", "--name", "青木 葵", "--recipient-no", "2700000001",
        "--municipality", "東大阪市")  # fmt: skip
    run("member", "add", "--name", "千葉 智", "--municipality", "東大阪市")
    run("staff", "add", "--name", "鈴木", "--slack-user", "U1", "--role", "staff")
    run("staff", "add", "--name", "田中", "--slack-user", "U2", "--role", "staff")
    run("staff", "add", "--name", "佐藤", "--slack-user", "U9", "--role", "manager")

    assert "mention order U1 U2 U9" in run(
        "member", "assign", "青木", "--staff", "U1", "--substitute", "U2"
    )
    assert "2026-07-01〜2026-12-31" in run(
        "member", "set", "青木", "--approval-from", "2026-07-01", "--approval-until", "2026-12-31"
    )
    out = run("log", "青木", "--method", "電話", "--text", "体調と進み具合を確認", "--staff", "U1",
              "--at", "2026-07-02T13:00+09:00")  # fmt: skip
    assert "2026-07-02 電話" in out
    assert "counts as the monthly evaluation" in run(
        "eval", "add", "青木", "--kind", "weekly", "--date", "2026-07-03", "--method", "通所",
        "--staff", "U1", "--goal", "毎日4時間の作業", "--activities", "データ入力を毎日4時間",
        "--achievement", "概ね達成", "--issues", "午後の集中", "--plan", "休憩を1回増やす",
        "--health-notes", "午後に疲れやすい", "--continuation", "継続が妥当",
    )  # fmt: skip

    half = run(
        "eval", "add", "千葉", "--kind", "weekly", "--date", "2026-07-03", "--method", "通所",
        "--staff", "U1", "--goal", "毎日3時間の作業", "--achievement", "概ね達成",
    )  # fmt: skip
    assert "counts as the monthly evaluation" not in half  # キ: only with the whole sheet
    assert "incomplete 評価シート" in half and "改善方針" in half

    month = run("month", "--month", "2026-07")
    assert month.splitlines()[0] == "2026年7月の記録の確認(東大阪市)"
    assert "- 青木 葵: 在宅 0日" in month and "月の評価 7/3" in month

    sheet = cli_env / "sheet.xlsx"
    assert "1 rows" in run("export", "eval-sheet", "--month", "2026-07", "--member", "青木",
                           "--format", "xlsx", "--out", str(sheet))  # fmt: skip
    ws = load_workbook(sheet).active
    assert ws is not None
    rows = list(ws.iter_rows(values_only=True))
    assert rows[1][3] == "令和8年7月3日" and rows[1][12] == "午後に疲れやすい"
    run("export", "support-records", "--month", "2026-07")
    text = (cli_env / "support-records-2026-07.csv").read_bytes().decode("utf-8-sig")
    (row,) = list(csv.DictReader(io.StringIO(text)))
    assert (row["手段"], row["職員"], row["内容"]) == ("電話", "鈴木", "体調と進み具合を確認")

    assert "would delete (dry run; add --apply)" in run("retention", "run")
    assert "deleted: report_revision 0" in run("retention", "run", "--apply")


def test_records_mistakes_are_explained(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run("facility", "init", "--name", "ひまわり")
    run("member", "add", "--name", "青木 葵")
    run("staff", "add", "--name", "鈴木", "--slack-user", "U1", "--role", "staff")
    assert "unknown method" in fails(
        "log", "青木", "--method", "手紙", "--text", "x", "--staff", "U1"
    )
    assert "on site" in fails(
        "eval", "add", "青木", "--kind", "monthly", "--date", "2026-07-03", "--method", "電話",
        "--staff", "U1",
    )  # fmt: skip
    assert "unknown export" in fails("export", "diary", "--month", "2026-07")
    assert "YYYY-MM" in fails("export", "nippo", "--month", "July")
    assert "no active staff" in fails("member", "assign", "青木", "--staff", "U404")
    monkeypatch.setenv("RETENTION_YEARS", "3")
    assert "at least 5 years" in fails("retention", "run", "--apply")
