"""An inspection of July 2026 under each rule profile: the findings an officer would write.

One facility per profile, the same eight members, written through the real use cases (the
check-in chat, `records.log_contact`, `records.record_evaluation`,
`records.create_report_from_contact`) and, where the check-in service's own rows are meant,
as it leaves them (a 日報 with its start/end 支援記録; H4's day classification in
`daily_report.flags["day"]`). Each member's municipality is the profile's city, so the city's
rules apply. July 2026 starts on a Wednesday; its weeks start Jun 29, Jul 6, 13, 20, 27.

- 青木 (on time): 在宅 Jul 6–7 through the chat, a staff call and a video call each day, 通所
  Jul 10 with a weekly evaluation whose 評価シート is complete (it stands for the monthly one).
- 坂本 (late): 在宅 Jul 13 with the start check only; staff phoned at 15:00 but wrote it down
  on Jul 16 (事後記録); the week's phone evaluation (Jul 15) was entered on Jul 20; 通所 Jul 17,
  the monthly evaluation by 通所 on Jul 24.
- 千葉 (absent, incomplete sheet): 在宅 Jul 20, absent Jul 21, 通所 Jul 23; the monthly visit
  on Jul 24 leaves 改善方針 and 在宅就労継続の妥当性 blank. No 日立市 届出 recorded.
- 土屋 (the plan not kept): reported on Saturday Jul 25 (unplanned), 在宅 Jul 27, 在宅 on the
  planned 通所 day Jul 29; weekly evaluation by phone Jul 30, monthly by 通所 Jul 31.
- 江口 (copied outputs, a day only staff reached; voice contact hard): Jul 1's 成果 is Jun 30's
  word for word; on Jul 2 only staff reached him (two calls; the 日報 made from the second);
  通所 Jul 3 with a complete weekly evaluation. 日立市 accepted the 届出 on Jul 2.
- 藤田 (over the day cap): 通所 every weekday and 在宅 on Saturday Jul 4: 24 > 31 − 8.
- 後藤: the same 24 days, with a notified exception to 原則の日数.
- 原田 (expired approval): a three-month approval Apr 20 – Jul 19; 在宅 Jul 14 and Jul 21.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.main import app
from bot.core.compliance import Code, Finding
from bot.queries import compliance_report, exports
from bot.services import admin, records
from bot.services.records import Confirmed
from storage.db import Database
from storage.models import DailyReport, Facility, Member, SupportRecord
from tests.records.scenario import sheet
from tests.support import Chat, jst, make_facility, make_member
from tests.support import run_cli as run

C = Code
JULY = date(2026, 7, 1)
T0 = jst("2026-06-01", "09:00")
CITY = {"national": "東京都新宿区", "higashiosaka": "東大阪市", "hitachi": "日立市",
        "sapporo": "札幌市"}  # fmt: skip
EXCEPTION = "市に届け出た例外(2026-06-25 受理): 月25日まで"
PROFILES = ["national", "higashiosaka", "hitachi", "sapporo"]


def d(day: int, month: int = 7) -> date:
    return date(2026, month, day)


def t(day: date, hhmm: str) -> datetime:
    return jst(day.isoformat(), hhmm)


def fails(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 2, result.output
    return result.output


WEEKDAYS = [d(x) for x in range(1, 32) if d(x).weekday() < 5]  # 23 in July 2026


class Month:
    """Writes one facility's month; every record says when it was entered (`now`)."""

    def __init__(self, db: Database, profile: str) -> None:
        self.db, self.profile, self.chat = db, profile, Chat(db)
        self.ids: dict[str, int] = {}

    async def setup(self) -> None:
        self.fid = await make_facility(
            self.db, T0, name=f"ひまわり({self.profile})", profile=self.profile, capacity=20
        )
        async with self.db.transaction() as s:
            f = await s.get_one(Facility, self.fid)
            f.office_no = "2712345678"
            staff = await admin.add_staff(
                s, f, name="鈴木 一郎", slack_user=f"U-{self.profile}", role="staff", now=T0
            )
            self.staff = staff.id

    async def member(
        self,
        key: str,
        name: str,
        *,
        approval: tuple[date, date, str] = (date(2026, 4, 1), date(2027, 3, 31), "year"),
        accepted: date | None = date(2026, 6, 1),
        **extra: object,
    ) -> int:
        mid = await make_member(self.db, self.fid, T0, name, kana=None)
        async with self.db.transaction() as s:
            m = await s.get_one(Member, mid)
            m.municipality, m.recipient_no = CITY[self.profile], f"99{mid:08d}"
            m.approval_from, m.approval_until, m.approval_kind = approval
            m.notice_submitted_on = d(20, 6) if accepted else None
            m.notice_accepted_on = accepted
            for k, v in extra.items():
                setattr(m, k, v)
        self.ids[key] = mid
        return mid

    async def checkin(
        self,
        mid: int,
        day: date,
        *,
        mode: str = "zaitaku",
        end: bool = True,
        outputs: str | None = None,
        flags: dict[str, str] | None = None,
        status: str | None = None,
    ) -> None:
        """A 日報 and its start/end 支援記録 as the check-in service leaves them: each check at
        the moment the member's message came, entered at once."""
        start_at, end_at = t(day, "10:00"), t(day, "15:00")
        async with self.db.transaction() as s:
            report = DailyReport(
                member_id=mid, business_date=day, mode=mode,
                status=status or ("ended" if end else "started"),
                start_at=start_at if status != "absent" else None,
                planned_work="データ入力" if status != "absent" else None,
                end_at=end_at if end else None, work_done="データ入力" if end else None,
                outputs=(outputs or f"{day.month}/{day.day} 入力{80 + day.day}件") if end else None,
                flags=flags or {}, entered_by=f"member:{mid}",
                created_at=start_at, updated_at=end_at if end else start_at,
            )  # fmt: skip
            s.add(report)
            await s.flush()
            if mode != "zaitaku" or status == "absent":
                return
            checks = [("start_check", start_at)] + ([("end_check", end_at)] if end else [])
            for kind, sent in checks:
                s.add(
                    SupportRecord(
                        member_id=mid, business_date=day, at=sent, kind=kind, channel="line",
                        content=f"{kind} {day}", key=f"check:{kind}:{report.id}",
                        entered_at=sent, entered_by=f"member:{mid}",
                    )
                )  # fmt: skip

    async def call(self, mid: int, at: datetime, method: str = "電話", *, now: datetime) -> None:
        async with self.db.transaction() as s:
            text = f"{at:%m/%d %H:%M} 作業の進み具合と体調を{method}で確認"
            await records.log_contact(s, mid, self.staff, method, text, at, now)

    async def calls(self, mid: int, day: date) -> None:
        """Staff reach the member by voice twice (the day's contacts under every profile)."""
        await self.call(mid, t(day, "10:30"), now=t(day, "10:40"))
        await self.call(mid, t(day, "14:30"), "ビデオ", now=t(day, "14:45"))

    async def evaluate(
        self, mid: int, kind: str, day: date, method: str, *, now: datetime | None = None,
        blank: tuple[str, ...] = (),
    ) -> None:  # fmt: skip
        values = {k: (None if k in blank else v) for k, v in sheet(kind, day).items()}
        async with self.db.transaction() as s:
            await records.record_evaluation(
                s, mid, kind=kind, day=day, method=method, now=now or t(day, "16:00"),
                staff_id=self.staff, **values,
            )  # fmt: skip


async def build(db: Database, profile: str) -> Month:
    m = Month(db, profile)
    await m.setup()

    aoki = await m.member("aoki", "青木 葵")
    await m.chat.link("aoki", aoki, t(d(6), "09:00"))
    for day in (d(6), d(7)):
        await m.chat.say("aoki", "開始 体調4 睡眠7 データ入力", t(day, "10:00"))
        await m.calls(aoki, day)
        await m.chat.say("aoki", f"終了 入力{100 + day.day}件 体調3", t(day, "15:00"))
    await m.evaluate(aoki, "weekly", d(10), "通所")

    sakamoto = await m.member("sakamoto", "坂本 咲")
    await m.checkin(sakamoto, d(13), end=False)
    await m.call(sakamoto, t(d(13), "15:00"), now=t(d(16), "09:00"))  # back-dated: 事後記録
    await m.evaluate(sakamoto, "weekly", d(15), "電話", now=t(d(20), "10:00"))
    await m.checkin(sakamoto, d(17), mode="tsusho")
    await m.evaluate(sakamoto, "monthly", d(24), "通所")

    chiba = await m.member("chiba", "千葉 智", accepted=None)
    await m.checkin(chiba, d(20))
    await m.calls(chiba, d(20))
    await m.checkin(chiba, d(21), status="absent")
    await m.checkin(chiba, d(23), mode="tsusho")
    await m.evaluate(chiba, "monthly", d(24), "訪問", blank=("plan", "continuation"))

    tsuchiya = await m.member("tsuchiya", "土屋 司")
    for day, label in ((d(25), "unplanned"), (d(27), None), (d(29), "tsusho_day_at_home")):
        await m.checkin(tsuchiya, day, flags={"day": label} if label else None)
        await m.calls(tsuchiya, day)
    await m.evaluate(tsuchiya, "weekly", d(30), "電話")
    await m.evaluate(tsuchiya, "monthly", d(31), "通所")

    eguchi = await m.member("eguchi", "江口 栄", accepted=d(2), voice_contact_hard=True)
    await m.checkin(eguchi, d(30, 6), outputs="入力100件")
    await m.checkin(eguchi, d(1), outputs="入力100件", flags={"outputs": "same_as_previous_day"})
    await m.call(eguchi, t(d(2), "10:10"), now=t(d(2), "10:15"))
    async with db.transaction() as s:
        await records.create_report_from_contact(
            s, eguchi, m.staff, day=d(2), method="電話", text="電話で作業の終わりと成果を確認",
            at=t(d(2), "15:10"), now=t(d(2), "15:20"),
            confirmed=Confirmed(time(10), time(15), work="データ入力", outputs="入力90件"),
        )  # fmt: skip
    await m.evaluate(eguchi, "weekly", d(3), "通所")

    for key, name, extra in (
        ("fujita", "藤田 文", {}),
        ("goto", "後藤 豪", {"days_exception": EXCEPTION}),
    ):
        mid = await m.member(key, name, **extra)  # type: ignore[arg-type]
        for day in WEEKDAYS:
            await m.checkin(mid, day, mode="tsusho")
        await m.checkin(mid, d(4))
        await m.calls(mid, d(4))
        await m.evaluate(mid, "weekly", d(3), "通所")

    harada = await m.member("harada", "原田 遥", approval=(d(20, 4), d(19), "three_months"))
    for day in (d(14), d(21)):
        await m.checkin(harada, day)
        await m.calls(harada, day)
    for day in (d(17), d(24)):
        await m.checkin(harada, day, mode="tsusho")
    await m.evaluate(harada, "weekly", d(16), "電話")
    await m.evaluate(harada, "monthly", d(22), "訪問")
    return m


# What an officer writes, whatever the city.
EVERYWHERE = {
    ("sakamoto", C.WEEKLY_EVALUATION_LATE, d(13)),  # the week's only evaluation came later
    ("chiba", C.SHEET_INCOMPLETE, d(24)),
    ("tsuchiya", C.UNPLANNED_DAY, d(25)),
    ("eguchi", C.FLAGGED_ENTRY, d(1)),
    ("fujita", C.TOO_MANY_DAYS, d(1)),
    ("harada", C.OUTSIDE_APPROVAL, d(21)),
}
LATE_CALL = ("sakamoto", C.CONFIRMED_LATE, d(13))  # two contacts only with the 事後記録
EXPECTED = {
    "national": EVERYWHERE | {LATE_CALL},
    "higashiosaka": EVERYWHERE
    | {
        LATE_CALL,
        ("sakamoto", C.END_CHECK_MISSING, d(13)),  # 002 イ: 終了時間と成果内容の確認
        ("tsuchiya", C.TSUSHO_DAY_AT_HOME, d(29)),  # 002 エ: 計画的に利用すること
    },
    "hitachi": EVERYWHERE
    | {
        LATE_CALL,
        ("eguchi", C.NOT_BILLABLE, d(1)),  # 003 1: before the 届出 was accepted
        ("chiba", C.NOTICE_UNKNOWN, d(1)),
    },
    # Sapporo: 坂本's start check is LINE text, so the late call is the day's only contact.
    "sapporo": EVERYWHERE | {("sakamoto", C.CONTACTS_MISSING, d(13))},
}


def named(m: Month, findings: tuple[Finding, ...]) -> set[tuple[str | None, Code, date | None]]:
    keys = {v: k for k, v in m.ids.items()}
    return {(keys.get(f.member_id or 0), f.code, f.day) for f in findings}


@pytest.mark.parametrize("profile", PROFILES)
async def test_an_inspection_finds_exactly_what_an_officer_would(
    db: Database, profile: str
) -> None:
    m = await build(db, profile)
    async with db.transaction() as s:
        view = await compliance_report.month_view(s, await s.get_one(Facility, m.fid), JULY)
    assert named(m, view.all_findings) == EXPECTED[profile]
    assert len(view.all_findings) == len(EXPECTED[profile])  # nothing twice

    by = {k: next(x for x in view.members if x.member_id == v) for k, v in m.ids.items()}
    # the day only staff reached counts by its two calls, under every profile
    assert d(2) in by["eguchi"].confirmed_days
    assert by["sakamoto"].confirmed_days == ()  # a late record never confirms silently
    assert by["sakamoto"].confirmed_late_days == ((d(13),) if profile != "sapporo" else ())
    assert by["sakamoto"].weeks[2].late_evaluation == d(15)
    assert by["tsuchiya"].unplanned_days == (d(25),)
    assert by["tsuchiya"].zaitaku_days == (d(27), d(29))
    assert (by["fujita"].days_used, by["fujita"].max_days) == (24, 23)
    assert (by["goto"].days_used, by["goto"].max_days, by["goto"].days_exception) == (
        24,
        None,
        EXCEPTION,
    )
    assert by["chiba"].monthly_sheet_missing == ("plan", "continuation")
    assert by["aoki"].ok and by["aoki"].monthly_evaluation == d(10)
    assert all(x.rules == profile for x in view.members)  # the city's members, in force


async def test_the_month_as_nippo_month_shows_it(db: Database) -> None:
    m = await build(db, "higashiosaka")
    async with db.transaction() as s:
        f = await s.get_one(Facility, m.fid)
        text = compliance_report.render_month(await compliance_report.month_view(s, f, JULY))
    assert text.splitlines() == [
        "2026年7月の記録の確認(東大阪市)",
        "在宅利用者 8人 / 定員 20人(上限 10人)",
        "- 青木 葵: 在宅 2日(連絡2回確認済み 2日)、通所 1日、利用 3日/23、週の評価 1/1週、"
        "月の評価 7/10",
        "- 坂本 咲: 在宅 1日(連絡2回確認済み 0日、事後記録でそろった日 1日)、通所 2日、"
        "利用 3日/23、週の評価 0/1週、月の評価 7/24",
        "    7/13 1日2回の連絡は事後記録を含めてそろっています(当日中の記録ではありません)",
        "    7/13 作業終了時の確認(終了時間と成果)の支援記録がありません",
        "    7/13からの週の評価は事後記録です(当日中の記録ではありません)",
        "- 千葉 智: 在宅 1日(連絡2回確認済み 1日)、通所 1日、利用 2日/23、週の評価 1/1週、"
        "月の評価 7/24(記入もれあり)",
        "    7/24の評価シートに記入のない項目があります: 改善方針、在宅就労継続の妥当性",
        "- 土屋 司: 在宅 2日(連絡2回確認済み 2日)、通所 1日、利用 3日/23、週の評価 1/1週、"
        "月の評価 7/31",
        "    7/29 通所の予定の日を在宅で利用しています(計画にない変更です)",
        "    7/25 予定にない日の報告です。在宅・通所のどちらの利用か、確認をお願いします",
        "- 江口 栄: 在宅 2日(連絡2回確認済み 2日)、通所 1日、利用 3日/23、週の評価 1/1週、"
        "月の評価 7/3",
        "    7/1 確認をおすすめする記録があります: 成果(前日と同じ文面です)",
        "- 藤田 文: 在宅 1日(連絡2回確認済み 1日)、通所 23日、利用 24日/23、週の評価 1/1週、"
        "月の評価 7/3",
        "    利用日数が原則の日数(その月の日数−8日)を超えています(24>23日)",
        "- 後藤 豪: 在宅 1日(連絡2回確認済み 1日)、通所 23日、利用 24日(原則の日数の例外あり)、"
        "週の評価 1/1週、月の評価 7/3",
        f"    原則の日数の例外: {EXCEPTION}",
        "- 原田 遥: 在宅 2日(連絡2回確認済み 2日)、通所 2日、利用 4日/23、週の評価 2/2週、"
        "月の評価 7/22",
        "    7/21 在宅利用の承認期間の外です",
    ]


async def test_the_cities_forms_mark_each_breach(db: Database) -> None:
    """様式在-1 with the facility's name and 事業所番号 and each breach per member; the
    評価シート says which sheet stands for the month's and what it leaves blank."""
    m = await build(db, "higashiosaka")
    async with db.transaction() as s:
        f = await s.get_one(Facility, m.fid)
        _, data = await exports.export(s, f, "zaitaku-list", JULY, fmt="csv", now=T0, actor="t")
        _, sheet_csv = await exports.export(s, f, "eval-sheet", JULY, fmt="csv", now=T0, actor="t")
    rows = {r["氏名"]: r for r in csv.DictReader(io.StringIO(data.decode("utf-8-sig")))}
    assert {r["事業所名"] for r in rows.values()} == {"ひまわり(higashiosaka)"}
    assert {r["事業所番号"] for r in rows.values()} == {"2712345678"}
    assert (
        rows["藤田 文"]["利用日数"],
        rows["藤田 文"]["利用日数の上限"],
        rows["藤田 文"]["上限超過"],
    ) == (
        "24",
        "23",
        "あり",
    )
    assert (rows["後藤 豪"]["上限超過"], rows["後藤 豪"]["原則の日数の例外"]) == ("", EXCEPTION)
    harada = rows["原田 遥"]
    assert (harada["承認の種類"], harada["承認期間外の在宅利用日"]) == (
        "3か月以内(更新不可)",
        "令和8年7月21日",
    )
    assert all(r["通所のない週"] == "" for r in rows.values())
    assert rows["青木 葵"]["上限超過"] == rows["青木 葵"]["承認期間外の在宅利用日"] == ""

    evals = list(csv.DictReader(io.StringIO(sheet_csv.decode("utf-8-sig"))))
    by = {(r["氏名"], r["実施日"]): r for r in evals}
    chiba = by[("千葉 智", "令和8年7月24日")]
    assert (chiba["月の評価を兼ねる"], chiba["記入のない項目"]) == (
        "はい",
        "改善方針、在宅就労継続の妥当性",
    )
    assert (
        by[("青木 葵", "令和8年7月10日")]["月の評価を兼ねる"] == "はい"
    )  # weekly by 通所, complete
    late = by[("坂本 咲", "令和8年7月15日")]
    assert (late["月の評価を兼ねる"], late["記録"]) == ("いいえ", "事後記録")


async def test_a_weekly_evaluation_by_tsusho_with_blanks_does_not_stand_for_the_month(
    db: Database,
) -> None:
    """キ 「オが通所により行われ、あわせてカの評価等も行われた場合」: only a full sheet."""
    m = Month(db, "national")
    await m.setup()
    mid = await m.member("x", "青木 葵")
    await m.checkin(mid, d(6))
    await m.calls(mid, d(6))
    await m.evaluate(mid, "weekly", d(10), "通所", blank=("issues",))
    async with db.transaction() as s:
        view = await compliance_report.month_view(s, await s.get_one(Facility, m.fid), JULY)
    assert named(m, view.all_findings) == {("x", C.MONTHLY_EVALUATION_MISSING, d(1))}
    assert view.members[0].weeks[1].evaluation == d(10)  # still the week's evaluation


def test_the_facts_the_rules_need_are_set_from_the_command_line(cli_env: Path) -> None:
    run("facility", "init", "--name", "ひまわり", "--profile", "higashiosaka")
    assert "office no (事業所番号): 2712345678" in run(
        "facility", "set", "--office-no", "２７１２３４５６７８"
    )
    assert "10-digit" in fails("facility", "set", "--office-no", "27-123")
    run("member", "add", "--name", "原田 遥", "--municipality", "東大阪市")
    out = run("member", "set", "原田", "--approval-from", "2026-04-20", "--approval-until",
              "2026-07-19", "--approval-kind", "three_months")  # fmt: skip
    assert "2026-04-20〜2026-07-19 (3か月以内・更新不可)" in out
    # 「就労継続支援B型 1回3か月以内」「（更新不可。再度利用するためには3か月以上の期間が必要。）」
    longer = fails("member", "set", "原田", "--approval-until", "2026-07-20")
    assert "1回3か月以内" in longer and "2026-07-19までにしてください" in longer
    renewed = fails("member", "set", "原田", "--approval-from", "2026-07-20",
                    "--approval-until", "2026-10-19")  # fmt: skip
    assert "更新不可" in renewed and "2026-10-19より後から" in renewed
    assert "2026-10-20〜2027-10-19 (1年)" in run(
        "member", "set", "原田", "--approval-from", "2026-10-20", "--approval-until",
        "2027-10-19", "--approval-kind", "year",
    )  # fmt: skip
    assert "year か three_months" in fails("member", "set", "原田", "--approval-kind", "month")
    out = run("member", "set", "原田", "--days-exception", EXCEPTION,
              "--notice-submitted", "2026-06-20", "--notice-accepted", "2026-07-02")  # fmt: skip
    assert f"原則の日数の例外: {EXCEPTION}" in out and "提出 2026-06-20 / 受理 2026-07-02" in out
    assert "原則の日数の例外: -" in run("member", "set", "原田", "--no-days-exception")
    assert "提出日" in fails("member", "set", "原田", "--notice-accepted", "2026-06-01")
