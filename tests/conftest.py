"""Shared fixtures: a fresh, migrated database per test on SQLite or PostgreSQL.

Migrations run once into a template; each test gets its own copy (a file copy on SQLite,
CREATE DATABASE … TEMPLATE on PostgreSQL), so tests may commit, run concurrently and never
clean up by deleting rows. Set NIPPO_TEST_DATABASE_URL to run on PostgreSQL.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from storage import db as storage_db
from storage.db import Database

PG_URL = os.environ.get("NIPPO_TEST_DATABASE_URL")
_counter = itertools.count()


def _pg_admin_dsn(url: str) -> str:
    u = make_url(url).set(drivername="postgresql")
    return u.render_as_string(hide_password=False)


def _pg_url_for(url: str, database: str) -> str:
    return (
        make_url(storage_db.async_url(url))
        .set(database=database)
        .render_as_string(hide_password=False)
    )


@pytest.fixture(scope="session")
def template_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if PG_URL is None:
        path = tmp_path_factory.mktemp("db") / "template.db"
        url = f"sqlite:///{path}"
        storage_db.upgrade(url)
        yield url
        return
    name = f"nippo_tmpl_{os.getpid()}"
    with psycopg.connect(_pg_admin_dsn(PG_URL), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _pg_url_for(PG_URL, name)
    storage_db.upgrade(url)
    yield url
    with psycopg.connect(_pg_admin_dsn(PG_URL), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db_url(template_url: str, tmp_path: Path) -> Iterator[str]:
    """A fresh migrated database of its own for one test."""
    if PG_URL is None:
        source = Path(make_url(template_url).database or "")
        target = tmp_path / "test.db"
        shutil.copyfile(source, target)
        yield f"sqlite:///{target}"
        return
    name = f"nippo_t_{os.getpid()}_{next(_counter)}"
    template = make_url(template_url).database
    with psycopg.connect(_pg_admin_dsn(PG_URL), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
    yield _pg_url_for(PG_URL, name)
    with psycopg.connect(_pg_admin_dsn(PG_URL), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    yield database
    await database.dispose()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every fault test (tests/faults/) is `slow`: real servers, outages, floods. `make
    test-fast` leaves them out; other slow tests carry the mark themselves."""
    faults = Path(__file__).parent / "faults"
    for item in items:
        if faults in item.path.parents:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def t0() -> datetime:
    """09:00 JST on Wednesday 2026-07-01, as UTC."""
    return datetime(2026, 7, 1, 0, 0, tzinfo=UTC)


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary working directory with DATABASE_URL on a SQLite file in it (CLI tests)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    return tmp_path
