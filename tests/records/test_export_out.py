"""`nippo export --out` (issue #23): files only their owner can read, no writing through a
symlink, no silent overwrite. Run through the CLI against a real SQLite file."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.main import app
from tests.support import run_cli as run

EXPORT = ("export", "nippo", "--month", "2026-07")


@pytest.fixture
def facility(cli_env: Path) -> Iterator[Path]:
    """A facility with one member, under the usual umask (0644 files unless asked otherwise)."""
    run("facility", "init", "--name", "ひまわり")
    run("member", "add", "--name", "青木 葵", "--recipient-no", "2700000001")
    old = os.umask(0o022)
    try:
        yield cli_env
    finally:
        os.umask(old)


def refused(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 2, result.output
    return result.output


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def exports_audited(cli_env: Path) -> int:
    with sqlite3.connect(cli_env / "cli.db") as conn:
        (n,) = conn.execute("SELECT count(*) FROM audit_log WHERE action = 'export'").fetchone()
    return int(n)


def test_the_file_is_readable_by_its_owner_only(facility: Path) -> None:
    out = facility / "out.csv"
    run(*EXPORT, "--out", str(out))
    assert mode(out) == 0o600
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    run("export", "eval-sheet", "--month", "2026-07", "--format", "xlsx")  # the default name
    assert mode(facility / "eval-sheet-2026-07.xlsx") == 0o600


def test_an_existing_file_is_kept_unless_force(facility: Path) -> None:
    out = facility / "out.csv"
    out.write_bytes(b"earlier")
    out.chmod(0o644)
    message = refused(*EXPORT, "--out", str(out))
    assert f"出力先 {out} はすでにあります。上書きするときは --force を付けてください。" in message
    assert len(message.strip().splitlines()) == 1
    assert out.read_bytes() == b"earlier"
    assert exports_audited(facility) == 0  # nothing was exported

    run(*EXPORT, "--out", str(out), "--force")
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    assert mode(out) == 0o600  # replaced, not written into the 0644 file
    assert exports_audited(facility) == 1
    assert not [p for p in facility.iterdir() if p.name.endswith(".tmp")]  # no temp file left

    run(*EXPORT)  # the default name follows the same rule
    assert "すでにあります" in refused(*EXPORT)


@pytest.mark.parametrize("target_exists", [True, False])
def test_a_symlink_is_never_followed(facility: Path, target_exists: bool) -> None:
    target = facility / "elsewhere" / "secret.txt"
    target.parent.mkdir()
    if target_exists:
        target.write_bytes(b"keep")
    link = facility / "link.csv"
    link.symlink_to(target)
    for force in ((), ("--force",)):
        message = refused(*EXPORT, "--out", str(link), *force)
        assert f"出力先 {link} はシンボリックリンクなので書き込みません" in message
    assert link.is_symlink()
    assert target.read_bytes() == b"keep" if target_exists else not target.exists()
    assert exports_audited(facility) == 0


def test_a_directory_or_missing_folder_is_explained(facility: Path) -> None:
    assert "はファイルではありません" in refused(*EXPORT, "--out", str(facility))
    missing = facility / "no-such-folder" / "out.csv"
    assert f"出力先 {missing} に書き込めません" in refused(*EXPORT, "--out", str(missing))
    assert exports_audited(facility) == 0  # the failed write rolled the audit row back
