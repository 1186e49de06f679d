"""No `nippo` command prints a traceback for an operator's mistake (issue #22).

Every command of the typer app is found by walking it, so a command added later is covered
without a line here: it runs with plausible arguments against a database nobody listens on
and against an empty, migrated database (no facility yet). Each answers one clear `error:`
line and a non-zero exit, or works (exit 0) where it needs neither database nor facility.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from pydantic import SecretStr
from typer.testing import CliRunner

from bot.app.settings import Settings
from bot.app.web import create_app
from bot.cli.main import app
from storage import db as storage_db
from storage.db import Database

runner = CliRunner()

# Plausible values by parameter name; anything else gets "x".
VALUES = {
    "member": "山田",
    "method": "電話",
    "text": "体調は良好とのこと",
    "kind": "weekly",
    "month": "2026-07",
    "on": "2026-07-01",
    "name": "事業所",
    "slack_user": "U01",
    "staff": "U01",
    "days": "mon,wed",
    "mode": "zaitaku",
    "reason": "本人に電話で確認",
    "start": "10:00",
    "end": "15:00",
    "field": "work_content",
    "value": "x",
    "label": "家族",
    "number": "1",
    "ids": "1",
    "file": "members.csv",
}
MEMBERS_CSV = "name,kana\n山田,ヤマダ\n"
# Optional in the signature, yet a record needs it: given so the command reaches the database.
ALWAYS_GIVEN = {"staff", "reason", "name", "start", "end"}
# Commands that need no database (exit 0, or one line of their own: LINE not set up for
# `line richmenu`); `serve` would start listening
# once its database answers, so it runs against the stopped database only.
NO_DATABASE = {"data key", "line richmenu install", "line richmenu status", "line richmenu remove"}
NEEDS_NO_FACILITY = {
    "db upgrade",
    "tick",
    "deliver",
    "demo",
    "audit verify",
    "audit seal",
    "audit show",
    "inbox failed",
    "inbox retry",
    "facility init",
    "data encrypt",
    "retention run",
    "line quota",  # the channel's month, not a facility's
}
ONLY_WHEN_DOWN = {"serve"}
# `nippo doctor` reports many ✔/✘ lines by design: checked for tracebacks and exit status only.
MANY_LINES = {"doctor"}


def commands() -> Iterator[tuple[str, list[str]]]:
    def walk(command: Any, path: list[str]) -> Iterator[tuple[str, list[str]]]:
        if hasattr(command, "commands"):
            for name, sub in sorted(command.commands.items()):
                yield from walk(sub, [*path, name])
            return
        args = list(path)
        for param in command.params:
            if not param.required and param.name not in ALWAYS_GIVEN:
                continue
            value = VALUES.get(param.name, "x")
            if param.param_type_name == "argument":
                args.append(value)
            else:
                args += [param.opts[0], value]
        yield " ".join(path), args

    yield from walk(typer.main.get_command(app), [])


ALL = list(commands())


def test_every_command_is_found() -> None:
    names = {name for name, _ in ALL}
    assert {"member list", "report edit", "db upgrade", "serve", "export"} <= names


def _error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


def _check(name: str, args: list[str], env: dict[str, str], *, may_work: bool) -> str:
    result = runner.invoke(app, args, env=env, input="")
    output = result.output  # stdout and stderr as the terminal shows them
    assert "Traceback" not in output, f"nippo {name}:\n{output}"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"nippo {name} raised {result.exception!r}:\n{output}")
    if result.exit_code == 0:
        assert may_work, f"nippo {name} exited 0:\n{output}"
        return output
    if name not in MANY_LINES:
        errors = _error_lines(result.stderr)
        assert len(errors) == 1, f"nippo {name}: not one clear line:\n{output}"
        assert result.stderr.strip() == errors[0], f"nippo {name}: more than one line:\n{output}"
    return output


@pytest.fixture
def quiet_logs() -> Iterator[None]:
    """Library warnings (alembic's INFO lines) are not the command's answer. `nippo serve`
    configures logging onto the runner's stream, closed afterwards: the set-up is restored."""
    loggers = [
        logging.getLogger(name) for name in ("", "apscheduler", "uvicorn.access", "uvicorn.error")
    ]
    saved = [(lg.level, lg.handlers[:], lg.filters[:]) for lg in loggers]
    logging.disable(logging.WARNING)
    yield
    logging.disable(logging.NOTSET)
    for lg, (level, handlers, filters) in zip(loggers, saved, strict=True):
        lg.setLevel(level)
        lg.handlers[:] = handlers
        lg.filters[:] = filters


@pytest.mark.parametrize(("name", "args"), ALL, ids=[name for name, _ in ALL])
def test_a_stopped_database_is_one_line(
    name: str, args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, quiet_logs: None
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "members.csv").write_text(MEMBERS_CSV, encoding="utf-8")
    env = {"DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/x"}
    output = _check(name, args, env, may_work=name in NO_DATABASE)
    if name not in NO_DATABASE | MANY_LINES:
        assert "データベースに接続できません" in output, output


def test_an_unreachable_sqlite_file_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, quiet_logs: None
) -> None:
    """A path under a plain file can be neither created nor opened."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("")
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'file' / 'nippo.db'}"}
    output = _check("member list", ["member", "list"], env, may_work=False)
    assert "error:" in output


@pytest.fixture(scope="module")
def empty_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('empty') / 'empty.db'}"
    storage_db.upgrade(url)
    return url


@pytest.mark.parametrize(
    ("name", "args"),
    [(n, a) for n, a in ALL if n not in ONLY_WHEN_DOWN],
    ids=[n for n, _ in ALL if n not in ONLY_WHEN_DOWN],
)
def test_no_facility_yet_is_one_line(
    name: str,
    args: list[str],
    empty_database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    quiet_logs: None,
) -> None:
    monkeypatch.chdir(tmp_path)
    # a fresh copy each time: `facility init` or `demo` must not give the next one a facility
    copy = tmp_path / "empty.db"
    source = sqlite3.connect(empty_database.removeprefix("sqlite:///"))
    target = sqlite3.connect(copy)
    source.backup(target)
    source.close()
    target.close()
    (tmp_path / "members.csv").write_text(MEMBERS_CSV, encoding="utf-8")
    env = {"DATABASE_URL": f"sqlite:///{copy}"}
    output = _check(name, args, env, may_work=name in NEEDS_NO_FACILITY | NO_DATABASE)
    if name not in NEEDS_NO_FACILITY | NO_DATABASE | MANY_LINES:
        assert "no facility yet" in output, output


# `nippo serve`: a platform half set up names exactly what is missing.


def test_one_line_credential_names_the_missing_one(
    db: Database, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.app.web")
    settings = Settings(
        database_url=db_url,
        line_channel_secret=SecretStr("s"),
        line_channel_access_token=None,
        slack_bot_token=None,
        slack_signing_secret=SecretStr("s"),
    )
    create_app(settings, db)
    lines = [r for r in caplog.records if r.name == "bot.app.web" and " is off" in r.getMessage()]
    line_off = next(r for r in lines if r.getMessage().startswith("LINE"))
    slack_off = next(r for r in lines if r.getMessage().startswith("Slack"))
    assert line_off.levelno == logging.WARNING
    assert line_off.getMessage().startswith(
        "LINE is off: LINE_CHANNEL_ACCESS_TOKEN not set (only LINE_CHANNEL_SECRET is)"
    )
    assert slack_off.getMessage().startswith(
        "Slack is off: SLACK_BOT_TOKEN not set (only SLACK_SIGNING_SECRET is)"
    )


def test_no_credentials_at_all_is_a_choice_not_a_warning(
    db: Database, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.app.web")
    create_app(Settings(database_url=db_url, slack_bot_token=None, slack_signing_secret=None), db)
    off = [r for r in caplog.records if r.name == "bot.app.web" and " is off" in r.getMessage()]
    assert {r.levelno for r in off} == {logging.INFO}
    assert any(
        "LINE_CHANNEL_SECRET and LINE_CHANNEL_ACCESS_TOKEN not set" in r.getMessage() for r in off
    )


def test_slack_start_has_no_token_unused_warning(
    db: Database, db_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bolt reads SLACK_BOT_TOKEN from the environment itself, as `nippo serve` has it."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "secret")
    caplog.set_level(logging.DEBUG)
    create_app(Settings(database_url=db_url), db)
    assert any("Slack is on" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if "will be unused" in r.getMessage()]


def test_a_database_newer_than_this_code_is_one_line(
    cli_env: Path, empty_database: str, quiet_logs: None
) -> None:
    """Rolled back to an older Nippo: the schema's revision is unknown to its migrations."""
    copy = cli_env / "newer.db"
    with (
        sqlite3.connect(copy) as target,
        sqlite3.connect(empty_database.removeprefix("sqlite:///")) as source,
    ):
        source.backup(target)
        target.execute("UPDATE alembic_version SET version_num = '0099_from_the_future'")
    env = {"DATABASE_URL": f"sqlite:///{copy}"}
    output = _check("member list", ["member", "list"], env, may_work=False)
    assert "スキーマがこの版の Nippo と合いません" in output
    assert "0099_from_the_future" in output


def test_a_bad_setting_is_one_line(cli_env: Path, quiet_logs: None) -> None:
    output = _check("member list", ["member", "list"], {"RETENTION_YEARS": "five"}, may_work=False)
    assert "設定 RETENTION_YEARS が正しくありません" in output
