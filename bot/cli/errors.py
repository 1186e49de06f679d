"""What an operator's mistake looks like on the command line: one line and a non-zero exit.

Every `nippo` command runs inside `ExplainedErrors.invoke`, so a command added later is
covered without code of its own. Only mistakes in the operator's hands (a database that is
down or out of reach, a schema newer than this code, a bad setting, a missing file, a wrong
argument) are explained; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from bot.services.admin import AdminError

EXIT_MISTAKE = 2  # a wrong argument, a missing facility or member (as AdminError always did)
EXIT_ENVIRONMENT = 1  # the database, the settings, a file: the command itself was fine


def _first_line(text: object) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""


def explain(exc: BaseException) -> tuple[str, int] | None:
    """The line to print and the exit status for an operator's mistake; None for a bug."""
    from alembic.util.exc import CommandError
    from pydantic import ValidationError
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError

    from storage.crypto import DataKeyError

    if isinstance(exc, AdminError):
        return f"error: {exc}", EXIT_MISTAKE
    if isinstance(exc, DBAPIError):
        reason = _first_line(exc.orig) or type(exc.orig).__name__
        if _is_unmigrated(reason):
            return (
                "error: データベースがまだ準備されていません。"
                f"`nippo db upgrade` を実行してください (not migrated: {reason})",
                EXIT_ENVIRONMENT,
            )
        if exc.connection_invalidated or _is_unreachable(exc):
            return (
                "error: データベースに接続できません。DATABASE_URL とデータベースが起動しているかを"
                f"確認してください (cannot reach the database: {reason})",
                EXIT_ENVIRONMENT,
            )
        if isinstance(exc, OperationalError):
            return f"error: データベースの操作に失敗しました (database: {reason})", EXIT_ENVIRONMENT
    if isinstance(exc, CommandError):
        return (
            "error: データベースのスキーマがこの版の Nippo と合いません。Nippo を更新してから "
            f"`nippo db upgrade` を実行してください (migration: {_first_line(exc)})",
            EXIT_ENVIRONMENT,
        )
    if isinstance(exc, (ArgumentError, NoSuchModuleError)):
        return (
            f"error: DATABASE_URL を読めません (e.g. postgresql://user:pass@host:5432/nippo): "
            f"{_first_line(exc)}",
            EXIT_ENVIRONMENT,
        )
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())).upper()
        name = f" {where} " if where else ""
        return f"error: 設定{name}が正しくありません: {first['msg']}", EXIT_ENVIRONMENT
    if isinstance(exc, DataKeyError):
        return f"error: {exc}", EXIT_ENVIRONMENT
    if isinstance(exc, ModuleNotFoundError):  # e.g. mysql://: a database Nippo does not use
        return (
            f"error: {exc.name} がありません。DATABASE_URL は sqlite:///… か postgresql://… です",
            EXIT_ENVIRONMENT,
        )
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        return f"error: ファイルを使えません{where} ({exc.strerror or exc})", EXIT_ENVIRONMENT
    return None


def _is_unmigrated(reason: str) -> bool:
    text = reason.lower()
    return "no such table" in text or ("relation" in text and "does not exist" in text)


def _is_unreachable(exc: Any) -> bool:
    """A connection that could not be made or was lost, as opposed to a wrong statement."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    if not isinstance(exc, (OperationalError, InterfaceError)):
        return False
    text = str(exc.orig).lower()
    return any(
        marker in text
        for marker in (
            "connection",
            "could not translate host name",
            "unable to open database file",
            "password authentication failed",
            "does not exist",
            "server closed",
            "timeout",
        )
    )


class ExplainedErrors(TyperGroup):
    """The root command group: turns an operator's mistake into one line on stderr."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:  # typer's own exits and usage errors are none of explain's
            explained = explain(exc)
            if explained is None:
                raise
            line, status = explained
            typer.echo(line, err=True)
            raise typer.Exit(status) from exc
