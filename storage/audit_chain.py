"""The audit log: one entry per write to a record table, sealed into a hash chain.

Nothing in the use cases has to remember it. Every session of `storage.db.Database` is an
`AuditedSession`, whose events collect the entries of its transaction:

- after each flush, one per inserted, updated or deleted ORM object of `RECORD_TABLES`;
- for INSERT / UPDATE / DELETE statements run through the session (`repo.insert_ignore`,
  `repo.insert_many_ignore`, `update(Alert)…`, retention's deletes), one per affected row:
  inserts by the ids their RETURNING gives, updates and deletes by the ids their WHERE clause
  selects just before (locked on PostgreSQL, so the ids are the rows the statement changes);
  an executemany UPDATE (`nippo data encrypt`) gets one entry for the statement;
- views and exports, through `record` (`bot.services.admin.audit`).

An entry says who (`session.info["actor"]`: `cli`, `bot`, `slack:U…`, `staff:3`, `system`),
`insert|update|delete:TABLE`, `TABLE:ID`, and the names of the columns written, never their
values: those are personal (health answers, names) and the audit log is not encrypted.

At commit the entries are written in one INSERT, sealed: each gets the next `seq`, the
previous entry's hash and its own (SHA-256 over `canonical`), under the chain's lock. On
SQLite the transaction already holds the only write lock. On PostgreSQL it tries an advisory
lock; when another transaction holds it at that moment, the entries are written unsealed
instead of waiting, and the next transaction that seals, or at the latest the scheduler's
minute tick (`seal_pending`), chains them. A rolled-back transaction or savepoint writes no
entry. `verify` walks the chain and names its first broken link.

Not seen here: raw SQL (`text()`) and writes on a connection outside a session (the
webhook's inbox rows, migrations); no record table is written that way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    String,
    Table,
    bindparam,
    column,
    event,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
    values,
)
from sqlalchemy import update as sql_update
from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, UOWTransaction

from bot.core.ports import system_clock
from storage.models import AuditLog, Base

if TYPE_CHECKING:
    from storage.db import Database

RECORD_TABLES = frozenset(
    {
        "facility",
        "member",
        "staff",
        "schedule",
        "schedule_exception",
        "facility_closure",
        "identity",
        "daily_report",
        "report_revision",
        "attachment",
        "support_record",
        "alert",
        "evaluation",
        "consent",
        "link_code",
    }
)
WRITE_VERBS = ("insert", "update", "delete")
GENESIS = "0" * 64
DEFAULT_ACTOR = "system"
# pg_advisory_xact_lock(int, int): a key space apart from the single-key locks of the tick
# and the LINE inbox.
CHAIN_LOCK = (0x4E505041, 1)  # "NPPA"
PENDING = "audit_pending"  # session.info: [(transaction, row)] to write at commit
UNSEALED = "audit_unsealed"  # session.info: an AuditLog object was flushed unsealed
VERIFY_BATCH = 5000
SEAL_PAGE = 1000  # rows a seal UPDATE names: 4 parameters each, PostgreSQL allows 65,535

AUDIT: Table = AuditLog.__table__  # type: ignore[assignment]
_actor: ContextVar[str | None] = ContextVar("nippo_actor", default=None)


@contextmanager
def acting_as(actor: str) -> Iterator[None]:
    """Transactions opened inside (this task and the tasks it starts) write as `actor`."""
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


def current_actor() -> str | None:
    return _actor.get()


class AuditedSession(Session):
    """A Session whose writes to record tables leave audit rows (events registered below)."""


def written() -> ColumnElement[bool]:
    """In SQL: the entries that record a write (`insert|update|delete:TABLE`), not a view or
    an export."""
    return or_(*(AuditLog.action.startswith(f"{verb}:") for verb in WRITE_VERBS))


# --- writing the rows --------------------------------------------------------------------


def _row(
    session: Session, action: str, table: str, target: str, columns: Sequence[str]
) -> dict[str, Any]:
    # The moment the write reaches the database (a session event sees no use case's `now`).
    return {
        "at": system_clock(),
        "actor": str(session.info.get("actor") or DEFAULT_ACTOR),
        "action": f"{action}:{table}",
        "target": target,
        "detail": {"columns": sorted(columns)},
    }


def _write(session: Session, rows: list[dict[str, Any]]) -> None:
    """Keep the rows until commit, marked with the (sub)transaction they belong to: a
    savepoint rolled back takes its rows with it (`_forget`)."""
    if rows:
        here = session.get_nested_transaction() or session.get_transaction()
        session.info.setdefault(PENDING, []).extend((here, row) for row in rows)


def record(
    session: Session, *, at: datetime, actor: str, action: str, target: str, detail: Any
) -> None:
    """An entry that is not a row's write (a view, an export, a retention run), written and
    sealed with the transaction's other entries at commit."""
    row = {"at": at, "actor": actor, "action": action, "target": target, "detail": detail}
    if isinstance(session, AuditedSession):
        _write(session, [row])
    else:  # a plain Session (no events): an ordinary row, unsealed until the next seal
        session.add(AuditLog(**row))


@event.listens_for(AuditedSession, "after_soft_rollback")
def _forget(session: Session, rolled_back: SessionTransaction) -> None:
    pending = session.info.get(PENDING)
    if pending:
        pending[:] = [(tx, row) for tx, row in pending if not _within(tx, rolled_back)]


def _within(tx: SessionTransaction | None, outer: SessionTransaction) -> bool:
    while tx is not None:
        if tx is outer:
            return True
        tx = tx.parent
    return False


@event.listens_for(AuditedSession, "after_flush")
def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    """The flush's inserts, updates and deletes (ids assigned, histories not yet reset)."""
    rows = []
    for action, objects in (("insert", session.new), ("update", session.dirty)):
        for obj in objects:
            state = inspect(obj)
            table = state.mapper.local_table.name
            if table == "audit_log":  # added as an object: sealed at commit with the rest
                session.info[UNSEALED] = True
                continue
            if table not in RECORD_TABLES:
                continue
            if action == "insert":
                columns = [
                    a.key
                    for a in state.mapper.column_attrs
                    if a.key != "id" and state.dict.get(a.key) is not None
                ]
            else:
                columns = [
                    a.key
                    for a in state.mapper.column_attrs
                    if state.attrs[a.key].history.has_changes()
                ]
                if not columns:  # assigned its own value again: nothing was written
                    continue
            rows.append(_row(session, action, table, _target(table, state), columns))
    for obj in session.deleted:
        state = inspect(obj)
        table = state.mapper.local_table.name
        if table in RECORD_TABLES:
            rows.append(_row(session, "delete", table, _target(table, state), []))
    _write(session, rows)


def _target(table: str, state: Any) -> str:
    # A new row has its id but not yet its identity key while the flush finishes.
    key = state.identity[0] if state.identity else state.dict.get("id")
    return f"{table}:{key}"


@event.listens_for(AuditedSession, "do_orm_execute")
def _statement(state: ORMExecuteState) -> Result[Any] | None:
    """INSERT / UPDATE / DELETE statements on record tables, which bypass the flush."""
    stmt: Any = state.statement
    if not getattr(stmt, "is_dml", False):
        return None
    table = Base.metadata.tables.get(stmt.table.name)
    if table is None or table.name not in RECORD_TABLES:
        return None
    session = state.session
    params = state.parameters
    columns = _columns(stmt, params)
    if state.is_insert:
        result = state.invoke_statement()
        returned = list(stmt.exported_columns.keys())
        if "id" not in returned:  # none today; still on record, without its rows' ids
            _write(session, [_row(session, "insert", table.name, f"{table.name}:?", columns)])
            return result
        frozen = result.freeze()  # read the new ids, then hand the caller the same rows
        at = returned.index("id")
        _write(
            session,
            [
                _row(session, "insert", table.name, f"{table.name}:{r[at]}", columns)
                for r in frozen.data
            ],
        )
        return frozen()
    action = "update" if state.is_update else "delete"
    if isinstance(params, list):  # executemany
        if stmt.whereclause is None and all("id" in p for p in params):
            ids = [int(p["id"]) for p in params]  # the ORM's bulk UPDATE by primary key
            result = state.invoke_statement()
            rows = [_row(session, action, table.name, f"{table.name}:{i}", columns) for i in ids]
            _write(session, rows)
            return result
        # `nippo data encrypt` re-encrypting rows: one entry for the statement
        result = state.invoke_statement()
        row = _row(session, action, table.name, f"{table.name}:*", columns)
        row["detail"]["rows"] = getattr(result, "rowcount", -1)
        _write(session, [row])
        return result
    if session.autoflush:  # what invoke_statement would flush first, so the ids match
        session.flush()
    ids = _ids(session.connection(), table, stmt.whereclause, params)
    result = state.invoke_statement()
    _write(session, [_row(session, action, table.name, f"{table.name}:{i}", columns) for i in ids])
    return result


def _ids(connection: Connection, table: Table, where: Any, params: Any) -> list[int]:
    """The ids an UPDATE or DELETE with this WHERE clause is about to change. Locked on
    PostgreSQL: a concurrent change that makes a row stop matching is seen before the
    statement runs (read committed re-checks a locked row), and no other can follow."""
    stmt = select(table.c.id)
    if where is not None:
        stmt = stmt.where(where)
    if connection.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return [int(i) for i in connection.execute(stmt, params or {}).scalars()]


def _columns(stmt: Any, params: Any) -> list[str]:
    """The column names a DML statement writes: an UPDATE's SET (NULL too), an INSERT's
    non-NULL VALUES or parameter rows."""
    names: set[str] = set()
    values = getattr(stmt, "_values", None) or {}  # no public accessor; empty if it moves
    for key, value in values.items():
        if getattr(stmt, "is_update", False) or getattr(value, "value", value) is not None:
            names.add(str(getattr(key, "name", key)))
    inserting = bool(getattr(stmt, "is_insert", False))
    if inserting or not values:  # the ORM's bulk forms carry the columns in their rows
        rows = params if isinstance(params, list) else [params] if params else []
        names.update(k for row in rows for k, v in row.items() if v is not None or not inserting)
    names.discard("id")
    return sorted(names)


# --- sealing -----------------------------------------------------------------------------


def canonical(
    seq: int, prev_hash: str, at: datetime, actor: str, action: str, target: str, detail: Any
) -> bytes:
    """What a row's hash covers: its place in the chain and everything it says."""
    return json.dumps(
        [seq, prev_hash, at.astimezone(UTC).isoformat(timespec="microseconds"), actor, action,
         target, detail],
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()  # fmt: skip


def row_hash(
    seq: int, prev_hash: str, at: datetime, actor: str, action: str, target: str, detail: Any
) -> str:
    return hashlib.sha256(canonical(seq, prev_hash, at, actor, action, target, detail)).hexdigest()


# With RETURNING, SQLAlchemy sends a transaction's entries as one multi-row INSERT
# ("insertmanyvalues"); without it, psycopg runs one INSERT per entry on the server.
_MANY_ROWS = insert(AUDIT).returning(AUDIT.c.id)


def _lock(connection: Connection, *, wait: bool) -> bool:
    """The chain's lock for the rest of the transaction (SQLite: its writer lock, held since
    BEGIN IMMEDIATE); False when `wait` is False and another transaction holds it."""
    if connection.dialect.name != "postgresql":
        return True
    fn = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
    got = connection.execute(text(f"SELECT {fn}(:a, :b)"), {"a": CHAIN_LOCK[0], "b": CHAIN_LOCK[1]})
    return wait or bool(got.scalar())


def _seal(connection: Connection, new: Sequence[dict[str, Any]]) -> int:
    """Under the lock: chain the rows left unsealed (oldest id first), then `new`, inserted
    sealed. One read finds both the chain's head and the unsealed rows."""
    c = AUDIT.c
    last = select(func.max(c.seq)).scalar_subquery()
    found = connection.execute(
        select(c.id, c.seq, c.hash, c.at, c.actor, c.action, c.target, c.detail)
        .where(or_(c.seq.is_(None), c.seq == last))
        .order_by(c.id)
    ).all()
    head = next((r for r in found if r.seq is not None), None)
    seq, prev = (int(head.seq), str(head.hash)) if head is not None else (0, GENESIS)
    left = []
    for r in found:
        if r.seq is None:
            seq += 1
            digest = row_hash(seq, prev, r.at, r.actor, r.action, r.target, r.detail)
            left.append({"_id": r.id, "_seq": seq, "_prev": prev, "_hash": digest})
            prev = digest
    _chain_left(connection, left)
    sealed = []
    for row in new:
        seq += 1
        digest = row_hash(
            seq, prev, row["at"], row["actor"], row["action"], row["target"], row["detail"]
        )
        sealed.append({**row, "seq": seq, "prev_hash": prev, "hash": digest})
        prev = digest
    if sealed:
        connection.execute(_MANY_ROWS, sealed)
    return len(left) + len(sealed)


def _chain_left(connection: Connection, left: Sequence[dict[str, Any]]) -> None:
    """Write the seal of rows stored unsealed: on PostgreSQL one `UPDATE … FROM (VALUES …)`
    a page (an executemany runs one UPDATE a row there); SQLite, whose commits seal their
    own rows, cannot name a VALUES list's columns."""
    c = AUDIT.c
    if connection.dialect.name != "postgresql":
        if left:
            connection.execute(
                sql_update(AUDIT)
                .where(c.id == bindparam("_id"))
                .values(
                    seq=bindparam("_seq"), prev_hash=bindparam("_prev"), hash=bindparam("_hash")
                ),
                left,
            )
        return
    for start in range(0, len(left), SEAL_PAGE):
        page = [
            (r["_id"], r["_seq"], r["_prev"], r["_hash"]) for r in left[start : start + SEAL_PAGE]
        ]
        sealing = values(
            column("id", Integer), column("seq", Integer), column("prev", String),
            column("hash", String), name="sealing",
        ).data(page)  # fmt: skip
        connection.execute(
            sql_update(AUDIT)
            .where(c.id == sealing.c.id)
            .values(seq=sealing.c.seq, prev_hash=sealing.c.prev, hash=sealing.c.hash)
        )


def _stored(row: dict[str, Any]) -> dict[str, Any]:
    # The detail as the JSON column gives it back (tuples as lists …): what verify will hash.
    return {**row, "detail": json.loads(json.dumps(row["detail"]))}


@event.listens_for(AuditedSession, "before_commit")
def _seal_at_commit(session: Session) -> None:
    """The transaction's entries, sealed where the chain's lock is free (always on SQLite);
    else stored unsealed for the next seal, so a writer never waits for another's."""
    if session.in_nested_transaction():
        return
    session.flush()  # the commit's own last flush comes after this event: its rows first
    new = [_stored(row) for _, row in session.info.pop(PENDING, ())]
    if not new and not session.info.pop(UNSEALED, False):
        return
    connection = session.connection()
    if _lock(connection, wait=False):
        _seal(connection, new)
    elif new:
        connection.execute(_MANY_ROWS, new)


async def seal(session: AsyncSession) -> int:
    """Seal what is left unsealed (waiting for the chain's lock); how many rows."""

    def run(s: Session) -> int:
        connection = s.connection()
        _lock(connection, wait=True)
        return _seal(connection, ())

    return await session.run_sync(run)


# --- verifying ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Broken:
    seq: int
    problem: str  # "hash mismatch" | "prev_hash mismatch" | "gap"
    explanation: str


@dataclass(frozen=True)
class Verdict:
    entries: int  # sealed rows checked (up to the first broken link)
    unsealed: int
    head_seq: int
    head_hash: str
    broken: Broken | None

    @property
    def intact(self) -> bool:
        return self.broken is None


def check_link(
    expected_seq: int,
    prev: str,
    row: tuple[int, str | None, str | None, datetime, str, str, str, Any],
) -> Broken | None:
    """Whether a row continues the chain after `prev` at `expected_seq` (pure)."""
    seq, prev_hash, stored, at, actor, action, target, detail = row
    if seq != expected_seq:
        return Broken(
            expected_seq, "gap", f"entry {expected_seq} is missing (the next one is {seq})"
        )
    if prev_hash != prev:
        return Broken(seq, "prev_hash mismatch", f"entry {seq} does not point at entry {seq - 1}")
    if stored != row_hash(seq, prev, at, actor, action, target, detail):
        return Broken(seq, "hash mismatch", f"entry {seq} was changed after it was sealed")
    return None


async def verify(session: AsyncSession) -> Verdict:
    """Walk the chain by seq and recompute every hash; the first broken link, if any."""
    c = AUDIT.c
    unsealed = int(
        (await session.execute(select(func.count()).where(c.seq.is_(None)))).scalar_one()
    )
    stmt = (
        select(c.seq, c.prev_hash, c.hash, c.at, c.actor, c.action, c.target, c.detail)
        .where(c.seq.is_not(None))
        .order_by(c.seq)
        .limit(VERIFY_BATCH)
    )
    seq, prev, checked = 0, GENESIS, 0
    while True:
        rows = (await session.execute(stmt.where(c.seq > seq))).all()
        for row in rows:
            broken = check_link(seq + 1, prev, tuple(row))
            if broken is not None:
                return Verdict(checked, unsealed, seq, prev, broken)
            seq, prev, checked = int(row[0]), str(row[2]), checked + 1
        if len(rows) < VERIFY_BATCH:
            return Verdict(checked, unsealed, seq, prev, None)


async def seal_pending(db: Database) -> int:
    """The scheduler's sweep: seal rows a busy moment left unsealed (PostgreSQL)."""
    async with db.transaction() as session:
        return await seal(session)
