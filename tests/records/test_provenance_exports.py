"""What an officer reads in the exports about who wrote each record and when: entry times,
記録者, 事後記録 marks, 修正理由, the day's sign-off (確認者 and 助言) and a voided sign-off, read
back from the CSV and XLSX bytes; and `nippo export revisions` (the 日報's history).

The 東大阪市 notice asks that the 支援記録 be 「本市から依頼があった場合に提出ができるように備える
こと」 (002 【事業所の要件】イ): what a file shows is what the city sees.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time
from pathlib import Path

import pytest

from bot.cli.main import app as _cli  # noqa: F401  (loads every command module)
from bot.queries import exports
from bot.services import records, ticks
from bot.services.admin import add_staff
from bot.services.records import Confirmed
from storage.db import Database
from storage.models import Facility
from tests.records.test_exports import read_back
from tests.support import Chat, jst, make_facility, make_member
from tests.support import run_cli as run

JULY = date(2026, 7, 1)
WHY = "本人から訂正の連絡"
ADVICE = "休憩をこまめに取るよう助言"


async def _month(db: Database, t0: datetime) -> tuple[int, int]:
    """7/1: the member's own check-ins, a staff edit with its reason, a sign-off with advice
    that the member's later correction voids. 7/2: no check-in; staff reach the member by
    phone and enter the 日報 from the call two days later (事後記録), then sign it off."""
    fid = await make_facility(db, t0)
    mid = await make_member(db, fid, t0, "青木 葵", kana=None)
    async with db.transaction() as s:
        staff = await add_staff(
            s, await s.get_one(Facility, fid), name="鈴木 一郎", slack_user="U1", role="staff",
            now=t0,
        )  # fmt: skip
        sid = staff.id
    chat = Chat(db)
    await chat.link("u1", mid, jst("2026-07-01", "09:00"))
    await ticks.tick(db, jst("2026-07-01", "10:00"))  # the bot's reminder: a システム entry
    await chat.say("u1", "開始 体調4 睡眠7 データ入力", jst("2026-07-01", "10:02"))
    await chat.say("u1", "終了 入力120件 体調3", jst("2026-07-01", "15:01"))
    async with db.transaction() as s:
        report = await records.report_history(s, mid, JULY)
        assert report is not None
        await records.staff_edit(
            s, report.report_id, "outputs", "入力 110件", sid, jst("2026-07-01", "17:00"),
            reason=WHY,
        )  # fmt: skip
        await records.sign_off(s, report.report_id, sid, jst("2026-07-01", "17:30"), advice=ADVICE)
    await chat.say("u1", "修正", jst("2026-07-01", "17:40"))
    await chat.tap("u1", "fix:sleep_hours", jst("2026-07-01", "17:40"))
    await chat.say("u1", "6時間", jst("2026-07-01", "17:41"))
    async with db.transaction() as s:
        made, _ = await records.create_report_from_contact(
            s, mid, sid, day=date(2026, 7, 2), method="電話", text="電話で開始と終了を確認",
            at=jst("2026-07-02", "15:10"), now=jst("2026-07-04", "09:00"),
            confirmed=Confirmed(start=time(10, 0), end=time(15, 0), work="封入作業",
                                outputs="封入 200枚", health=4),
        )  # fmt: skip
        await records.sign_off(s, made.id, sid, jst("2026-07-04", "09:05"))
    return fid, mid


async def _export(db: Database, fid: int, kind: str, fmt: str) -> list[dict[str, str]]:
    async with db.transaction() as s:
        f = await s.get_one(Facility, fid)
        _, data = await exports.export(
            s, f, kind, JULY, fmt=fmt, now=jst("2026-08-01", "09:00"), actor="test"
        )
    rows = read_back(data, fmt)
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_the_nippo_shows_entry_late_marks_reasons_and_sign_off_state(
    db: Database, t0: datetime, fmt: str
) -> None:
    fid, _ = await _month(db, t0)
    first, second = await _export(db, fid, "nippo", fmt)
    assert first["日付"] == "2026-07-01" and first["記録日時"] == "2026-07-01 10:02"
    assert (first["確認状態"], first["確認者"], first["確認日時"]) == ("要再確認", "", "")
    assert (first["最終修正理由"], first["修正回数"], first["事後記録"]) == (WHY, "2", "")
    assert second["日付"] == "2026-07-02"
    assert (second["記録日時"], second["記録者"], second["事後記録"]) == (
        "2026-07-04 09:00",
        "鈴木 一郎",
        "事後記録",
    )
    assert (second["確認状態"], second["確認者"]) == ("確認済み", "鈴木 一郎")
    assert (second["開始時刻"], second["終了時刻"], second["成果"]) == (
        "10:00",
        "15:00",
        "封入 200枚",
    )


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_support_records_carry_who_entered_them_and_the_days_sign_off(
    db: Database, t0: datetime, fmt: str
) -> None:
    fid, _ = await _month(db, t0)
    rows = await _export(db, fid, "support-records", fmt)
    by_kind: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by_kind.setdefault(r["種別"], []).append(r)
    (start,) = by_kind["開始確認"]
    assert (start["記録者"], start["記録日時"], start["事後記録"]) == (
        "本人",
        "2026-07-01 10:02",
        "",
    )
    assert by_kind["声かけ"][0]["記録者"] == "システム"
    (call,) = by_kind["職員による連絡"]
    assert (call["日付"], call["時刻"], call["職員"], call["記録者"]) == (
        "2026-07-02",
        "15:10",
        "鈴木 一郎",
        "鈴木 一郎",
    )
    assert (call["記録日時"], call["事後記録"]) == ("2026-07-04 09:00", "事後記録")
    signed_1, signed_2 = by_kind["日報の確認(サイン)"]
    assert (signed_1["日付"], signed_1["時刻"], signed_1["職員"]) == (
        "2026-07-01",
        "17:30",
        "鈴木 一郎",
    )
    assert signed_1["内容"] == f"日報を確認(サイン) / 助言: {ADVICE}"
    # a sign-off made on another day says which day it was made on
    assert (signed_2["日付"], signed_2["時刻"], signed_2["事後記録"]) == (
        "2026-07-02",
        "2026-07-04 09:05",
        "事後記録",
    )
    # every row of a day names the staff member who confirmed it, or that it needs confirming
    assert {r["その日の確認者"] for r in rows if r["日付"] == "2026-07-01"} == {"要再確認"}
    assert {r["その日の確認者"] for r in rows if r["日付"] == "2026-07-02"} == {"鈴木 一郎"}


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_the_revisions_export_is_the_whole_history(
    db: Database, t0: datetime, fmt: str
) -> None:
    fid, mid = await _month(db, t0)
    rows = await _export(db, fid, "revisions", fmt)
    assert list(rows[0]) == list(exports.REVISION_HEADERS)
    day1 = [r for r in rows if r["日付"] == "2026-07-01"]
    assert day1[0] == {
        "利用者ID": str(mid),
        "氏名": "青木 葵",
        "日付": "2026-07-01",
        "項目": "開始時刻",
        "修正前": "",
        "修正後": "10:02",
        "修正者": "本人",
        "修正日時": "2026-07-01 10:02",
        "経路": "本人",
        "修正理由": "",
        "事後記録": "",
    }
    tail = [
        (r["項目"], r["修正前"], r["修正後"], r["修正者"], r["経路"], r["修正理由"])
        for r in day1[-4:]
    ]
    assert tail == [
        ("成果", "入力120件", "入力 110件", "鈴木 一郎", "職員が修正", WHY),
        ("確認(サイン)", "", "鈴木 一郎", "鈴木 一郎", "職員が確認(サイン)", ADVICE),
        ("睡眠時間", "7", "6", "本人", "本人が修正", ""),
        ("確認(サイン)", "鈴木 一郎", "", "本人", "修正により確認を取り消し",
         "「睡眠」が変わったため、確認をやり直す必要があります"),
    ]  # fmt: skip
    day2 = [r for r in rows if r["日付"] == "2026-07-02"]
    assert {(r["修正者"], r["経路"], r["事後記録"]) for r in day2} == {
        ("鈴木 一郎", "職員が電話などで確認", "事後記録"),
        ("鈴木 一郎", "職員が確認(サイン)", "事後記録"),
    }
    assert {r["修正理由"] for r in day2 if r["項目"] == "成果"} == {"電話で本人に確認した内容"}


def test_nippo_export_revisions_from_the_command_line(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.cli.records.now", lambda: jst("2026-07-01", "18:00"))
    run("facility", "init", "--name", "ひまわり")
    run("member", "add", "--name", "青木 葵")
    run("member", "add", "--name", "千葉 智")
    run("staff", "add", "--name", "鈴木", "--slack-user", "U1", "--role", "staff")
    for name in ("青木", "千葉"):
        run("report", "create", name, "--date", "2026-07-01", "--staff", "U1", "--method", "電話",
            "--text", "電話で開始を確認", "--at", "10:05", "--start", "10:00",
            "--work", "データ入力")  # fmt: skip
    run("report", "edit", "青木", "--date", "2026-07-01", "--staff", "U1", "--field",
        "planned_work", "--value", "封入作業", "--reason", "本人から予定変更の連絡")  # fmt: skip
    assert "2 rows" in run("export", "revisions", "--month", "2026-07", "--member", "千葉")
    out = run("export", "revisions", "--month", "2026-07", "--out", "all.csv")
    assert "5 rows" in out
    text = (cli_env / "all.csv").read_bytes().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    edit = rows[2]
    assert (edit["氏名"], edit["項目"], edit["修正前"], edit["修正後"]) == (
        "青木 葵",
        "作業予定",
        "データ入力",
        "封入作業",
    )
    assert (edit["修正者"], edit["修正日時"], edit["修正理由"], edit["事後記録"]) == (
        "鈴木",
        "2026-07-01 18:00",
        "本人から予定変更の連絡",
        "",
    )
    assert (cli_env / "revisions-2026-07-member2.csv").exists()


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_the_evaluation_sheet_says_who_entered_it_and_when(
    db: Database, t0: datetime, fmt: str
) -> None:
    """A 評価シート written up three days after the visit is a 事後記録, with its entry time."""
    fid, mid = await _month(db, t0)
    async with db.transaction() as s:
        staff = await records.staff_by_slack_user(s, await s.get_one(Facility, fid), "U1")
        await records.record_evaluation(
            s, mid, kind="monthly", day=date(2026, 7, 3), method="訪問",
            now=jst("2026-07-06", "18:30"), staff_id=staff.id, goal="毎日4時間の作業",
            achievement="概ね達成",
        )  # fmt: skip
    (row,) = await _export(db, fid, "eval-sheet", fmt)
    assert (row["記録日時"], row["記録者"], row["記録"]) == (
        "2026-07-06 18:30",
        "鈴木 一郎",
        "事後記録",
    )
