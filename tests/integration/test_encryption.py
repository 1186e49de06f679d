"""Encryption at rest (issue #23): with NIPPO_DATA_KEY set, the SQLite file (and its WAL) and
a PostgreSQL dump hold no plaintext health answer, free text or evidence, while the service,
the board and the exports show them decrypted; keys rotate with `nippo data encrypt --apply`.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from bot.queries import board, exports
from storage import db as storage_db
from storage.crypto import DataKeyError, Keyring, key_id, new_key, parse_key
from storage.db import Database
from storage.inbox_writer import InboxWriter
from storage.models import (
    Alert,
    Attachment,
    DailyReport,
    Evaluation,
    Facility,
    InboxEvent,
    Member,
    SupportRecord,
)
from tests.support import Chat, jst, make_facility, make_member, run_cli

DAY = "2026-07-01"
FEELING = "今日はとてもつらいです"
NOTE = "腰が痛くて集中できませんでした"
EVAL_NOTE = "睡眠薬の調整中につき午前は無理をさせない"
EVIDENCE = b"EVIDENCE-PHOTO-BYTES-0042"
SECRETS = (FEELING, NOTE, EVAL_NOTE)


def _forms(secret: str) -> list[bytes]:
    """How a text can appear in storage: UTF-8, or inside JSON with \\u escapes."""
    escaped = json.dumps(secret)[1:-1]
    return [secret.encode(), escaped.encode(), escaped.upper().replace("\\U", "\\u").encode()]


def _stored_bytes(url: str) -> bytes:
    """Everything the database holds on disk (SQLite: file + WAL) or in a dump (pg_dump)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        parts = [path, path.with_name(path.name + "-wal")]
        return b"".join(p.read_bytes() for p in parts if p.exists())
    pg_dump = shutil.which("pg_dump")
    assert pg_dump is not None, "pg_dump is needed for the PostgreSQL pass"
    out = subprocess.run(
        [
            pg_dump,
            "-h", parsed.host or "127.0.0.1",
            "-p", str(parsed.port or 5432),
            "-U", parsed.username or "postgres",
            "--data-only",
            "-d", parsed.database or "",
        ],
        check=True,
        capture_output=True,
        env={"PGPASSWORD": parsed.password or "", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    return out.stdout


def _leaks(url: str) -> list[str]:
    data = _stored_bytes(url)
    found = [s for s in SECRETS if any(form in data for form in _forms(s))]
    evidence = EVIDENCE in data or EVIDENCE.hex().encode() in data  # pg_dump: bytea as hex
    return found + (["evidence"] if evidence else [])


async def _a_day(db: Database, t0: datetime) -> int:
    """A whole check-in through the real service, a LINE webhook body through the inbox
    writer, an evaluation and a piece of evidence; the member's id."""
    fid = await make_facility(db, t0)
    mid = await make_member(db, fid, t0)
    chat = Chat(db)
    await chat.link("u1", mid, jst(DAY, "09:00"))
    await chat.say("u1", "開始 体調2 睡眠5 データ入力", jst(DAY, "10:02"))
    replies = await chat.say("u1", FEELING, jst(DAY, "10:03"))
    assert replies  # the service understood it (decrypted state, answers)
    await chat.say("u1", f"終了 入力120件 体調2 ひとこと {NOTE}", jst(DAY, "15:01"))
    body = {
        "type": "message",
        "source": {"type": "user", "userId": "Uline1"},
        "webhookEventId": "01ENC",
        "message": {"type": "text", "id": "1", "text": FEELING},
    }
    writer = InboxWriter(db, "line", lambda: t0)
    assert (await writer.store([("01ENC", body)]))[0] is not None
    async with db.transaction() as s:
        report = (
            await s.execute(select(DailyReport).where(DailyReport.member_id == mid))
        ).scalar_one()
        s.add(
            Attachment(
                report_id=report.id, platform="line", platform_message_id="m1",
                content_type="image/jpeg", filename="out.jpg", sha256="0" * 64,
                data=EVIDENCE, at=t0,
            )
        )  # fmt: skip
        s.add(
            Evaluation(
                member_id=mid, kind="monthly", date=date(2026, 7, 31), method="ict",
                health_notes=EVAL_NOTE, goal="入力の正確さ", created_at=t0,
            )
        )  # fmt: skip
    return mid


async def _assert_readable(db: Database, mid: int) -> None:
    """The service's reads, the board and the exports show the plaintext."""
    async with db.transaction() as s:
        report = (
            await s.execute(select(DailyReport).where(DailyReport.member_id == mid))
        ).scalar_one()
        assert (report.health_start, report.sleep_hours, report.health_end) == (2, 5.0, 2)
        assert report.outputs is not None and NOTE[:10] in report.outputs
        details = (await s.execute(select(Alert.detail))).scalars().all()
        assert any(FEELING in d for d in details)
        contents = (await s.execute(select(SupportRecord.content))).scalars().all()
        assert any(NOTE[:10] in c for c in contents)
        evidence = (await s.execute(select(Attachment.data))).scalar_one()
        assert evidence == EVIDENCE
        inbox = (
            await s.execute(select(InboxEvent.body).where(InboxEvent.event_id == "01ENC"))
        ).scalar_one()
        assert inbox["message"]["text"] == FEELING
        # The LINE inbox pass groups pending events by sender in SQL: still possible.
        sender = InboxEvent.body["source"]["userId"].as_string()
        found = await s.execute(select(sender).where(InboxEvent.event_id == "01ENC"))
        assert found.scalar_one() == "Uline1"
        member = await s.get_one(Member, mid)
        view = await board.report_view(s, member, date(2026, 7, 1))
        assert view.report.outputs is not None and NOTE[:10] in view.report.outputs
        facility = await s.get_one(Facility, member.facility_id)
        month = date(2026, 7, 1)
        nippo = await exports.build(s, facility, "nippo", month, member)
        assert NOTE[:10] in repr(nippo.rows)
        sheet = await exports.build(s, facility, "eval-sheet", month, member)
        assert EVAL_NOTE in repr(sheet.rows)


async def test_with_a_key_nothing_is_stored_in_plaintext(db_url: str, t0: datetime) -> None:
    db = Database(db_url, keyring=Keyring(parse_key(new_key())))
    try:
        mid = await _a_day(db, t0)
        await _assert_readable(db, mid)
        assert _leaks(db_url) == []  # WAL not yet checkpointed, on SQLite
    finally:
        await db.dispose()
    assert _leaks(db_url) == []  # after the checkpoint


async def test_without_a_key_everything_works_as_before(db_url: str, t0: datetime) -> None:
    db = Database(db_url, keyring=Keyring())
    try:
        mid = await _a_day(db, t0)
        await _assert_readable(db, mid)
        async with db.transaction() as s:
            raw = (await s.execute(text("SELECT note, outputs FROM daily_report"))).one()
            assert raw[1] is not None and NOTE[:10] in raw[1]  # plaintext, as before
    finally:
        await db.dispose()
    assert set(_leaks(db_url)) == {*SECRETS, "evidence"}  # and the check above would see it


def _env_for(monkeypatch: pytest.MonkeyPatch, db_url: str, current: str, *old: str) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    if current:
        monkeypatch.setenv("NIPPO_DATA_KEY", current)
    else:
        monkeypatch.delenv("NIPPO_DATA_KEY", raising=False)
    if old:
        monkeypatch.setenv("NIPPO_DATA_KEYS_OLD", ",".join(old))
    else:
        monkeypatch.delenv("NIPPO_DATA_KEYS_OLD", raising=False)


async def test_rotation_rewrites_everything_with_the_new_key(
    db_url: str, t0: datetime, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    a, b = new_key(), new_key()
    db = Database(db_url, keyring=Keyring(parse_key(a)))
    mid = await _a_day(db, t0)
    await db.dispose()

    # Key B current, A kept for reading: everything reads; new writes use B.
    _env_for(monkeypatch, db_url, b, a)
    rotating = Database(db_url)
    assert rotating.keyring.current_id == key_id(parse_key(b))
    await _assert_readable(rotating, mid)
    await rotating.dispose()
    dry = await asyncio.to_thread(run_cli, "data", "encrypt")
    assert "dry run" in dry and "would rewrite 0 values" not in dry
    out = await asyncio.to_thread(run_cli, "data", "encrypt", "--apply")
    assert f"to key {key_id(parse_key(b))}" in out
    assert "rewrote 0 values" in await asyncio.to_thread(
        run_cli, "data", "encrypt", "--apply"
    )  # all done

    # B alone reads everything: A is no longer needed.
    _env_for(monkeypatch, db_url, b)
    only_b = Database(db_url)
    await _assert_readable(only_b, mid)
    await only_b.dispose()
    assert _leaks(db_url) == []
    async with Database(db_url, keyring=Keyring(parse_key(a))).transaction() as s:
        with pytest.raises(DataKeyError, match=key_id(parse_key(b))):
            (await s.execute(select(SupportRecord.content))).scalars().all()
    async with db.transaction() as s:
        audit = (await s.execute(text("SELECT action FROM audit_log"))).scalars().all()
    assert "data.encrypt" in audit and "data.encrypt.dry_run" in audit


async def test_existing_plaintext_is_encrypted_in_place(
    db_url: str, t0: datetime, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    db = Database(db_url, keyring=Keyring())
    mid = await _a_day(db, t0)
    await db.dispose()
    key = new_key()
    _env_for(monkeypatch, db_url, key)
    mixed = Database(db_url)  # switched on: plaintext rows still read
    await _assert_readable(mixed, mid)
    await mixed.dispose()
    assert "would rewrite 0" not in await asyncio.to_thread(run_cli, "data", "encrypt")
    await asyncio.to_thread(run_cli, "data", "encrypt", "--apply")
    assert _leaks(db_url) == []  # old pages compacted away on SQLite; no live row in a dump
    done = Database(db_url)
    await _assert_readable(done, mid)
    await done.dispose()

    # And back: no current key, the old one to read: decrypted (before a downgrade).
    _env_for(monkeypatch, db_url, "", key)
    assert "to plaintext" in await asyncio.to_thread(run_cli, "data", "encrypt", "--apply")
    plain = Database(db_url, keyring=Keyring())
    await _assert_readable(plain, mid)
    await plain.dispose()


async def test_an_unknown_key_is_named_never_the_value(db_url: str, t0: datetime) -> None:
    a, b = parse_key(new_key()), parse_key(new_key())
    db = Database(db_url, keyring=Keyring(a))
    mid = await _a_day(db, t0)
    await db.dispose()
    other = Database(db_url, keyring=Keyring(b))
    try:
        with pytest.raises(DataKeyError) as caught:
            async with other.transaction() as s:
                await s.get_one(DailyReport, mid)
                (await s.execute(select(Alert.detail))).scalars().all()
    finally:
        await other.dispose()
    message = str(caught.value)
    assert key_id(a) in message and "NIPPO_DATA_KEYS_OLD" in message
    assert not any(secret in message for secret in SECRETS)


def test_a_malformed_key_fails_at_start_with_one_line(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NIPPO_DATA_KEY", "not-a-key")
    with pytest.raises(DataKeyError) as caught:
        Database(db_url)
    assert str(caught.value).count("\n") == 0 and "NIPPO_DATA_KEY" in str(caught.value)
    monkeypatch.setenv("NIPPO_DATA_KEY", new_key())
    monkeypatch.setenv("NIPPO_DATA_KEYS_OLD", f"{new_key()},short")
    with pytest.raises(DataKeyError, match="NIPPO_DATA_KEYS_OLD"):
        Database(db_url)


async def test_downgrade_refuses_while_values_are_encrypted(db_url: str, t0: datetime) -> None:
    db = Database(db_url, keyring=Keyring(parse_key(new_key())))
    await make_member(db, await make_facility(db, t0), t0)
    async with db.transaction() as s:
        s.add(
            SupportRecord(
                member_id=1, business_date=date(2026, 7, 1), at=datetime.now(UTC),
                kind="note", channel="phone", content=FEELING,
                entered_at=datetime.now(UTC), entered_by="staff:1",
            )
        )  # fmt: skip
    await db.dispose()
    with pytest.raises(RuntimeError, match="decrypt them first"):
        await asyncio.to_thread(storage_db.downgrade, db_url, "0003")
