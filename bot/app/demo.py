"""The embedded demo: a facility, a few members, a whole day, on SQLite, no credentials.

`run_script` plays a scripted day on a fake clock and prints the transcript and the 日報 rows;
`run_interactive` lets a person chat as a member in the terminal.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from adapters.console import ConsoleSender, pick
from bot.core.calendar import business_date
from bot.core.domain import ContactRef, DayMode, InboundMessage, Platform
from bot.core.ports import OutboxItem, Sender, SendResult
from bot.services import admin, consent, delivery, inbox, ticks
from bot.services.admin import ScheduleSpec
from storage.db import Database
from storage.models import Consent, DailyReport, Member

TOKYO = ZoneInfo("Asia/Tokyo")
DEMO_DAY = date(2026, 7, 1)  # a Wednesday; Higashi-Osaka's rules apply from this day
MEMBERS = (
    ("山田 太郎", "やまだ たろう", ("データ入力", "封入作業")),
    ("佐藤 花子", "さとう はなこ", ("封入作業", "イラスト制作")),
    ("鈴木 一郎", "すずき いちろう", ("検品",)),
    ("田中 美咲", "たなか みさき", ("データ入力",)),
)

# (local time, member index, what they type or the button value they tap)
SCRIPT: tuple[tuple[str, int, str], ...] = (
    ("09:58", 0, "開始 体調4 睡眠7 データ入力"),
    ("10:03", 1, "[start]"),
    ("10:03", 1, "[health:2]"),
    ("10:04", 1, "6時間半"),
    ("10:04", 1, "[task:0]"),
    ("10:10", 2, "今日は休みます"),
    ("11:30", 0, "修正"),
    ("11:30", 0, "[fix:sleep_hours]"),
    ("11:31", 0, "6時間"),
    ("14:55", 0, "終了 入力120件 体調3"),
    ("15:05", 1, "[end]"),
    ("15:05", 1, "[same_as_plan]"),
    ("15:06", 1, "封入200枚"),
    ("15:06", 1, "[health:3]"),
    ("15:07", 1, "[none]"),
    ("10:45", 3, "開始 体調3 睡眠6 データ入力"),
    ("15:20", 3, "終了 入力80件 体調3"),
)
# Scheduler ticks on the fake clock: reminders, a missed-contact alert and its resolution,
# the evening reminder and the staff digest (the real service ticks every minute).
TICKS = ("10:00", "10:15", "10:30", "10:46", "15:00", "16:30")


@dataclass
class Demo:
    db: Database
    facility_id: int
    members: list[tuple[int, str]]  # (member id, console user id)


async def setup(db: Database, now: datetime, *, name: str = "デモ事業所") -> Demo:
    """A demo facility with linked console members on a weekday schedule."""
    async with db.transaction() as session:
        facility = await admin.init_facility(session, name=name, now=now)
        linked = []
        for i, (full, kana, tasks) in enumerate(MEMBERS):
            member = await admin.add_member(
                session, facility, name=full, kana=kana, usual_tasks=tasks, now=now
            )
            spec = ScheduleSpec((0, 1, 2, 3, 4), DayMode.ZAITAKU, time(10, 0), time(15, 0))
            await admin.set_schedule(session, member, spec)
            # the demo's members have given their 同意書 (bot/services/consent.py): details show
            session.add(
                Consent(member_id=member.id, covers=list(consent.COVERS),
                        given_on=business_date(facility.tz, now),
                        entered_at=now, entered_by="demo")
            )  # fmt: skip
            code = await admin.issue_link_code(session, member, now)
            user = f"console-{facility.id}-{i + 1}"
            link = InboundMessage(
                event_id=f"link-{user}",
                sender=ContactRef(Platform.CONSOLE, user),
                sent_at=now,
                text=code,
            )
            await inbox.receive(session, link, now)
            linked.append((member.id, user))
    return Demo(db, facility.id, linked)


def message(user: str, at: datetime, said: str, counter: Iterator[int]) -> InboundMessage:
    """`[value]` taps a button; anything else is typed text."""
    n = next(counter)
    sender = ContactRef(Platform.CONSOLE, user)
    if said.startswith("[") and said.endswith("]"):
        return InboundMessage(f"console-{user}-{n}", sender, at, choice=said[1:-1])
    return InboundMessage(f"console-{user}-{n}", sender, at, text=said)


async def run_script(
    db: Database, write: Callable[[str], None], *, name: str = "デモ事業所"
) -> None:
    start = datetime.combine(DEMO_DAY, time(9, 0), TOKYO).astimezone(UTC)
    demo = await setup(db, start, name=name)
    printer = ConsoleSender(write)
    await _flush_quietly(db, printer, start)  # the linking replies
    counter = itertools.count(1)
    names = {user: MEMBERS[i][0] for i, (_, user) in enumerate(demo.members)}
    pushes = _Pushes(printer, names, write)
    senders: dict[str, Sender] = {"console": pushes, "slack": printer}
    write(f"=== {DEMO_DAY.isoformat()} (水) デモ: {name} ===")
    timeline = sorted(
        [(hhmm, -1, "") for hhmm in TICKS] + list(SCRIPT), key=lambda e: (e[0], e[1] >= 0)
    )
    for hhmm, idx, said in timeline:
        at = datetime.combine(DEMO_DAY, time.fromisoformat(hhmm), TOKYO).astimezone(UTC)
        if idx < 0:
            write(f"{hhmm} (定時チェック)")
            await ticks.tick(db, at)
            await delivery.flush(db, senders, at + timedelta(seconds=1))
            continue
        _, user = demo.members[idx]
        shown = said
        if said.startswith("["):
            labels = {c.value: c.label for c in printer.last_choices.get(user, ())}
            shown = f"[{labels.get(said[1:-1], said[1:-1])}] をタップ"
        write(f"{hhmm} {names[user]}: {shown}")
        async with db.transaction() as session:
            await inbox.receive(session, message(user, at, said, counter), at)
        await delivery.flush(db, senders, at + timedelta(seconds=1))
    write("")
    await print_reports(db, demo, DEMO_DAY, write)


class _Pushes:
    """Shows whom a pushed reminder goes to (replies answer the line just above them)."""

    def __init__(self, inner: ConsoleSender, names: dict[str, str], write: Callable[[str], None]):
        self.inner, self.names, self.write = inner, names, write

    async def send(self, item: OutboxItem, now: datetime) -> SendResult:
        if item.reply_token is None and not item.key.startswith("reply:"):
            self.write(f"{'':>6} → {self.names.get(item.recipient, item.recipient)}さんへ")
        return await self.inner.send(item, now)


async def print_reports(db: Database, demo: Demo, day: date, write: Callable[[str], None]) -> None:
    write(f"=== 日報 {day.isoformat()} ===")
    header = (
        "氏名",
        "状態",
        "開始",
        "体調",
        "睡眠",
        "予定",
        "終了",
        "作業内容",
        "成果",
        "体調(終)",
        "ひとこと",
    )
    write(" | ".join(header))
    async with db.transaction() as session:
        rows = (
            await session.execute(
                select(Member, DailyReport)
                .join(DailyReport, DailyReport.member_id == Member.id, isouter=True)
                .where(Member.facility_id == demo.facility_id)
                .where((DailyReport.business_date == day) | DailyReport.id.is_(None))
                .order_by(Member.id)
            )
        ).all()
    for member, report in rows:
        if report is None:
            write(f"{member.name} | 記録なし")
            continue

        def hm(at: datetime | None) -> str:
            return at.astimezone(TOKYO).strftime("%H:%M") if at else "-"

        cells = (
            member.name,
            report.status,
            hm(report.start_at),
            _s(report.health_start),
            _s(report.sleep_hours),
            _s(report.planned_work),
            hm(report.end_at),
            _s(report.work_done),
            _s(report.outputs),
            _s(report.health_end),
            _s(report.note),
        )
        write(" | ".join(cells))


async def _flush_quietly(db: Database, shown: ConsoleSender, now: datetime) -> None:
    """Deliver without printing, keeping the buttons offered so numbers can pick them."""
    quiet = ConsoleSender(lambda _line: None)
    await delivery.flush(db, {"console": quiet, "slack": quiet}, now)
    shown.last_choices.update(quiet.last_choices)


def _s(v: object) -> str:
    if v is None or v == "":
        return "-"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


async def run_interactive(
    db: Database,
    read: Callable[[str], str],
    write: Callable[[str], None],
    clock: Callable[[], datetime],
    *,
    name: str,
) -> None:
    """Chat as a member; numbers pick the buttons shown. `:who N` switches, `:quit` ends."""
    now = clock()
    demo = await setup(db, now, name=name)
    sender = ConsoleSender(write)
    senders = {"console": sender, "slack": sender}
    await _flush_quietly(db, sender, now)
    counter = itertools.count(1)
    current = 0
    write("Nippo デモです。番号でボタンを選ぶか、文字で答えてください。")
    write(f"  :who 1-{len(MEMBERS)} で利用者を切り替え、:quit で終わります。")
    for i, (full, _, _) in enumerate(MEMBERS, 1):
        write(f"  {i}: {full}")
    while True:
        _, user = demo.members[current]
        try:
            typed = read(f"{MEMBERS[current][0]} > ")
        except (EOFError, KeyboardInterrupt):
            break
        if typed.strip() in (":quit", ":q"):
            break
        if typed.startswith(":who"):
            arg = typed.removeprefix(":who").strip()
            if arg.isdigit() and 1 <= int(arg) <= len(demo.members):
                current = int(arg) - 1
            continue
        at = clock()
        choice = pick(sender.last_choices.get(user, ()), typed)
        sent = message(user, at, f"[{choice}]" if choice else typed, counter)
        async with db.transaction() as session:
            await inbox.receive(session, sent, at)
        await delivery.flush(db, senders, at)
    await print_reports(db, demo, now.astimezone(TOKYO).date(), write)
