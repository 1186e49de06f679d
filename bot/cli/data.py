"""`nippo data`: encryption at rest (storage/crypto.py). Registered on the main app by
importing this module from bot.cli.base.

`nippo data key` prints a new random key. `nippo data encrypt [--apply]` rewrites every
encrypted column of every row into the form the current key writes: plaintext is encrypted,
values under an older key (`NIPPO_DATA_KEYS_OLD`) are re-encrypted; with no current key but
the old ones, it decrypts. It is both how encryption is switched on for existing data and how
a key is rotated. Dry run by default; it never prints a value.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from sqlalchemy import JSON, Column, LargeBinary, Table, Text, bindparam, select, type_coerce
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app.settings import Settings
from bot.cli.base import _run, app, now
from bot.services import admin
from bot.services.admin import AdminError
from storage.crypto import DataKeyError, Keyring, new_key
from storage.db import Database
from storage.encrypted import (
    EncryptedBytes,
    EncryptedJSON,
    is_sealed_with_current,
    open_json,
    seal_json,
)
from storage.models import Base

data_app = typer.Typer(help="Encryption at rest: keys and re-encryption.", no_args_is_help=True)
app.add_typer(data_app, name="data")

BATCH = 500


def encrypted_columns() -> dict[str, list[Column[Any]]]:
    """Every column of an encrypted type, by table (found in the models, so none is missed)."""
    found: dict[str, list[Column[Any]]] = {}
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if type(column.type).__module__ == "storage.encrypted":
                found.setdefault(table.name, []).append(column)
    return found


def _raw_type(column: Column[Any]) -> Any:
    """The column's stored form, without decrypting."""
    if isinstance(column.type, EncryptedJSON):
        return JSON()
    if isinstance(column.type, EncryptedBytes):
        return LargeBinary()
    return Text()


def _rewriter(column: Column[Any], keyring: Keyring) -> Callable[[Any], Any | None]:
    """stored value -> its new stored form, or None when it is already current."""
    if isinstance(column.type, EncryptedJSON):
        clear = column.type.clear

        def json_value(stored: Any) -> Any | None:
            if is_sealed_with_current(keyring, stored):
                return None
            return seal_json(keyring, open_json(keyring, stored), clear)

        return json_value
    if isinstance(column.type, EncryptedBytes):

        def bytes_value(stored: Any) -> Any | None:
            if keyring.is_current(bytes(stored)):
                return None
            return keyring.encrypt_bytes(keyring.decrypt_bytes(bytes(stored)))

        return bytes_value

    def text_value(stored: Any) -> Any | None:
        text = stored if isinstance(stored, str) else str(stored)
        if isinstance(stored, str) and keyring.is_current(text):
            return None
        return keyring.encrypt(keyring.decrypt(text))

    return text_value


@dataclass
class TableCount:
    table: str
    rows: int = 0
    values: int = 0  # stored values not in the current key's form


async def _rewrite_table(
    db: Database, table: Table, columns: Sequence[Column[Any]], *, apply: bool, batch: int
) -> TableCount:
    count = TableCount(table.name)
    rewrite = {c.name: _rewriter(c, db.keyring) for c in columns}
    pk = table.c.id
    raw = [type_coerce(c, _raw_type(c)).label(c.name) for c in columns]
    update = (
        table.update()
        .where(pk == bindparam("_id"))
        .values({c.name: bindparam(f"_{c.name}", type_=_raw_type(c)) for c in columns})
    )
    last = 0
    while True:
        async with db.transaction() as session:
            # Locked (PostgreSQL) so that a row the running service changes meanwhile is
            # never written back with its older value.
            stmt = select(pk, *raw).where(pk > last).order_by(pk).limit(batch).with_for_update()
            rows = (await session.execute(stmt)).all()
            if not rows:
                return count
            changes = []
            for row in rows:
                values = row._mapping
                new = {name: values[name] for name in rewrite}
                touched = 0
                for name, fn in rewrite.items():
                    if values[name] is not None and (changed := fn(values[name])) is not None:
                        new[name] = changed
                        touched += 1
                if touched:
                    count.rows += 1
                    count.values += touched
                    changes.append({"_id": row[0], **{f"_{k}": v for k, v in new.items()}})
            if apply and changes:
                await session.execute(update, changes)
            last = int(rows[-1][0])


async def rewrite_all(
    db: Database, *, apply: bool, batch: int = BATCH, actor: str = "cli"
) -> list[TableCount]:
    """Rewrite (or with apply=False count) every encrypted value not in the current key's
    form; one audit row. Raises DataKeyError on a value under an unknown key."""
    counts = []
    for name, columns in encrypted_columns().items():
        table = Base.metadata.tables[name]
        counts.append(await _rewrite_table(db, table, columns, apply=apply, batch=batch))
    async with db.transaction() as session:
        await _audit(session, db.keyring, counts, apply=apply, actor=actor)
    return counts


async def _audit(
    session: AsyncSession, keyring: Keyring, counts: list[TableCount], *, apply: bool, actor: str
) -> None:
    await admin.audit(
        session,
        actor=actor,
        action="data.encrypt" if apply else "data.encrypt.dry_run",
        target="database",
        now=now(),
        key_id=keyring.current_id,
        values={c.table: c.values for c in counts if c.values},
    )


@data_app.command("key")
def data_key() -> None:
    """Print a new random key for NIPPO_DATA_KEY (base64 of 32 bytes)."""
    typer.echo(new_key())


@data_app.command("encrypt")
def data_encrypt(
    apply: Annotated[bool, typer.Option("--apply", help="Rewrite; else only count.")] = False,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Rows per transaction.")] = BATCH,
) -> None:
    """Bring every health answer, note, free text and evidence to the current key:
    plaintext is encrypted, older keys' values re-encrypted (no key set: decrypted)."""

    async def work(database: Database) -> list[TableCount]:
        try:
            return await rewrite_all(database, apply=apply, batch=batch)
        except DataKeyError as exc:
            raise AdminError(str(exc)) from exc

    keyring = _keyring()
    url = Settings().database_url
    counts = _run(work, url)
    if apply and any(c.values for c in counts):
        compact_sqlite(url)
    target = f"key {keyring.current_id}" if keyring.enabled else "plaintext (no NIPPO_DATA_KEY)"
    verb = "rewrote" if apply else "would rewrite"
    total = sum(c.values for c in counts)
    for c in counts:
        if c.values:
            typer.echo(f"{c.table}\t{c.rows} rows\t{c.values} values")
    typer.echo(f"{verb} {total} values to {target}" + ("" if apply else " (dry run: --apply)"))


def compact_sqlite(url: str) -> None:
    """SQLite keeps overwritten values in free pages and in the WAL: VACUUM and truncate the
    WAL, so that the file holds no old plaintext (PostgreSQL: see docs/operations.md)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    with closing(sqlite3.connect(parsed.database or "", isolation_level=None)) as conn:
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _keyring() -> Keyring:
    try:
        return Keyring.from_env()
    except DataKeyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
