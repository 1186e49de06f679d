"""Exports read back from the file (CSV with BOM, XLSX) and compared with the database."""

from __future__ import annotations

import csv
import io
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from bot.queries import exports
from storage.db import Database
from storage.models import AuditLog, DailyReport, Facility, Member, SupportRecord
from tests.records import scenario
from tests.records.scenario import JULY, T0

TOKYO = ZoneInfo("Asia/Tokyo")


def shown(v: object) -> str:
    """An XLSX cell's value as the sheet shows it: dates ISO, times HH:MM ('' for empty)."""
    if v is None:
        return ""
    if isinstance(v, time):
        return v.strftime("%H:%M")
    if isinstance(v, datetime):  # a date cell reads back as midnight of that day
        assert v.time() == time(0)
        return v.date().isoformat()
    return str(v)


def read_back(data: bytes, fmt: str) -> list[list[str]]:
    """Every cell as text ('' for empty), the header first."""
    if fmt == "csv":
        assert data.startswith(b"\xef\xbb\xbf")  # BOM: Excel in Japan reads it as UTF-8
        return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    ws = load_workbook(io.BytesIO(data)).active
    assert ws is not None
    return [[shown(v) for v in row] for row in ws.iter_rows(values_only=True)]


async def _export(
    db: Database, fid: int, kind: str, fmt: str, member_id: int | None = None
) -> list[list[str]]:
    async with db.transaction() as s:
        f = await s.get_one(Facility, fid)
        m = await s.get_one(Member, member_id) if member_id else None
        _, data = await exports.export(s, f, kind, JULY, fmt=fmt, now=T0, actor="test", member=m)
    return read_back(data, fmt)


def _hm(at: Any) -> str:
    return at.astimezone(TOKYO).strftime("%H:%M") if at else ""


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_nippo_and_support_records_round_trip(db: Database, fmt: str) -> None:
    ids = await scenario.build(db, "higashiosaka")
    rows = await _export(db, ids.facility, "nippo", fmt, ids.aoki)
    head, body = rows[0], [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert head[:4] == ["利用者ID", "氏名", "受給者証番号", "日付"]
    async with db.transaction() as s:
        reports = (
            (
                await s.execute(
                    select(DailyReport)
                    .where(DailyReport.member_id == ids.aoki)
                    .order_by(DailyReport.business_date)
                )
            )
            .scalars()
            .all()
        )
        support_count = (
            await s.execute(
                select(func.count())
                .select_from(SupportRecord)
                .where(SupportRecord.member_id == ids.aoki)
            )
        ).scalar_one()
    assert len(body) == len(reports) == 19  # 18 在宅 days and the 通所 day with a 日報
    for row, r in zip(body, reports, strict=True):
        assert row["日付"] == r.business_date.isoformat()
        assert row["氏名"] == "青木 葵"
        assert (row["開始時刻"], row["終了時刻"]) == (_hm(r.start_at), _hm(r.end_at))
        assert row["成果"] == (r.outputs or "")
        assert row["利用形態"] == {"zaitaku": "在宅", "tsusho": "通所"}[r.mode]
    first = body[0]  # Jul 1 came through the real chat
    assert (first["開始時刻"], first["体調(開始時)"], first["睡眠時間"]) == ("10:02", "4", "7")
    assert (first["作業内容"], first["成果"], first["状態"]) == ("データ入力", "入力120件", "終了")
    assert body[[r.business_date.day for r in reports].index(14)]["状態"] == "作業中"

    support = await _export(db, ids.facility, "support-records", fmt, ids.aoki)
    assert support[0] == list(exports.SUPPORT_HEADERS)
    assert len(support) - 1 == support_count
    phone = [r for r in support[1:] if r[5] == "電話"]
    assert [(r[2], r[3], r[6], r[7]) for r in phone] == [
        ("2026-07-01", "13:00", "鈴木 一郎", "作業の進み具合と体調を確認"),
        ("2026-07-08", "13:00", "鈴木 一郎", "作業の進み具合と体調を確認"),
    ]
    assert any(r[4] == "開始確認" and r[7].startswith("開始確認 10:02") for r in support[1:])


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_zaitaku_list_uses_wareki_and_lists_this_citys_users(db: Database, fmt: str) -> None:
    ids = await scenario.build(db, "higashiosaka", chat_day=False)
    rows = await _export(db, ids.facility, "zaitaku-list", fmt)
    assert rows[0] == list(exports.ZAITAKU_HEADERS)
    by_name = {r[1]: r for r in rows[1:]}
    # 坂本 is 大阪市's (not listed to 東大阪市); 千葉 has no 在宅 approval or day.
    assert sorted(by_name) == ["土屋 司", "江口 栄", "青木 葵"]
    aoki = by_name["青木 葵"]
    assert aoki[0] == "令和8年7月" and aoki[3] == "東大阪市"
    assert aoki[2] == f"27{ids.aoki:08d}"
    assert (aoki[4], aoki[5]) == ("18", "6")
    assert aoki[6] == "令和8年7月3日、令和8年7月9日、令和8年7月24日、令和8年7月31日"
    assert aoki[7] == "令和8年1月1日〜令和8年8月10日"
    eguchi = by_name["江口 栄"]  # approved but in hospital all month: listed with no days
    assert (eguchi[4], eguchi[5], eguchi[6]) == ("0", "0", "")

    national = await scenario.build(db, "national", chat_day=False)
    names = [r[1] for r in (await _export(db, national.facility, "zaitaku-list", fmt))[1:]]
    assert sorted(names) == ["土屋 司", "坂本 咲", "江口 栄", "青木 葵"]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_eval_sheet_and_a_member_without_days(db: Database, fmt: str) -> None:
    ids = await scenario.build(db, "hitachi", chat_day=False)
    sheet = await _export(db, ids.facility, "eval-sheet", fmt, ids.tsuchiya)
    assert sheet[0] == list(exports.EVAL_HEADERS)
    assert len(sheet) == 2
    row = dict(zip(sheet[0], sheet[1], strict=True))
    assert row["実施日"] == "令和8年7月17日"
    assert (row["評価の種類"], row["実施方法"], row["評価者"]) == (
        "月1回の評価",
        "通所",
        "鈴木 一郎",
    )
    assert (row["訓練目標"], row["達成度"], row["月の評価を兼ねる"]) == (
        "毎日4時間の作業を続ける",
        "概ね達成",
        "はい",
    )

    chiba_nippo = await _export(db, ids.facility, "nippo", fmt, ids.chiba)
    assert chiba_nippo == [list(exports.NIPPO_HEADERS)]  # header only, no error
    chiba_support = await _export(db, ids.facility, "support-records", fmt, ids.chiba)
    assert [r[4:6] for r in chiba_support[1:]] == [["職員による連絡", "通所"]]


async def test_every_export_is_audited(db: Database) -> None:
    ids = await scenario.build(db, "national", chat_day=False)
    for kind in exports.KINDS:
        await _export(db, ids.facility, kind, "csv")
    await _export(db, ids.facility, "nippo", "xlsx", ids.aoki)
    async with db.transaction() as s:
        audits = (
            (await s.execute(select(AuditLog).where(AuditLog.action == "export"))).scalars().all()
        )
    assert [a.target for a in audits] == [f"{k}:2026-07" for k in exports.KINDS] + ["nippo:2026-07"]
    assert audits[-1].detail == {
        "facility_id": ids.facility,
        "member_id": ids.aoki,
        "format": "xlsx",
        "rows": 19,
    }
