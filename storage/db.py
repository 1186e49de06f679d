"""The database handle: async engine, transactions, migrations.

One owner per transaction: the request or the job opens `Database.transaction()`; services
work inside it and never commit.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
from sqlalchemy import Connection, Engine, event
from sqlalchemy import create_engine as create_blocking_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import await_only

from storage import audit_chain, encrypted
from storage.audit_chain import AuditedSession
from storage.crypto import Keyring

SQLITE_BUSY_TIMEOUT_MS = 10_000
INBOX_APPLICATION_NAME = "nippo-inbox"  # PostgreSQL's pg_stat_activity: the webhook's writer
ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+pysqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
    "postgresql+psycopg2": "postgresql+psycopg",
    "postgresql+asyncpg": "postgresql+psycopg",
}
T = TypeVar("T")


def async_url(url: str) -> str:
    """Give plain `sqlite:///…` and `postgresql://…` URLs their async driver."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    driver = ASYNC_DRIVERS.get(parsed.drivername, parsed.drivername)
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _tune_sqlite(
    engine: Engine,
    *,
    busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
    autocheckpoint: int = 1000,
    wait_on_loop: bool = False,
) -> None:
    """WAL, foreign keys, a busy timeout, and BEGIN IMMEDIATE.

    Taking the write lock at BEGIN makes concurrent writers queue on the busy timeout instead
    of failing when a read transaction tries to upgrade; it also lets SAVEPOINTs work with the
    sqlite3 driver, whose own transaction handling is switched off here. `wait_on_loop`: an
    engine whose statements run on the event loop's thread (busy timeout 0) waits for another
    process's write lock with async pauses at BEGIN, for up to the usual busy timeout.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute(f"PRAGMA wal_autocheckpoint = {autocheckpoint}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if not wait_on_loop:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
        pause = 0.001
        while True:
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                return
            except OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() > deadline:
                    raise
            await_only(asyncio.sleep(pause))  # the loop serves others meanwhile
            pause = min(pause * 2, 0.1)


class _OnLoopSqlite(aiosqlite.Connection):
    """aiosqlite's connection, its statements run on the calling thread (the event loop's)
    once connected; connecting and closing still use aiosqlite's thread."""

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._connection is None:
            return await super()._execute(fn, *args, **kwargs)  # type: ignore[no-untyped-call]
        return fn(*args, **kwargs)


def _is_busy(exc: OperationalError) -> bool:
    code = getattr(exc.orig, "sqlite_errorcode", None)
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


# Statement parameters carry health answers and platform user ids: an exception's text (and so
# every log line and traceback) shows "[SQL parameters hidden]" instead.
PRIVATE = {"hide_parameters": True}
PRIVATE_MODE = 0o600  # SQLite's WAL and shared-memory files take the database file's mode


def private_file(url: str) -> None:
    """A SQLite database file readable by its owner only: created so, or tightened (the
    group's bits are left as the operator set them; others lose theirs)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    if str(parsed.database).startswith("file:"):  # a URI filename (mode=ro, …): as given
        return
    path = Path(parsed.database or "")
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o007:
            path.chmod(mode & ~0o007)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, PRIVATE_MODE))


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    url = async_url(url)
    if is_sqlite(url):
        private_file(url)
        engine = create_async_engine(url, echo=echo, **PRIVATE)
        _tune_sqlite(engine.sync_engine)
        return engine
    # pre_ping lets the pool recover by itself after a PostgreSQL restart.
    return create_async_engine(
        url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=10, **PRIVATE
    )


class Database:
    """An engine and its session factory.

    `keyring`: the keys of the encrypted columns (storage/crypto.py); by default those in the
    environment (`NIPPO_DATA_KEY`, `NIPPO_DATA_KEYS_OLD`), read now: a malformed key fails
    here, at start. The keyring belongs to this handle's engines only.

    Every write to a record table leaves an audit row (storage/audit_chain.py) naming the
    transaction's actor: `transaction(actor=…)`, else `audit_chain.acting_as(…)` around it,
    else `actor` here (`cli`, `bot`; default `system`).
    """

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        keyring: Keyring | None = None,
        actor: str = audit_chain.DEFAULT_ACTOR,
    ) -> None:
        self.url = async_url(url)
        self.keyring = Keyring.from_env() if keyring is None else keyring
        self.actor = actor
        self.engine = create_engine(self.url, echo=echo)
        encrypted.attach(self.engine.dialect, self.keyring)
        self.sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=AuditedSession
        )
        # SQLite has one writer and every transaction here begins IMMEDIATE. Queueing them in
        # the process (first come, first served) spares them SQLite's busy handler, which
        # sleeps and lets a busy writer win again and again (seen as ack latency spikes).
        self._sqlite_gate = asyncio.Lock() if is_sqlite(self.url) else None
        self._on_loop: Engine | None = None  # SQLite: see run_sync
        self._loop_engine: AsyncEngine | None = None  # SQLite: see transaction
        self._loop_sessions_made: async_sessionmaker[AsyncSession] | None = None
        self._autocommit: AsyncEngine | None = None  # PostgreSQL: see run_sync

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(
        self, actor: str | None = None, *, on_loop: bool = False
    ) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits on success (sealing its audit rows), rolls back on
        error.

        `on_loop` (SQLite; ignored on PostgreSQL): run its statements on the event loop's own
        thread instead of aiosqlite's. SQLite's work is CPU work under the GIL, and handing
        each statement to a thread and back costs more than the statement (a handled inbox
        event makes a couple of hundred such trips: measured about twice the wall time and
        1.5× the CPU; bench/README.md, `answer.py`). The loop serves nothing else meanwhile,
        so only short transactions ask for it (the inbox's batches).
        """
        sessions = self.sessions
        if on_loop and self._sqlite_gate is not None:
            sessions = self._loop_sessions()
        async with self._sqlite_turn(), sessions() as session, session.begin():
            session.info["actor"] = actor or audit_chain.current_actor() or self.actor
            yield session

    async def run_sync(self, work: Callable[[Connection], T]) -> T:
        """Run `work(connection)`, plain synchronous SQLAlchemy code that executes ONE
        statement, committed on its own, and return its result; for the hottest write (the
        webhook's group commit). `work` may run more than once.

        On SQLite it runs on a blocking sqlite3 connection right here, on the event loop's
        thread, in its turn among this process's writers. SQLite's work is CPU work under the
        GIL: a thread does not run it beside the loop, it makes the two trade the GIL at
        every sqlite3 call (measured: three times the CPU per batch, and 5 ms switch waits,
        with the loop busy serving requests). The connection never waits on a lock inside
        SQLite (busy timeout 0), since that would freeze the loop: when another process
        holds the write lock, `work` is rolled back and tried again after an async pause,
        for up to the usual busy timeout.

        On PostgreSQL (psycopg is natively async) it runs in autocommit on a small pool of
        its own without pre-ping: one round trip instead of four (ping, BEGIN, statement,
        COMMIT), which every request of the batch waits for, with the loop idle for lack of
        other requests (measured: a quarter less CPU and wait per batch). A single statement
        is atomic by itself. A pooled connection found dead (PostgreSQL restarted) is
        dropped and `work` runs once more on a new one, which is what pre-ping would do (if
        the connection died just after committing, the second run finds the rows stored).
        """
        if self._sqlite_gate is None:
            autocommit = self._autocommit_engine()
            try:
                async with autocommit.connect() as conn:
                    return await conn.run_sync(work)
            except DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
            async with autocommit.connect() as conn:
                return await conn.run_sync(work)
        async with self._sqlite_turn():
            engine = self._engine_on_loop()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + SQLITE_BUSY_TIMEOUT_MS / 1000
            pause = 0.001
            while True:
                try:
                    with engine.begin() as conn:
                        return work(conn)
                except OperationalError as exc:
                    if not _is_busy(exc) or loop.time() + pause > deadline:
                        raise
                await asyncio.sleep(pause)
                pause = min(pause * 2, 0.1)

    @asynccontextmanager
    async def _sqlite_turn(self) -> AsyncIterator[None]:
        """SQLite: wait for this process's other writers first (see `_sqlite_gate`)."""
        if self._sqlite_gate is None:
            yield
            return
        try:  # like SQLite's own busy timeout: a nested transaction fails, never hangs
            async with asyncio.timeout(SQLITE_BUSY_TIMEOUT_MS / 1000):
                await self._sqlite_gate.acquire()
        except TimeoutError as exc:
            raise TimeoutError("waited too long for the SQLite write lock") from exc
        try:
            yield
        finally:
            self._sqlite_gate.release()

    def _autocommit_engine(self) -> AsyncEngine:
        """PostgreSQL's engine for `run_sync`; its connections show as `nippo-inbox`."""
        if self._autocommit is None:
            self._autocommit = create_async_engine(
                self.url,
                echo=self.engine.echo,
                isolation_level="AUTOCOMMIT",
                hide_parameters=True,
                pool_size=2,
                max_overflow=2,
                connect_args={"application_name": INBOX_APPLICATION_NAME},
            )
            encrypted.attach(self._autocommit.dialect, self.keyring)
        return self._autocommit

    def _loop_sessions(self) -> async_sessionmaker[AsyncSession]:
        """SQLite: sessions whose statements run on the loop's thread (see `transaction`).
        They never busy-wait inside SQLite, and leave WAL checkpoints (an fsync) to the
        engine on aiosqlite's thread, as `run_sync` does."""
        if self._loop_sessions_made is None:
            path = make_url(self.url).database or ""

            def connector() -> sqlite3.Connection:
                return sqlite3.connect(path, check_same_thread=False, uri=path.startswith("file:"))

            async def connect() -> aiosqlite.Connection:
                return await _OnLoopSqlite(connector, 64)

            engine = create_async_engine(self.url, async_creator=connect, **PRIVATE)
            _tune_sqlite(engine.sync_engine, busy_timeout_ms=0, autocheckpoint=10_000,
                         wait_on_loop=True)  # fmt: skip
            encrypted.attach(engine.dialect, self.keyring)
            self._loop_engine = engine
            self._loop_sessions_made = async_sessionmaker(
                engine, expire_on_commit=False, sync_session_class=AuditedSession
            )
        return self._loop_sessions_made

    def _engine_on_loop(self) -> Engine:
        """SQLite's blocking twin of the async engine, for `run_sync` on the loop's thread.

        It never busy-waits, and its commits leave WAL checkpoints (an fsync) to the async
        engine's connections, which run them on their own thread; a checkpoint here is only
        the backstop for a WAL that nothing else has checkpointed for 10,000 pages.
        """
        if self._on_loop is None:
            url = make_url(self.url).set(drivername="sqlite+pysqlite")
            self._on_loop = create_blocking_engine(
                url, pool_size=1, max_overflow=0, hide_parameters=True
            )
            _tune_sqlite(self._on_loop, busy_timeout_ms=0, autocheckpoint=10_000)
            encrypted.attach(self._on_loop.dialect, self.keyring)
        return self._on_loop

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._loop_engine is not None:
            await self._loop_engine.dispose()
            self._loop_engine = self._loop_sessions_made = None
        if self._autocommit is not None:
            await self._autocommit.dispose()
            self._autocommit = None
        if self._on_loop is not None:
            self._on_loop.dispose()
            self._on_loop = None


def alembic_dir() -> Path:
    """The migration scripts: `alembic/` beside the packages (editable installs, the image)."""
    configured = os.environ.get("NIPPO_ALEMBIC_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parent.parent / "alembic"


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(alembic_dir()))
    cfg.set_main_option("sqlalchemy.url", async_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations (blocking; call from a thread when inside an event loop)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)
