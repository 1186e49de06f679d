"""同意書 and emergency contacts from the command line, and the consent export an officer reads.

APPI: health data is 要配慮個人情報 and needs prior consent (DESIGN §10); the 留意事項通知
(domain/001) asks 「あらかじめ利用者から書面等で同意を得ておく必要があります」 for evidence shown to
the city. Runs on SQLite and, with NIPPO_TEST_DATABASE_URL, PostgreSQL.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot.cli.main import app
from bot.services import consent
from bot.services.consent import Term
from storage.db import Database
from storage.models import AuditLog, Consent, Member
from tests.support import jst
from tests.support import run_cli as run

NOW = jst("2026-07-20", "12:00")


@pytest.fixture
def cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The CLI on this test's database (SQLite or PostgreSQL) at a fixed moment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", db_url)
    for module in ("bot.cli.members", "bot.cli.records", "bot.cli.admin"):
        monkeypatch.setattr(f"{module}.now", lambda: NOW)
    run("facility", "init", "--name", "ひまわり", "--profile", "hitachi")
    run("member", "add", "--name", "青木 葵")
    run("member", "add", "--name", "千葉 智")
    run("staff", "add", "--name", "鈴木 一郎", "--slack-user", "U1")
    run("staff", "add", "--name", "田中 花子", "--slack-user", "U2")
    yield db_url


def fails(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 2, result.output
    return result.output


def rows_of(db_url: str) -> list[Consent]:
    async def read() -> list[Consent]:
        database = Database(db_url)
        try:
            async with database.transaction() as session:
                return list((await session.execute(select(Consent).order_by(Consent.id))).scalars())
        finally:
            await database.dispose()

    return asyncio.run(read())


def member(db_url: str, name: str) -> Member:
    async def read() -> Member:
        database = Database(db_url)
        try:
            async with database.transaction() as session:
                stmt = select(Member).where(Member.name == name)
                return (await session.execute(stmt)).scalar_one()
        finally:
            await database.dispose()

    return asyncio.run(read())


@pytest.mark.parametrize(
    ("terms", "day", "expected"),
    [
        ([], date(2026, 7, 1), set()),
        ([Term(frozenset({"records"}), date(2026, 7, 2))], date(2026, 7, 1), set()),
        ([Term(frozenset({"records"}), date(2026, 7, 2))], date(2026, 7, 2), {"records"}),
        # a withdrawal counts from its own date
        (
            [Term(frozenset({"records", "evidence"}), date(2026, 7, 1), date(2026, 7, 10))],
            date(2026, 7, 9),
            {"records", "evidence"},
        ),
        (
            [Term(frozenset({"records", "evidence"}), date(2026, 7, 1), date(2026, 7, 10))],
            date(2026, 7, 10),
            set(),
        ),
        (
            [
                Term(frozenset({"records", "evidence"}), date(2026, 7, 1), date(2026, 7, 10)),
                Term(frozenset({"records"}), date(2026, 7, 10)),
            ],
            date(2026, 7, 15),
            {"records"},
        ),
    ],
)
def test_what_is_covered_on_a_day(terms: list[Term], day: date, expected: set[str]) -> None:
    assert consent.covered(terms, day) == expected


def test_slack_details_need_both_the_facility_setting_and_the_members_consent() -> None:
    assert consent.slack_details("full", frozenset({"slack"}))
    assert not consent.slack_details("full", frozenset({"records", "evidence"}))
    assert not consent.slack_details("minimal", frozenset({"slack"}))
    # Nippo's own sentence about a missed contact is no answer of the member's
    assert consent.alert_detail("missed_start", "minimal", frozenset())
    assert not consent.alert_detail("low_health", "full", frozenset({"records"}))


def test_consent_is_recorded_shown_withdrawn_and_exported(cli: str) -> None:
    out = run("member", "consent", "青木", "--covers", "records,evidence,slack",
              "--date", "2026-07-01", "--staff", "U1")  # fmt: skip
    assert out.splitlines()[0].endswith("青木 葵\trecords,evidence,slack")
    assert "2026-07-01 records,evidence,slack taken by 鈴木 一郎" in out
    assert "(entered 2026-07-20 12:00 by 鈴木 一郎)" in out  # the server clock, local time
    aoki = member(cli, "青木 葵")
    assert aoki.consent_at == NOW  # kept in sync: when the consent in force was entered

    # A partial withdrawal: evidence stops on 7/15, records and slack carry on.
    out = run("member", "consent", "青木", "--withdraw", "--covers", "evidence",
              "--date", "2026-07-15", "--staff", "U2")  # fmt: skip
    assert out.splitlines()[0].endswith("青木 葵\trecords,slack")
    assert "withdrawn 2026-07-15" in out
    assert "2026-07-15 records,slack taken by 田中 花子" in out
    first, rest = rows_of(cli)
    assert (first.withdrawn_on, first.covers) == (
        date(2026, 7, 15),
        ["records", "evidence", "slack"],
    )
    assert (rest.given_on, rest.covers, rest.withdrawn_on) == (
        date(2026, 7, 15),
        ["records", "slack"],
        None,
    )
    assert rest.entered_by.startswith("staff:") and rest.entered_at == NOW

    listing = run("member", "consent", "list")
    assert "\t千葉 智\tnone" in listing and "\t青木 葵\trecords,slack" in listing

    run("export", "consent", "--month", "2026-07", "--out", "consent.csv")
    text = Path("consent.csv").read_bytes()
    assert text.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(text.decode("utf-8-sig"))))
    columns = ("氏名", "同意の範囲", "同意日", "同意を受けた職員", "撤回日")
    assert [tuple(r[c] for c in columns) for r in rows] == [
        ("青木 葵", "記録の保管と市への提出、写真・音声等の証拠保存、Slackでの詳細表示",
         "令和8年7月1日", "鈴木 一郎", "令和8年7月15日"),
        ("青木 葵", "記録の保管と市への提出、Slackでの詳細表示", "令和8年7月15日", "田中 花子", ""),
        ("千葉 智", "同意書の記録なし", "", "", ""),
    ]  # fmt: skip
    assert rows[0]["記録日時"] == "2026-07-20 12:00" and rows[1]["記録者"] == "田中 花子"

    # Withdrawing the rest: nothing is in force, consent_at is cleared.
    out = run("member", "consent", "青木", "--withdraw", "--date", "2026-07-18", "--staff", "U1")
    assert out.splitlines()[0].endswith("青木 葵\tnone")
    assert member(cli, "青木 葵").consent_at is None
    assert "撤回できる同意がありません" in fails(
        "member", "consent", "青木", "--withdraw", "--date", "2026-07-19", "--staff", "U1"
    )


def test_consent_mistakes_are_explained(cli: str) -> None:
    base = ("member", "consent", "青木")
    assert "--covers is a comma-separated list of records, evidence, slack, not photos" in fails(
        *base, "--covers", "records,photos", "--date", "2026-07-01", "--staff", "U1"
    )
    assert "まだ先の日付です" in fails(
        *base, "--covers", "records", "--date", "2026-07-21", "--staff", "U1"
    )
    assert "needs --date YYYY-MM-DD and --staff" in fails(*base, "--covers", "records")
    assert "no active staff" in fails(
        *base, "--covers", "records", "--date", "2026-07-01", "--staff", "U404"
    )
    assert "YYYY-MM-DD" in fails(*base, "--covers", "records", "--date", "7/1", "--staff", "U1")
    assert rows_of(cli) == []


def test_viewing_consent_is_audited(cli: str) -> None:
    run("member", "consent", "青木")
    run("member", "emergency-contact", "list", "青木")

    async def actions() -> list[str]:
        database = Database(cli)
        try:
            async with database.transaction() as session:
                found = await session.execute(select(AuditLog.action).order_by(AuditLog.id))
                return [str(a) for a in found.scalars()]
        finally:
            await database.dispose()

    done = asyncio.run(actions())
    assert "consent.list" in done and "emergency_contact.list" in done


def test_emergency_contacts_are_added_listed_and_removed(cli: str) -> None:
    add = ("member", "emergency-contact", "add", "青木")
    out = run(*add, "--label", "家族", "--name", "青木 和子",
              "--phone", "０９０－１２３４－５６７８", "--note", "母 平日18時以降")  # fmt: skip
    assert "emergency contact 1 added" in out
    assert "1\t家族: 青木 和子 090-1234-5678(母 平日18時以降)" in out
    run(*add, "--label", "主治医", "--name", "ひたち心療内科 佐藤医師", "--phone", "0294-00-0000",
        "--staff", "U1")  # fmt: skip
    run(*add, "--label", "住所", "--name", "日立市幸町1-2-3 メゾン101")
    listing = run("member", "emergency-contact", "list", "青木")
    assert listing.splitlines() == [
        "1\t家族: 青木 和子 090-1234-5678(母 平日18時以降)",
        "2\t主治医: ひたち心療内科 佐藤医師 0294-00-0000",
        "3\t住所: 日立市幸町1-2-3 メゾン101",
    ]
    stored = member(cli, "青木 葵").emergency_contacts or []
    assert stored[1]["entered_by"].startswith("staff:") and stored[0]["entered_by"] == "cli"
    assert stored[0]["entered_at"] == NOW.isoformat()

    assert "removed 家族: 青木 和子" in run("member", "emergency-contact", "remove", "青木", "1")
    assert (
        run("member", "emergency-contact", "list", "青木").splitlines()[0].startswith("1\t主治医")
    )
    assert "no emergency contact" in run("member", "emergency-contact", "list", "千葉")

    assert "--label is one of 家族|主治医|住所|その他" in fails(
        *add, "--label", "友人", "--name", "x"
    )
    assert "読み取れませんでした" in fails(*add, "--label", "家族", "--phone", "call me")
    assert "名前か電話番号" in fails(*add, "--label", "家族")
    assert "no emergency contact number 9" in fails(
        "member", "emergency-contact", "remove", "青木", "9"
    )
