"""`nippo export evidence`: the month's photos and files as a ZIP an officer can check.

留意事項通知 (domain/001 IV): 「音声データ、動画ファイル又は静止画像等をセキュリティーが施された
状態で保存し、指定権者から求められた場合には個人情報に配慮した上で、提出できるようにしておく」.
Opened with zipfile: names, index.csv rows and SHA-256 values against the bytes. SQLite and
PostgreSQL.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import os
import stat
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot.cli.main import app
from bot.queries import evidence
from bot.services import admin
from storage.db import Database
from storage.models import Attachment, AuditLog, Consent, DailyReport
from tests.support import jst
from tests.support import run_cli as run

NOW = jst("2026-08-03", "09:30")
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4
PNG = b"\x89PNG\r\n\x1a\n" + bytes(reversed(range(256))) * 4
PDF = b"%PDF-1.4 outputs\n" * 20
M4A = b"\x00\x00\x00\x20ftypM4A " + b"\x01" * 64


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def _seed(db_url: str) -> tuple[int, int]:
    """青木 (consent to evidence from 7/1) and 千葉 (from 7/2): photos, a file, audio."""
    database = Database(db_url)
    try:
        async with database.transaction() as session:
            f = await admin.init_facility(session, name="ひまわり", now=NOW)
            aoki = await admin.add_member(session, f, name="青木 葵", now=NOW)
            chiba = await admin.add_member(session, f, name="千葉 智", now=NOW)
            for mid, given in ((aoki.id, date(2026, 7, 1)), (chiba.id, date(2026, 7, 2))):
                session.add(Consent(member_id=mid, covers=["records", "evidence"],
                                    given_on=given, entered_at=NOW, entered_by="test"))  # fmt: skip
            files = [
                # member, day, sent at, type, original name, bytes, stored hash
                (aoki.id, "2026-07-01", "14:30:05", "image/jpeg", None, JPEG, sha(JPEG)),
                (aoki.id, "2026-07-01", "15:02:00", "image/png", None, PNG, sha(b"other")),
                (aoki.id, "2026-07-02", "14:00:00", "application/pdf", "作業記録.pdf", PDF,
                 sha(PDF)),
                (chiba.id, "2026-07-01", "11:00:00", "audio/m4a", None, M4A, sha(M4A)),
                (chiba.id, "2026-06-30", "11:00:00", "image/jpeg", None, JPEG, sha(JPEG)),
            ]  # fmt: skip
            reports: dict[tuple[int, str], int] = {}
            for n, (mid, day, hms, ctype, name, data, digest) in enumerate(files):
                if (mid, day) not in reports:
                    r = DailyReport(member_id=mid, business_date=date.fromisoformat(day),
                                    mode="zaitaku", status="ended", flags={},
                                    created_at=NOW, updated_at=NOW)  # fmt: skip
                    session.add(r)
                    await session.flush()
                    reports[(mid, day)] = r.id
                session.add(
                    Attachment(report_id=reports[(mid, day)], platform="line",
                               platform_message_id=f"msg-{n}", content_type=ctype,
                               filename=name, sha256=digest, data=data, at=jst(day, hms))
                )  # fmt: skip
            return aoki.id, chiba.id
    finally:
        await database.dispose()


@pytest.fixture
def seeded(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[int, int]]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setattr("bot.cli.members.now", lambda: NOW)
    old = os.umask(0o022)
    try:
        yield asyncio.run(_seed(db_url))
    finally:
        os.umask(old)


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def audits(db_url: str) -> list[AuditLog]:
    async def read() -> list[AuditLog]:
        database = Database(db_url)
        try:
            async with database.transaction() as session:
                stmt = select(AuditLog).where(AuditLog.action == "export").order_by(AuditLog.id)
                return list((await session.execute(stmt)).scalars())
        finally:
            await database.dispose()

    return asyncio.run(read())


def test_the_months_evidence_zip_with_its_index_and_hashes(
    seeded: tuple[int, int], db_url: str
) -> None:
    aoki, chiba = seeded
    code, out = invoke("export", "evidence", "--month", "2026-07")
    assert code == 0, out
    path = Path("evidence-2026-07.zip")
    assert f"{path}: 4 files, SHA-256 {sha(path.read_bytes())}" in out
    assert (
        f"warning: evidence-2026-07/member-{aoki}/2026-07-01_{aoki}_2.png: SHA-256 differs" in out
    )
    assert "warning: 1 files are from days without consent covering evidence" in out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    with zipfile.ZipFile(path) as zf:
        top = "evidence-2026-07"
        assert zf.namelist() == [
            f"{top}/member-{aoki}/2026-07-01_{aoki}_1.jpg",
            f"{top}/member-{aoki}/2026-07-01_{aoki}_2.png",
            f"{top}/member-{aoki}/2026-07-02_{aoki}_1.pdf",
            f"{top}/member-{chiba}/2026-07-01_{chiba}_1.m4a",
            f"{top}/index.csv",
        ]
        assert all(n.isascii() for n in zf.namelist())  # ids, never names
        raw = zf.read(f"{top}/index.csv")
        assert raw.startswith(b"\xef\xbb\xbf")
        rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
        for row in rows:  # every hash is the hash of the bytes in the ZIP
            assert row["SHA-256"] == sha(zf.read(f"{top}/{row['ファイル名']}"))
        # the file's time in the ZIP is when the member sent it (local time)
        assert zf.getinfo(f"{top}/member-{aoki}/2026-07-01_{aoki}_1.jpg").date_time == (
            2026, 7, 1, 14, 30, 4,  # ZIP keeps even seconds
        )  # fmt: skip

    assert list(rows[0]) == list(evidence.INDEX_HEADERS)
    view = [
        (r["日付"], r["利用者ID"], r["氏名"], r["種類"], r["受信日時"], r["送信元"],
         r["メッセージID"], r["元のファイル名"], r["証拠保存の同意"], r["照合"])
        for r in rows
    ]  # fmt: skip
    assert view == [
        ("2026-07-01", str(aoki), "青木 葵", "image/jpeg", "2026-07-01 14:30:05", "LINE",
         "msg-0", "", "あり", "一致"),
        ("2026-07-01", str(aoki), "青木 葵", "image/png", "2026-07-01 15:02:00", "LINE",
         "msg-1", "", "あり", f"不一致(受信時のSHA-256: {sha(b'other')})"),
        ("2026-07-02", str(aoki), "青木 葵", "application/pdf", "2026-07-02 14:00:00", "LINE",
         "msg-2", "作業記録.pdf", "あり", "一致"),
        ("2026-07-01", str(chiba), "千葉 智", "audio/m4a", "2026-07-01 11:00:00", "LINE",
         "msg-3", "", "なし", "一致"),
    ]  # fmt: skip
    assert rows[1]["SHA-256"] == sha(PNG)

    (entry,) = audits(db_url)
    assert (entry.actor, entry.target) == ("cli", "evidence:2026-07")
    assert entry.detail["sha256"] == sha(path.read_bytes())
    assert (entry.detail["rows"], entry.detail["mismatches"], entry.detail["format"]) == (
        4,
        1,
        "zip",
    )


def test_one_member_and_the_files_safety_rules(seeded: tuple[int, int], db_url: str) -> None:
    _, chiba = seeded
    out = Path("chiba.zip")
    run("export", "evidence", "--month", "2026-07", "--member", "千葉", "--out", str(out))
    with zipfile.ZipFile(out) as zf:
        assert zf.namelist() == [
            f"evidence-2026-07-member{chiba}/member-{chiba}/2026-07-01_{chiba}_1.m4a",
            f"evidence-2026-07-member{chiba}/index.csv",
        ]
    before = out.read_bytes()
    code, text = invoke("export", "evidence", "--month", "2026-07", "--out", str(out))
    assert code == 2 and "すでにあります" in text and "--force" in text
    assert out.read_bytes() == before
    run("export", "evidence", "--month", "2026-07", "--out", str(out), "--force")
    assert len(zipfile.ZipFile(out).namelist()) == 5
    assert stat.S_IMODE(out.stat().st_mode) == 0o600

    Path("target.zip").write_bytes(b"keep me")
    Path("link.zip").symlink_to("target.zip")
    code, text = invoke("export", "evidence", "--month", "2026-07", "--out", "link.zip", "--force")
    assert code == 2 and "シンボリックリンク" in text
    assert Path("target.zip").read_bytes() == b"keep me"
    code, text = invoke("export", "evidence", "--month", "2026-07", "--out", "nowhere/x.zip")
    assert code == 2 and "フォルダがありません" in text
    assert [p.name for p in Path().iterdir() if p.name.endswith(".tmp")] == []
    assert len(audits(db_url)) == 2  # refused exports are not audited

    # A month without files is still an answer: an index with no rows.
    run("export", "evidence", "--month", "2026-05")
    with zipfile.ZipFile("evidence-2026-05.zip") as zf:
        assert zf.namelist() == ["evidence-2026-05/index.csv"]


@pytest.mark.parametrize(
    ("content_type", "filename", "ext"),
    [
        ("image/jpeg", None, "jpg"),
        ("audio/x-m4a", None, "m4a"),
        ("application/pdf", "作業記録.PDF", "pdf"),
        ("application/octet-stream", "../../etc/passwd", "bin"),
        ("application/x-unknown", "report.tar.gz", "gz"),
        ("text/plain", None, "txt"),
    ],
)
def test_extensions(content_type: str, filename: str | None, ext: str) -> None:
    assert evidence.extension(content_type, filename) == ext


def test_names_count_each_members_day_in_order() -> None:
    at = datetime(2026, 7, 1, 5, 0, tzinfo=UTC)
    items = [
        evidence.Item(i, m, "x", date(2026, 7, d), "image/jpeg", None, "", at, "line", str(i))
        for i, (m, d) in enumerate([(3, 1), (3, 1), (3, 2), (4, 1), (3, 1)])
    ]
    assert evidence.names(items, "t") == [
        "t/member-3/2026-07-01_3_1.jpg",
        "t/member-3/2026-07-01_3_2.jpg",
        "t/member-3/2026-07-02_3_1.jpg",
        "t/member-4/2026-07-01_4_1.jpg",
        "t/member-3/2026-07-01_3_3.jpg",
    ]
