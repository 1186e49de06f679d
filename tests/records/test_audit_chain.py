"""The audit log covers every write and proves it was not altered (issue #16 §1).

DESIGN §3: 「The audit log is hash-chained.」 R7 (留意事項通知): records are produced on request and
kept 5 years, so an inspector must be able to trust that the log of who wrote what was not
edited afterwards. A member's check-in over LINE, a staff correction from the CLI, a Slack
command and the scheduler's tick each leave one audit row per row they write, naming who and
which columns (never the values); `nippo audit verify` recomputes the chain and names the
first entry that was changed, removed or re-hashed. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import bindparam, delete, select, text, update
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from bot.cli.main import app
from bot.services import admin, retention
from scheduler.runner import Runner
from storage import audit_chain, repo
from storage.audit_chain import GENESIS, Broken, check_link, row_hash
from storage.db import Database
from storage.models import (
    Alert,
    AuditLog,
    DailyReport,
    Facility,
    FacilityClosure,
    LinkCode,
    Member,
    ReportRevision,
    SupportRecord,
)
from tests.line import conftest as line_fixtures
from tests.line.conftest import Line, event
from tests.slack import conftest as slack_fixtures
from tests.slack.conftest import MANAGER, Rig
from tests.support import TOKYO, jst, link_code, make_facility, make_member, runs

DAY = "2026-07-01"
YAMADA = "Uaudit00000000000000000000000001"
SATO = "Uaudit00000000000000000000000002"
NOTE = "今日は雨ですね、母の誕生日なのでケーキを買いに行きます"  # kept as the 日報's ひとこと
OUTPUTS = "封入 200枚"
# The LINE and Slack rigs of their own test folders, for this one.
fake_line, line, rig = line_fixtures.fake_line, line_fixtures.line, slack_fixtures.rig


def cli(monkeypatch: pytest.MonkeyPatch, db_url: str, *args: str) -> tuple[int, str]:
    """`nippo ARGS…` against the test's database: (exit code, output)."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


async def cli_ok(monkeypatch: pytest.MonkeyPatch, db_url: str, *args: str) -> str:
    # The CLI runs its own event loop: on a thread, beside the test's.
    code, out = await asyncio.to_thread(cli, monkeypatch, db_url, *args)
    assert code == 0, out
    return out


async def entries(db: Database) -> list[AuditLog]:
    async with db.transaction() as s:
        return list((await s.scalars(select(AuditLog).order_by(AuditLog.id))).all())


def as_text(rows: list[AuditLog]) -> str:
    return json.dumps(
        [[r.actor, r.action, r.target, r.detail, r.prev_hash, r.hash] for r in rows],
        ensure_ascii=False,
    )


def written(rows: list[AuditLog], actor: str, action: str) -> dict[str, set[str]]:
    """target → the columns `actor` wrote with `action` (in one or more entries)."""
    out: dict[str, set[str]] = {}
    for r in rows:
        if (r.actor, r.action) == (actor, action):
            out.setdefault(r.target, set()).update(r.detail["columns"])
    return out


async def ids(db: Database, model: Any, *where: Any) -> set[str]:
    async with db.transaction() as s:
        found = (await s.scalars(select(model.id).where(*where))).all()
    return {f"{model.__tablename__}:{i}" for i in found}


async def say(line: Line, user: str, words: str, at: datetime) -> None:
    await line.send(event("00_message_text", at, user=user, message={"text": words}), at=at)


async def test_every_write_is_on_the_log_with_who_and_which_columns(
    line: Line, db_url: str, monkeypatch: pytest.MonkeyPatch, t0: datetime
) -> None:
    db = line.db
    fid = await make_facility(db, t0, alert_channel="C_STAFF")
    yamada = await make_member(db, fid, t0)
    sato = await make_member(db, fid, t0, "佐藤 花子", kana="さとう はなこ")
    for user, mid in ((YAMADA, yamada), (SATO, sato)):
        await say(line, user, await link_code(db, mid, t0), jst(DAY, "09:00"))

    # A member's check-in over LINE: the webhook, the inbox, the service.
    await say(line, YAMADA, "開始 体調4 睡眠7 データ入力", jst(DAY, "10:02"))
    await say(line, YAMADA, NOTE, jst(DAY, "10:05"))
    async with db.transaction() as s:
        report = (await s.scalars(select(DailyReport))).one()
    assert NOTE in (report.note or "")
    # The scheduler's tick: 佐藤さん has not reported by 10:31 (reminders, a staff alert).
    await Runner(db, {}, clock=lambda: jst(DAY, "10:31")).tick()
    # 佐藤さん reports late; the next tick closes the alert in place (an UPDATE statement).
    await say(line, SATO, "開始 体調3 睡眠6 封入作業", jst(DAY, "10:40"))
    await Runner(db, {}, clock=lambda: jst(DAY, "10:41")).tick()
    # Staff correct the 日報 from the command line.
    await cli_ok(monkeypatch, db_url, "staff", "add", "--name", "鈴木 一郎",
                 "--slack-user", "U0123", "--role", "staff")  # fmt: skip
    await cli_ok(monkeypatch, db_url, "report", "edit", "山田", "--date", DAY, "--field",
                 "outputs", "--value", OUTPUTS, "--staff", "U0123",
                 "--reason", "本人に電話で確認")  # fmt: skip

    rows = await entries(db)
    # The check-in, written by the bot: the 日報, its revisions, the start check 支援記録.
    target = f"daily_report:{report.id}"
    assert {"member_id", "business_date"} <= written(rows, "bot", "insert:daily_report")[target]
    answers = {"start_at", "health_start", "sleep_hours", "planned_work", "note"}
    assert answers <= written(rows, "bot", "update:daily_report")[target]
    assert await ids(db, ReportRevision, ReportRevision.by_member_id == yamada) <= set(
        written(rows, "bot", "insert:report_revision")
    )
    member_rows = SupportRecord.entered_by.in_([f"member:{yamada}", f"member:{sato}"])
    assert await ids(db, SupportRecord, member_rows) <= set(
        written(rows, "bot", "insert:support_record")
    )
    assert written(rows, "bot", "insert:identity") and written(rows, "bot", "update:link_code")
    # The tick's multi-row inserts (repo.insert_many_ignore), each row by its own id.
    bot_contacts = SupportRecord.entered_by == "bot"
    assert await ids(db, SupportRecord, bot_contacts) <= set(
        written(rows, "bot", "insert:support_record")
    )
    alerts = await ids(db, Alert)
    assert alerts and alerts == set(written(rows, "bot", "insert:alert"))
    closed = written(rows, "bot", "update:alert")
    assert set(closed) == alerts
    assert all({"state", "resolved_at", "resolution"} <= c for c in closed.values())
    # The staff edit from the CLI: the 日報's field and a revision with the reason.
    assert "outputs" in written(rows, "cli", "update:daily_report")[target]
    edits = await ids(db, ReportRevision, ReportRevision.by_staff_id.is_not(None))
    assert edits and edits <= set(written(rows, "cli", "insert:report_revision"))
    assert any(t.startswith("staff:") for t in written(rows, "cli", "insert:staff"))
    # Column names only: no health answer, free text, name or LINE account is on the log.
    log_text = as_text(rows)
    for personal in (NOTE, OUTPUTS, "データ入力", "山田", "佐藤", "鈴木", YAMADA, SATO):
        assert personal not in log_text

    # Every entry sealed in one chain; verify says so.
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    out = await cli_ok(monkeypatch, db_url, "audit", "verify")
    assert out.splitlines()[0] == f"audit log: {len(rows)} entries, chain intact"
    assert f"head: entry {len(rows)} {rows[-1].hash}" in out
    shown = await cli_ok(monkeypatch, db_url, "audit", "show", "--target", "alert")
    update = next(r for r in rows if r.action == "update:alert")
    local = update.at.astimezone(TOKYO).strftime("%Y-%m-%d %H:%M:%S")  # the facility's zone
    assert f"{update.seq} {local} bot update:alert {update.target} resolution," in shown


async def test_a_slack_staff_members_writes_carry_their_slack_user(rig: Rig) -> None:
    await make_member(rig.db, rig.facility_id, rig.clock.at, "山田 太郎")
    await rig.command(MANAGER, "link 山田")
    await rig.fake.wait_for("chat.postEphemeral")
    rows = await entries(rig.db)
    assert set(written(rows, f"slack:{MANAGER}", "insert:link_code")) == await ids(rig.db, LinkCode)


async def chain_of_writes(db: Database, now: datetime) -> None:
    """A facility, two members with schedules and a link code: about ten entries."""
    fid = await make_facility(db, now)
    for name in ("山田 太郎", "佐藤 花子"):
        mid = await make_member(db, fid, now, name, kana=None)
    await link_code(db, mid, now)


TAMPERING = {
    "detail changed": "UPDATE audit_log SET detail = :detail WHERE seq = 3",
    "entry deleted": "DELETE FROM audit_log WHERE seq = 3",
    "hash rewritten": "UPDATE audit_log SET hash = :forged WHERE seq = 3",
    "detail changed and re-hashed": "UPDATE audit_log SET detail = :detail, hash = :rehashed "
    "WHERE seq = 3",
}
BROKEN = {
    "detail changed": "chain broken at entry 3 (hash mismatch)",
    "entry deleted": "chain broken at entry 3 (gap)",
    "hash rewritten": "chain broken at entry 3 (hash mismatch)",
    "detail changed and re-hashed": "chain broken at entry 4 (prev_hash mismatch)",
}


@pytest.mark.parametrize("tampering", list(TAMPERING))
async def test_verify_names_the_first_broken_link(
    db: Database, db_url: str, t0: datetime, monkeypatch: pytest.MonkeyPatch, tampering: str
) -> None:
    await chain_of_writes(db, t0)
    before = await entries(db)
    assert len(before) >= 6
    code, out = await asyncio.to_thread(cli, monkeypatch, db_url, "audit", "verify")
    assert code == 0 and "chain intact" in out

    third = before[2]
    detail = {"columns": ["name"]}
    rehashed = row_hash(3, third.prev_hash or "", third.at, third.actor, third.action,
                        third.target, detail)  # fmt: skip
    async with db.engine.begin() as conn:
        await conn.execute(
            text(TAMPERING[tampering]),
            {"detail": json.dumps(detail), "forged": "f" * 64, "rehashed": rehashed},
        )

    code, out = await asyncio.to_thread(cli, monkeypatch, db_url, "audit", "verify")
    assert code == 1, out
    first = out.splitlines()[0]
    assert first.startswith(f"audit log: {BROKEN[tampering]}")
    assert out.splitlines()[1].startswith(f"the {int(BROKEN[tampering].split()[4]) - 1} entries")


async def test_retention_deletes_are_on_the_log_and_the_log_itself_is_kept(
    db: Database, t0: datetime
) -> None:
    """R7: records go after 5 years (東大阪市 留意事項イ); the log of their deletion stays and
    still chains, and no audit entry is ever deleted."""
    fid = await make_facility(db, t0)
    mid = await make_member(db, fid, t0)
    old = date(2020, 6, 1)
    at = jst(old.isoformat(), "10:00")
    async with db.transaction() as s:
        report = DailyReport(member_id=mid, business_date=old, mode="zaitaku", status="ended",
                             flags={}, created_at=at, updated_at=at)  # fmt: skip
        s.add(report)
        await s.flush()
        s.add(SupportRecord(member_id=mid, business_date=old, at=at, kind="start_check",
                            channel="line", content=NOTE, entered_at=at,
                            entered_by="bot"))  # fmt: skip
    gone = await ids(db, DailyReport) | await ids(db, SupportRecord)
    kept = [(r.id, r.hash) for r in await entries(db)]

    async with db.transaction(actor="cli") as s:
        await retention.run(s, t0, years=5, apply=True, actor="cli")

    rows = await entries(db)
    assert [(r.id, r.hash) for r in rows[: len(kept)]] == kept  # nothing on the log went
    deleted = set(written(rows, "cli", "delete:daily_report")) | set(
        written(rows, "cli", "delete:support_record")
    )
    assert deleted == gone and not await ids(db, SupportRecord)
    async with db.transaction() as s:
        verdict = await audit_chain.verify(s)
    assert verdict.intact and verdict.entries == len(rows) and verdict.unsealed == 0


async def test_concurrent_writers_form_one_chain(db: Database, t0: datetime) -> None:
    """PostgreSQL: a writer that finds another sealing commits its entries unsealed rather
    than wait; the next seal (at the latest the minute's tick) chains them."""
    fid = await make_facility(db, t0)

    async def close_day(n: int) -> None:
        async with db.transaction() as s:
            s.add(FacilityClosure(facility_id=fid, date=date(2026, 8, 1) + timedelta(days=n)))

    await asyncio.gather(*(close_day(n) for n in range(30)))
    assert await audit_chain.seal_pending(db) >= 0
    rows = await entries(db)
    assert len(written(rows, "system", "insert:facility_closure")) == 30
    assert sorted(r.seq or 0 for r in rows) == list(range(1, len(rows) + 1))
    async with db.transaction() as s:
        verdict = await audit_chain.verify(s)
    assert verdict.intact and (verdict.entries, verdict.unsealed) == (len(rows), 0)


async def test_what_was_not_written_is_not_on_the_log(db: Database, t0: datetime) -> None:
    """A rolled-back transaction or savepoint leaves no entry; nor does assigning a field
    the value it has."""
    fid = await make_facility(db, t0)
    before = len(await entries(db))
    with pytest.raises(RuntimeError):
        async with db.transaction() as s:
            await admin.add_member(s, await s.get_one(Facility, fid), name="取消 太郎", now=t0)
            raise RuntimeError("the request failed")
    async with db.transaction() as s:
        facility = await s.get_one(Facility, fid)
        facility.tz = facility.tz
        savepoint = await s.begin_nested()
        facility.name = "取り消される名前"
        await s.flush()
        await savepoint.rollback()
        facility.capacity = 20
    rows = await entries(db)
    assert [(r.action, r.detail) for r in rows[before:]] == [
        ("update:facility", {"columns": ["capacity"]})
    ]
    assert all(r.seq is not None for r in rows)


def test_a_link_is_checked_for_its_place_its_pointer_and_its_content() -> None:
    at = datetime.fromisoformat("2026-07-01T01:02:03.000004+00:00")
    h1 = row_hash(1, GENESIS, at, "bot", "insert:member", "member:1", {"columns": ["name"]})
    row = (1, GENESIS, h1, at, "bot", "insert:member", "member:1", {"columns": ["name"]})
    assert check_link(1, GENESIS, row) is None
    assert check_link(2, GENESIS, row) == Broken(2, "gap", "entry 2 is missing (the next one is 1)")
    assert check_link(1, "0" * 63 + "1", row) is not None
    changed = (*row[:4], "cli", *row[5:])
    assert check_link(1, GENESIS, changed) == Broken(  # type: ignore[arg-type]
        1, "hash mismatch", "entry 1 was changed after it was sealed"
    )


async def test_a_writer_never_waits_for_another_transactions_seal(
    db: Database, db_url: str, t0: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: while a transaction holds the chain, another commits its entries
    unsealed (no wait); `nippo audit verify` counts them, the tick's sweep seals them, in
    one UPDATE (not one a row)."""
    if db.dialect != "postgresql":
        pytest.skip("SQLite has one writer: every commit seals its own entries")
    fid = await make_facility(db, t0)
    async with db.engine.connect() as holder:
        await holder.execute(
            text("SELECT pg_advisory_xact_lock(:a, :b)"),
            dict(zip(("a", "b"), audit_chain.CHAIN_LOCK, strict=True)),
        )
        async with asyncio.timeout(10):  # would hang if the writer waited for the lock
            await make_member(db, fid, t0, "山田 太郎")
            await make_member(db, fid, t0, "佐藤 花子")
        code, out = await asyncio.to_thread(cli, monkeypatch, db_url, "audit", "verify")
        await holder.rollback()
    unsealed = [r for r in await entries(db) if r.seq is None]
    assert len(unsealed) >= 2 and code == 0
    assert f"chain intact; {len(unsealed)} not sealed yet" in out.splitlines()[0]

    seals: list[int] = []

    def count(_c: Any, _cur: Any, statement: str, params: Any, _x: Any, many: bool) -> None:
        if statement.startswith("UPDATE audit_log SET seq"):
            seals.append(runs(params, many))

    sa_event.listen(Engine, "before_cursor_execute", count)
    try:
        await Runner(db, {}, clock=lambda: jst(DAY, "10:00")).tick()
    finally:
        sa_event.remove(Engine, "before_cursor_execute", count)
    rows = await entries(db)
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    assert seals == [1]


async def test_statements_that_bypass_the_flush_are_on_the_log(db: Database, t0: datetime) -> None:
    """UPDATE and DELETE statements are logged per row they change, found by their WHERE
    clause; the ORM's bulk UPDATE by primary key per row it names; an executemany UPDATE with
    its own WHERE (`nippo data encrypt`) as one entry with its row count."""
    fid = await make_facility(db, t0)
    a = await make_member(db, fid, t0, "山田 太郎", kana=None)
    b = await make_member(db, fid, t0, "佐藤 花子", kana=None)
    async with db.transaction(actor="cli") as s:
        s.add_all(
            [FacilityClosure(facility_id=fid, date=date(2026, 8, d), note="お盆") for d in (13, 14)]
        )
    before = len(await entries(db))
    closures = FacilityClosure.__table__
    async with db.transaction(actor="cli") as s:
        await s.execute(update(Member).where(Member.id == b).values(kana=None, active=False))
        await s.execute(update(Member), [{"id": a, "kana": "やまだ"}])
        await s.execute(
            closures.update().where(closures.c.id == bindparam("_id")).values(note=bindparam("n")),
            [{"_id": 1, "n": "休業"}, {"_id": 2, "n": "休業"}],
        )
        await s.execute(delete(FacilityClosure).where(FacilityClosure.date > date(2026, 8, 13)))
        await s.execute(update(Member).where(Member.id == -1).values(kana="x"))  # no row
    got = [(r.action, r.target, r.detail) for r in (await entries(db))[before:]]
    assert got == [
        ("update:member", f"member:{b}", {"columns": ["active", "kana"]}),
        ("update:member", f"member:{a}", {"columns": ["kana"]}),
        ("update:facility_closure", "facility_closure:*", {"columns": ["note"], "rows": 2}),
        ("delete:facility_closure", "facility_closure:2", {"columns": []}),
    ]


async def test_an_insert_that_ignores_repeats_writes_what_the_session_holds_first(
    db: Database, t0: datetime
) -> None:
    """`repo.insert_ignore` runs a Core statement built once, its values as parameters: what
    the session holds unflushed is written (and logged) before it, as with the ORM's insert;
    its row is logged by its id, with the columns' defaults; the same key again is ignored
    and logged nowhere."""
    fid = await make_facility(db, t0)
    mid = await make_member(db, fid, t0, "山田 太郎", kana=None)
    before = len(await entries(db))
    values = {
        "member_id": mid,
        "business_date": date(2026, 8, 12),
        "at": t0,
        "kind": "contact",
        "channel": "phone",
        "content": "電話で体調を確認しました",
        "key": "phone:1",
        "entered_at": t0,
        "entered_by": "staff:1",
    }
    async with db.transaction(actor="cli") as s:
        s.add(FacilityClosure(facility_id=fid, date=date(2026, 8, 13), note="お盆"))
        first = await repo.insert_ignore(s, SupportRecord, **values)
        again = await repo.insert_ignore(s, SupportRecord, **{**values, "content": "二度目"})
    assert first is not None and again is None
    got = [(r.action, r.target) for r in (await entries(db))[before:]]
    assert got == [
        ("insert:facility_closure", "facility_closure:1"),
        ("insert:support_record", f"support_record:{first}"),
    ]
    async with db.transaction() as s:
        kept = await s.get_one(SupportRecord, first)
    assert (kept.content, kept.late, kept.flags) == ("電話で体調を確認しました", False, {})
