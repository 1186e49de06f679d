"""The day as it happened, in the pure core (issue #16 §2, §4): status from a report's fields,
what kind of day a date is, the end ladder for half-finished ends, and the dialog's questions.

R2 (東大阪市, domain/002 イ): 「作業開始時における開始時間と作業内容の確認、作業終了時における終了
時間と成果内容の確認は必ず行い支援記録を作成すること」.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest

from bot.core import dialog, policy, texts
from bot.core.domain import (
    CheckInCompleted,
    ContactRef,
    DayKind,
    DayMode,
    DayModeChosen,
    DialogEvent,
    DialogState,
    EntryFlagCleared,
    EntryFlagged,
    Facts,
    FieldRecorded,
    InboundMessage,
    Phase,
    Platform,
    ReportField,
    ReportSnapshot,
    ReportStatus,
    StepResult,
    UnplannedDayReported,
    report_status,
)
from bot.core.policy import MemberDay

DAY = date(2026, 7, 1)  # a Wednesday
ME = ContactRef(Platform.CONSOLE, "u1")


def at(hhmm: str) -> datetime:
    h, m = map(int, hhmm.split(":"))
    return datetime(2026, 7, 1, h, m, tzinfo=UTC) - timedelta(hours=9)


T = at("15:00")


# --- status from the fields -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "start", "end", "outputs", "expected"),
    [
        (ReportStatus.OPEN, None, None, None, ReportStatus.OPEN),
        (ReportStatus.ABSENT, None, None, None, ReportStatus.ABSENT),
        (ReportStatus.OPEN, T, None, None, ReportStatus.STARTED),
        (ReportStatus.ABSENT, T, None, None, ReportStatus.STARTED),  # came after all
        (ReportStatus.STARTED, T, T, None, ReportStatus.ENDING),  # 終了報告の途中
        (ReportStatus.STARTED, T, T, "  ", ReportStatus.ENDING),
        (ReportStatus.STARTED, T, T, "入力120件", ReportStatus.ENDED),
        (ReportStatus.ENDED, T, None, "入力120件", ReportStatus.STARTED),  # end time removed
        (ReportStatus.OPEN, None, T, "封入200枚", ReportStatus.ENDED),  # an end without start
        (ReportStatus.STARTED, None, None, None, ReportStatus.OPEN),  # start removed by staff
    ],
)
def test_status_follows_the_fields(
    current: ReportStatus,
    start: datetime | None,
    end: datetime | None,
    outputs: str | None,
    expected: ReportStatus,
) -> None:
    assert report_status(current, start_at=start, end_at=end, outputs=outputs) is expected


# --- what kind of day ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plan", "kw", "expected"),
    [
        (DayMode.ZAITAKU, {}, DayKind.PLANNED),
        (DayMode.TSUSHO, {}, DayKind.TSUSHO),
        (DayMode.OFF, {}, DayKind.UNPLANNED),
        (DayMode.ZAITAKU, {"holiday": True}, DayKind.UNPLANNED),
        (DayMode.ZAITAKU, {"closed": True}, DayKind.UNPLANNED),
        (DayMode.ZAITAKU, {"holiday": True, "from_exception": True}, DayKind.PLANNED),
        (DayMode.TSUSHO, {"closed": True}, DayKind.UNPLANNED),
        (DayMode.TSUSHO, {"settled": True}, DayKind.PLANNED),  # answered already
        (DayMode.TSUSHO, {"day_flag": "tsusho_day_at_home"}, DayKind.PLANNED),
        (DayMode.ZAITAKU, {"day_flag": "unplanned"}, DayKind.UNPLANNED),
        (DayMode.OFF, {"day_flag": "unplanned", "settled": True}, DayKind.PLANNED),  # staff said
    ],
)
def test_day_kind(plan: DayMode, kw: dict[str, object], expected: DayKind) -> None:
    assert policy.day_kind(plan, **kw) is expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "plan", "opens"),
    [
        (DayKind.PLANNED, DayMode.ZAITAKU, DayMode.ZAITAKU),
        (DayKind.TSUSHO, DayMode.TSUSHO, DayMode.TSUSHO),
        (DayKind.UNPLANNED, DayMode.OFF, DayMode.OFF),
        (DayKind.UNPLANNED, DayMode.ZAITAKU, DayMode.OFF),  # a holiday: not made a 在宅 day
    ],
)
def test_an_unplanned_day_opens_as_off(kind: DayKind, plan: DayMode, opens: DayMode) -> None:
    assert policy.opening_mode(kind, plan) is opens


# --- the end ladder for a half-finished end -------------------------------------------------


def _day(**kw: object) -> MemberDay:
    base = MemberDay(
        member_id=7,
        facility_id=1,
        business_date=DAY,
        tz_offset_minutes=540,
        mode=DayMode.ZAITAKU,
        planned_start=time(10, 0),
        planned_end=time(15, 0),
        start_at=at("10:00"),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def _keys(day: MemberDay, hhmm: str) -> list[str]:
    return [a.key for a in policy.member_actions(day, at(hhmm))]


@pytest.mark.parametrize(
    ("status", "hhmm", "expected"),
    [
        (ReportStatus.ENDING, "15:00", ["remind:end:7:2026-07-01:1"]),
        (ReportStatus.STARTED, "15:00", ["remind:end:7:2026-07-01:1"]),
        (ReportStatus.ENDED, "15:00", []),
        (ReportStatus.ENDING, "16:00", ["alert:missed-end:7:2026-07-01:staff"]),  # stale reminder
        (ReportStatus.ENDED, "16:00", []),
    ],
)
def test_an_end_without_outputs_is_chased_like_no_end(
    status: ReportStatus, hhmm: str, expected: list[str]
) -> None:
    assert _keys(_day(status=status, end_at=at("14:50")), hhmm) == expected


def test_no_reminder_interrupts_a_member_who_is_answering() -> None:
    day = _day(status=ReportStatus.ENDING, answering=True)
    assert _keys(day, "15:00") == []
    assert _keys(day, "16:00") == ["alert:missed-end:7:2026-07-01:staff"]  # staff still hear


def test_only_a_complete_end_resolves_the_missed_end_alert() -> None:
    alert = frozenset({policy.MissedKind.END})
    assert _keys(_day(status=ReportStatus.ENDING, open_alerts=alert), "16:30") == [
        "alert:missed-end:7:2026-07-01:staff"
    ]
    assert _keys(_day(status=ReportStatus.ENDED, open_alerts=alert), "16:30") == [
        "resolve:missed-end:7:2026-07-01"
    ]


def test_a_day_recorded_as_zaitaku_is_checked_even_on_a_holiday() -> None:
    holiday = date(2026, 7, 20)  # 海の日
    day = _day(business_date=holiday, status=ReportStatus.STARTED)
    noon = policy.local_moment(holiday, time(15, 0), 540)
    assert list(policy.member_actions(day, noon)) == []
    assert [a.key for a in policy.member_actions(replace(day, recorded_zaitaku=True), noon)] == [
        "remind:end:7:2026-07-20:1"
    ]


# --- the dialog ----------------------------------------------------------------------------


def facts(report: ReportSnapshot | None = None, **kw: object) -> Facts:
    base = Facts(
        member_name="山田 太郎",
        business_date=DAY,
        report=report or ReportSnapshot(business_date=DAY),
        usual_tasks=("データ入力", "封入作業"),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


class Talk:
    """Feeds messages through `step`, applying events to the facts as the service does."""

    def __init__(self, f: Facts) -> None:
        self.facts, self.state = f, DialogState()
        self.events: list[DialogEvent] = []

    def send(self, hhmm: str, text: str = "", choice: str | None = None) -> StepResult:
        msg = InboundMessage("e", ME, at(hhmm), text=text, choice=choice)
        result = dialog.step(self.state, msg, self.facts)
        self.state = result.state
        self.events.extend(result.events)
        r = self.facts.report
        kind = self.facts.day_kind
        for e in result.events:
            if isinstance(e, FieldRecorded):
                r = r.with_value(e.field, e.value)
            if isinstance(e, DayModeChosen):
                kind = DayKind.PLANNED  # the service keeps the answer as a `mode` revision
        status = report_status(r.status, start_at=r.start_at, end_at=r.end_at, outputs=r.outputs)
        self.facts = replace(self.facts, report=replace(r, status=status), day_kind=kind)
        return result

    def of(self, kind: type) -> list[DialogEvent]:
        return [e for e in self.events if isinstance(e, kind)]


def texts_of(result: StepResult) -> list[str]:
    return [r.text for r in result.replies]


STARTED = ReportSnapshot(
    business_date=DAY,
    status=ReportStatus.STARTED,
    start_at=at("10:00"),
    health_start=4,
    sleep_hours=7.0,
    planned_work="データ入力",
)
ENDING = replace(STARTED, status=ReportStatus.ENDING, end_at=at("14:50"), work_done="データ入力")


def test_an_ending_day_offers_to_finish_and_resumes_where_it_stopped() -> None:
    assert dialog.menu_for(ENDING) == (texts.END_RESUME, texts.FIX, texts.CONSULT)
    talk = Talk(facts(ENDING))
    r = talk.send("16:05", choice="end")
    assert texts_of(r) == ["14:50の終了報告のつづきですね。", texts.ASK_OUTPUTS]
    assert talk.of(FieldRecorded) == []  # the end time stays as it was
    r = talk.send("16:06", "入力120件")
    assert talk.of(CheckInCompleted) == [CheckInCompleted(Phase.END, at("16:06"))]
    assert texts_of(r) == [texts.ASK_HEALTH_END]
    talk.send("16:06", choice="health:3")
    r = talk.send("16:07", choice="none")
    assert r.state.idle and r.replies[-1].text == texts.ENDED.format(time="14:50")
    assert len(talk.of(CheckInCompleted)) == 1


def test_a_one_line_end_completes_an_ending_day_at_once() -> None:
    talk = Talk(facts(ENDING))
    r = talk.send("16:05", "終了 入力120件 体調3")
    assert talk.of(CheckInCompleted) == [CheckInCompleted(Phase.END, at("16:05"))]
    assert r.state.idle and talk.facts.report.status is ReportStatus.ENDED


def test_an_ended_day_is_not_reopened() -> None:
    ended = replace(ENDING, status=ReportStatus.ENDED, outputs="入力120件")
    r = Talk(facts(ended)).send("16:05", "終了")
    assert texts_of(r) == [texts.ALREADY_ENDED.format(time="14:50")]


def test_the_end_check_is_recorded_when_the_outputs_come_not_before() -> None:
    talk = Talk(facts(STARTED))
    talk.send("15:00", choice="end")
    talk.send("15:00", choice="same_as_plan")
    assert talk.of(CheckInCompleted) == []
    assert talk.facts.report.status is ReportStatus.ENDING
    talk.send("15:01", "入力120件")
    assert talk.of(CheckInCompleted) == [CheckInCompleted(Phase.END, at("15:01"))]


def test_a_nudge_left_unanswered_still_counts_the_check_and_flags_the_entry() -> None:
    talk = Talk(facts(STARTED))
    talk.send("15:00", choice="end")
    talk.send("15:00", choice="same_as_plan")
    r = talk.send("15:01", "特になし")
    assert texts_of(r) == [texts.ASK_DETAIL]
    assert talk.of(EntryFlagged) == [EntryFlagged(ReportField.OUTPUTS, "vague")]
    assert talk.of(CheckInCompleted) == [CheckInCompleted(Phase.END, at("15:01"))]


@pytest.mark.parametrize(
    ("line", "field", "step"),
    [
        ("開始 体調4 睡眠7 特になし", ReportField.PLANNED_WORK, "plan"),
        ("終了 特になし 体調3", ReportField.OUTPUTS, "outputs"),
        ("終了 いろいろ", ReportField.OUTPUTS, "outputs"),
    ],
)
def test_one_line_reports_get_the_same_single_nudge(
    line: str, field: ReportField, step: str
) -> None:
    start = line.startswith("開始")
    talk = Talk(facts(None if start else STARTED))
    r = talk.send("15:00", line)
    assert texts_of(r)[-1] == texts.ASK_DETAIL
    assert talk.state.step == step and talk.of(EntryFlagged) == [EntryFlagged(field, "vague")]
    r = talk.send("15:01", "宛名シール貼り 150枚")
    assert talk.of(EntryFlagCleared) == [EntryFlagCleared(field)]
    assert texts.ASK_DETAIL not in texts_of(r)


def test_a_nudged_one_line_start_still_asks_what_it_left_out() -> None:
    talk = Talk(facts())
    talk.send("10:00", "開始 特になし")
    # Start time and work content were both said: the contact is made, and kept, at once.
    assert talk.of(CheckInCompleted) == [CheckInCompleted(Phase.START, at("10:00"))]
    r = talk.send("10:01", "データ入力 顧客名簿")
    assert texts_of(r) == [texts.ASK_HEALTH]
    talk.send("10:01", choice="health:4")
    r = talk.send("10:02", choice="sleep:7")
    assert r.state.idle and len(talk.of(CheckInCompleted)) == 1


@pytest.mark.parametrize(
    ("previous", "said", "nudged"),
    [
        (ReportSnapshot(DAY - timedelta(days=1), outputs="入力100件"), "入力100件", True),
        (ReportSnapshot(DAY - timedelta(days=1), outputs="入力100件"), "入力１００件", True),
        (ReportSnapshot(DAY - timedelta(days=1), outputs="入力100件"), "入力80件", False),
        (ReportSnapshot(DAY - timedelta(days=1), work_done="入力120件"), "入力120件", False),
    ],
)
def test_repeated_outputs_are_a_copy(previous: ReportSnapshot, said: str, nudged: bool) -> None:
    talk = Talk(facts(STARTED, previous_report=previous))
    talk.send("15:00", choice="end")
    talk.send("15:00", choice="same_as_plan")
    assert (texts_of(talk.send("15:01", said)) == [texts.ASK_DETAIL_SAME]) is nudged


def test_the_same_work_as_yesterday_is_a_routine_task_not_a_copy() -> None:
    yesterday = ReportSnapshot(DAY - timedelta(days=1), work_done="封入作業", outputs="封入200枚")
    talk = Talk(facts(STARTED, previous_report=yesterday))
    talk.send("15:00", choice="end")
    r = talk.send("15:00", "封入作業")
    assert texts_of(r) == [texts.ASK_OUTPUTS] and talk.of(EntryFlagged) == []


def test_a_report_on_an_unplanned_day_is_recorded_and_noticed_once() -> None:
    talk = Talk(facts(day_kind=DayKind.UNPLANNED))
    r = talk.send("10:00", "開始 体調4 睡眠7 データ入力")
    assert texts_of(r)[0] == texts.UNPLANNED_DAY_ACK
    assert talk.of(UnplannedDayReported) == [UnplannedDayReported(at("10:00"))]
    assert talk.facts.report.planned_work == "データ入力"  # everything said is kept
    talk.send("15:00", "終了 入力120件 体調3")
    assert len(talk.of(UnplannedDayReported)) == 1


def test_a_planned_tsusho_day_asks_where_first_and_goes_on() -> None:
    talk = Talk(facts(day_kind=DayKind.TSUSHO))
    r = talk.send("09:58", choice="start")
    assert texts_of(r) == [texts.ASK_WHERE] and r.replies[0].choices == texts.WHERE_CHOICES
    r = talk.send("09:59", "わかりません")
    assert texts_of(r) == [texts.RETRY_WHERE]
    r = talk.send("09:59", choice="where:zaitaku")
    assert talk.of(DayModeChosen) == [DayModeChosen(DayMode.ZAITAKU, at("09:59"))]
    assert texts_of(r) == [texts.WHERE_HOME_ACK, texts.ASK_HEALTH]


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        ("在宅です", DayMode.ZAITAKU),
        ("今日は家でやります", DayMode.ZAITAKU),
        ("きょうは在宅で作業します", DayMode.ZAITAKU),
        ("事業所に行きます", DayMode.TSUSHO),
        ("通所します", DayMode.TSUSHO),
        ("在宅か通所か迷っています", None),  # both: asked again with the buttons
    ],
)
def test_where_in_words(text: str, mode: DayMode | None) -> None:
    talk = Talk(facts(day_kind=DayKind.TSUSHO))
    talk.send("09:58", choice="start")
    talk.send("09:59", text)
    assert [e.mode for e in talk.of(DayModeChosen)] == ([mode] if mode else [])  # type: ignore[attr-defined]


def test_a_where_button_tapped_after_the_flow_is_still_recorded() -> None:
    r = Talk(facts(STARTED, day_kind=DayKind.TSUSHO)).send("10:30", choice="where:tsusho")
    assert texts_of(r) == [texts.WHERE_TSUSHO_ACK, texts.MENU_PROMPT]
    assert Talk(facts(STARTED)).send("10:30", choice="where:tsusho").replies[0].text == (
        texts.UNKNOWN
    )
