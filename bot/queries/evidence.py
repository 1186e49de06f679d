"""The month's evidence files (photos, audio, files of the outputs) as one ZIP for the city.

The 留意事項通知 (domain/001 IV): 「音声データ、動画ファイル又は静止画像等をセキュリティーが
施された状態で保存し、指定権者から求められた場合には個人情報に配慮した上で、提出できるように
しておくことが望ましい」.

Layout, for `nippo export evidence --month 2026-07`:

    evidence-2026-07/index.csv                       UTF-8 with BOM, one row per file
    evidence-2026-07/member-12/2026-07-01_12_1.jpg   YYYY-MM-DD_<member id>_<n>.<ext>

File and folder names carry ids, never names: names are personal data and file names travel
where contents do not (listings, mail, backups' catalogues); a Japanese name in a ZIP is
garbled by tools that ignore its UTF-8 flag; and ids are unique and stable. `index.csv` maps
each file to the member's 氏名. Each file's SHA-256 is computed over the bytes put in the ZIP
and compared with the one stored when it arrived; a mismatch is marked in the index and
reported. The ZIP's own SHA-256 goes into the audit log with the export.

Files are read one at a time, each in a short transaction (SQLite has one writer: a long
export must not hold it), and the ZIP is written to a private temporary file that takes the
target's name only once it is complete and audited.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import re
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.core import compliance
from bot.queries import exports
from bot.services import consent
from bot.services.admin import AdminError, audit
from storage.db import Database
from storage.models import Attachment, DailyReport, Facility, Member

KIND = "evidence"
INDEX_HEADERS = (
    "日付", "利用者ID", "氏名", "種類", "ファイル名", "SHA-256", "受信日時", "送信元",
    "メッセージID", "元のファイル名", "証拠保存の同意", "照合",
)  # fmt: skip
MATCH = "一致"
MISMATCH = "不一致(受信時のSHA-256: {stored})"
# mimetypes' first guesses are odd for some common types (".jpe", ".m4a" unknown …)
EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/heic": "heic",
    "image/webp": "webp",
    "audio/m4a": "m4a",
    "audio/x-m4a": "m4a",
    "audio/mp4": "m4a",
    "audio/mpeg": "mp3",
    "video/mp4": "mp4",
    "application/pdf": "pdf",
}
SAFE_EXT = re.compile(r"[a-z0-9]{1,8}")
FILE_MODE = 0o600


@dataclass(frozen=True)
class Item:
    """One kept file, as the database describes it (its bytes are read later)."""

    attachment_id: int
    member_id: int
    member_name: str
    day: date
    content_type: str
    filename: str | None
    sha256: str
    at: datetime
    platform: str
    message_id: str


@dataclass(frozen=True)
class Entry:
    item: Item
    path: str  # inside the ZIP
    sha256: str  # over the bytes in the ZIP
    consented: bool  # consent covered evidence on the file's day

    @property
    def matches(self) -> bool:
        return self.sha256 == self.item.sha256


@dataclass(frozen=True)
class Bundle:
    path: Path
    entries: list[Entry]
    missing: int  # files gone (retention) between listing and reading
    sha256: str  # of the ZIP file

    @property
    def mismatches(self) -> list[Entry]:
        return [e for e in self.entries if not e.matches]

    @property
    def without_consent(self) -> list[Entry]:
        return [e for e in self.entries if not e.consented]


# --- pure ----------------------------------------------------------------------------------


def extension(content_type: str, filename: str | None) -> str:
    """The file's extension: from its own name if that is plain, else from its type."""
    if filename and "." in filename:
        ext = filename.rsplit(".", 1)[1].lower()
        if SAFE_EXT.fullmatch(ext):
            return ext
    kind = content_type.split(";")[0].strip().lower()
    if kind in EXTENSIONS:
        return EXTENSIONS[kind]
    guessed = mimetypes.guess_extension(kind) or ""
    ext = guessed.lstrip(".").lower()
    return ext if SAFE_EXT.fullmatch(ext) else "bin"


def root(month: date, member_id: int | None) -> str:
    return f"{KIND}-{month:%Y-%m}" + (f"-member{member_id}" if member_id else "")


def names(items: Sequence[Item], top: str) -> list[str]:
    """`top/member-<id>/YYYY-MM-DD_<id>_<n>.<ext>`, n counting each member's day from 1 in
    the order the files came."""
    counts: dict[tuple[int, date], int] = {}
    out = []
    for it in items:
        n = counts.get((it.member_id, it.day), 0) + 1
        counts[(it.member_id, it.day)] = n
        ext = extension(it.content_type, it.filename)
        out.append(f"{top}/member-{it.member_id}/{it.day.isoformat()}_{it.member_id}_{n}.{ext}")
    return out


def _local(at: datetime, tz: ZoneInfo) -> datetime:
    return at.astimezone(tz)


def index_table(entries: Sequence[Entry], top: str, tz: ZoneInfo) -> exports.Table:
    rows: list[tuple[exports.Cell, ...]] = [
        (
            e.item.day,
            e.item.member_id,
            e.item.member_name,
            e.item.content_type,
            e.path.removeprefix(f"{top}/"),
            e.sha256,
            _local(e.item.at, tz).strftime("%Y-%m-%d %H:%M:%S"),
            e.item.platform.upper() if e.item.platform == "line" else e.item.platform,
            e.item.message_id,
            e.item.filename,
            "あり" if e.consented else "なし",
            MATCH if e.matches else MISMATCH.format(stored=e.item.sha256),
        )
        for e in entries
    ]
    return exports.Table("証拠ファイル一覧", INDEX_HEADERS, rows)


# --- reading -------------------------------------------------------------------------------


async def list_items(
    database: Database, facility_id: int, first: date, last: date, member_id: int | None
) -> tuple[Facility, list[Item], dict[int, list[consent.Term]]]:
    async with database.transaction() as session:
        facility = await session.get_one(Facility, facility_id)
        stmt = (
            select(
                Attachment.id,
                Member.id,
                Member.name,
                DailyReport.business_date,
                Attachment.content_type,
                Attachment.filename,
                Attachment.sha256,
                Attachment.at,
                Attachment.platform,
                Attachment.platform_message_id,
            )
            .join(DailyReport, Attachment.report_id == DailyReport.id)
            .join(Member, DailyReport.member_id == Member.id)
            .where(
                Member.facility_id == facility_id,
                DailyReport.business_date.between(first, last),
            )
            .order_by(Member.id, DailyReport.business_date, Attachment.at, Attachment.id)
        )
        if member_id is not None:
            stmt = stmt.where(Member.id == member_id)
        items = [
            Item(
                attachment_id=int(r[0]),
                member_id=int(r[1]),
                member_name=str(r[2]),
                day=r[3],
                content_type=str(r[4]),
                filename=r[5],
                sha256=str(r[6]),
                at=r[7],
                platform=str(r[8]),
                message_id=str(r[9]),
            )
            for r in (await session.execute(stmt)).all()
        ]
        terms = await consent.terms_of(session, {i.member_id for i in items})
    return facility, items, terms


async def _bytes(database: Database, attachment_id: int) -> bytes | None:
    async with database.transaction() as session:
        data = await session.scalar(select(Attachment.data).where(Attachment.id == attachment_id))
    return bytes(data) if data is not None else None


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _zip_info(name: str, at: datetime) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=at.timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (0o100000 | FILE_MODE) << 16  # a regular file, owner-only
    return info


# --- writing -------------------------------------------------------------------------------


async def export_bundle(
    database: Database,
    facility_id: int,
    month: date,
    *,
    member_id: int | None,
    path: Path,
    force: bool,
    now: datetime,
    actor: str,
) -> Bundle:
    """Write the month's evidence ZIP to `path` (0600; refused over a symlink, or over an
    existing file without `force`) and audit the export with the ZIP's SHA-256."""
    exports.check_target(path, force=force)
    first, last = compliance.month_days(month)
    facility, items, terms = await list_items(database, facility_id, first, last, member_id)
    tz = ZoneInfo(facility.tz)
    top = root(month, member_id)
    try:
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise AdminError(exports.OUT_UNWRITABLE.format(path=path, reason=_reason(exc))) from exc
    tmp = Path(tmp_name)
    try:
        entries: list[Entry] = []
        missing = 0
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w") as zf:
            for item, name in zip(items, names(items, top), strict=True):
                data = await _bytes(database, item.attachment_id)
                if data is None:
                    missing += 1
                    continue
                zf.writestr(_zip_info(name, _local(item.at, tz)), data)
                ok = consent.EVIDENCE in consent.covered(terms.get(item.member_id, []), item.day)
                entries.append(Entry(item, name, hashlib.sha256(data).hexdigest(), ok))
            index = exports.render(index_table(entries, top, tz), "csv")
            zf.writestr(_zip_info(f"{top}/index.csv", _local(now, tz)), index)
        bundle = Bundle(path, entries, missing, _sha256_of(tmp))
        async with database.transaction() as session:
            await audit(
                session,
                actor=actor,
                action="export",
                target=f"{KIND}:{month:%Y-%m}",
                now=now,
                facility_id=facility_id,
                member_id=member_id,
                format="zip",
                rows=len(entries),
                mismatches=len(bundle.mismatches),
                sha256=bundle.sha256,
            )
            _place(tmp, path, force=force)  # fails: the audit row rolls back
        return bundle
    finally:
        _discard(tmp)


def _discard(tmp: Path) -> None:
    """The temporary file goes, whatever happened (once placed, its name is a second link)."""
    tmp.unlink(missing_ok=True)


def _place(tmp: Path, path: Path, *, force: bool) -> None:
    """Give the finished file its name: a hard link never replaces anything (and fails on
    a file or symlink that appeared meanwhile); with `force`, a rename over the old file."""
    exports.check_target(path, force=force)
    try:
        if force and path.exists():
            os.replace(tmp, path)
            return
        try:
            os.link(tmp, path)
        except FileExistsError:
            exports.check_target(path, force=False)  # says what is there
            raise
        except OSError:  # a file system without hard links: an exclusive create and a copy
            exports.write_file(path, tmp.read_bytes(), force=False)
    except OSError as exc:
        raise AdminError(exports.OUT_UNWRITABLE.format(path=path, reason=_reason(exc))) from exc


def _reason(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "フォルダがありません"
    if isinstance(exc, PermissionError):
        return "書き込む権限がありません"
    return exc.strerror or type(exc).__name__
