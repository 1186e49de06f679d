"""What the rich menu's buttons do in the pure dialog: 開始 at any time (fresh, resumed, or
already done), 今日の記録 with the way on to 今月の記録, and 今月の記録 itself."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

from bot.core import dialog, texts
from bot.core.domain import (
    CheckInCompleted,
    DialogState,
    FieldRecorded,
    ReportField,
    ReportSnapshot,
    ReportStatus,
    WorkedDay,
)
from tests.unit.test_dialog import DAY, Conversation, at, facts, said


def _on(day: date, hhmm: str) -> datetime:
    return at(hhmm) + (day - DAY)


def test_start_again_mid_way_resumes_with_the_question_that_waits() -> None:
    c = Conversation()
    c.send("10:00", choice="start")
    c.send("10:00", choice="health:4")
    assert c.state.step == "sleep"
    r = c.send("10:05", choice="start")  # the menu's 開始, the sleep question unanswered
    assert [x.text for x in r.replies] == [
        texts.START_RESUMED.format(time="10:00"),
        texts.ASK_SLEEP,
    ]
    assert r.replies[-1].choices == texts.SLEEP_CHOICES  # fresh buttons
    assert not [e for e in r.events if isinstance(e, FieldRecorded)]  # the start time stays
    c.send("10:06", choice="sleep:7")
    done = c.send("10:06", choice="task:0")
    assert [e for e in c.events if isinstance(e, CheckInCompleted)] == [
        CheckInCompleted(dialog.Phase.START, at("10:06"))
    ]
    assert done.replies[-1].text == texts.STARTED.format(time="10:00")


def test_start_after_the_flow_expired_resumes_too() -> None:
    c = Conversation()
    c.send("10:00", choice="start")
    r = c.send("13:00", choice="start")
    assert [x.text for x in r.replies] == [
        texts.EXPIRED,
        texts.START_RESUMED.format(time="10:00"),
        texts.ASK_HEALTH,
    ]
    assert r.replies[-1].choices == texts.HEALTH_CHOICES


def test_start_when_the_start_report_is_done_offers_the_end() -> None:
    started = ReportSnapshot(
        business_date=DAY,
        status=ReportStatus.STARTED,
        start_at=at("10:00"),
        health_start=4,
        sleep_hours=7.0,
        planned_work="データ入力",
    )
    r = dialog.step(DialogState(), said("11:00", choice="start"), facts(started))
    assert [x.text for x in r.replies] == [texts.ALREADY_STARTED.format(time="10:00")]
    assert "「終了します」" in texts.ALREADY_STARTED
    assert texts.END in r.replies[-1].choices
    assert not r.events and r.state.idle


def test_start_after_the_end_says_the_end_is_recorded() -> None:
    ended = ReportSnapshot(
        business_date=DAY,
        status=ReportStatus.ENDED,
        start_at=at("10:00"),
        planned_work="データ入力",
        end_at=at("15:00"),
        outputs="入力120件",
    )
    r = dialog.step(DialogState(), said("15:30", choice="start"), facts(ended))
    assert [x.text for x in r.replies] == [texts.ALREADY_ENDED.format(time="15:00")]
    assert texts.SUMMARY in r.replies[-1].choices


def test_todays_record_offers_the_month() -> None:
    ended = ReportSnapshot(
        business_date=DAY,
        status=ReportStatus.ENDED,
        start_at=at("10:00"),
        health_start=4,
        planned_work="データ入力",
        end_at=at("14:45"),
        outputs="入力120件",
    )
    r = dialog.step(DialogState(), said("15:30", choice="summary"), facts(ended))
    (reply,) = r.replies
    assert reply.card is not None
    rows = dict(reply.card.rows)
    assert rows["開始時刻"] == "10:00" and rows["終了時刻"] == "14:45"
    assert rows["成果"] == "入力120件" and rows[texts.WORKED_LABEL] == "4時間45分"
    assert reply.choices[-1] == texts.MONTH
    assert len(set(reply.choices)) == len(reply.choices)


def test_the_month_lists_the_days_worked_and_says_nothing_judging() -> None:
    earlier = (
        WorkedDay(date(2026, 7, 1), at("10:00"), at("15:00")),
        WorkedDay(date(2026, 7, 2), _on(date(2026, 7, 2), "09:30")),
    )
    today = date(2026, 7, 3)
    report = ReportSnapshot(
        business_date=today, status=ReportStatus.STARTED, start_at=_on(today, "10:10")
    )
    f = facts(report, business_date=today, month_days=earlier)
    for msg in (said("11:00", choice="month"), said("11:00", "今月の記録")):
        (reply,) = dialog.step(DialogState(), replace(msg, sent_at=_on(today, "11:00")), f).replies
        assert reply.text == texts.MEMBER_MONTH_DAYS.format(month=7, days=3)
        assert reply.card is not None and reply.card.title == "7月の記録"
        assert reply.card.rows == (
            ("7/1(水)", "10:00〜15:00(5時間0分)"),
            ("7/2(木)", "09:30〜"),
            ("7/3(金)", "10:10〜"),
        )
        assert texts.SUMMARY in reply.choices and texts.END in reply.choices
    for word in ("先月", "より", "少な", "多い", "目標", "平均"):  # no comparison, no target
        assert word not in texts.MEMBER_MONTH_DAYS + texts.MEMBER_MONTH_NONE


def test_the_month_before_any_work() -> None:
    r = dialog.step(DialogState(), said("09:00", choice="month"), facts())
    assert [x.text for x in r.replies] == [texts.MEMBER_MONTH_NONE.format(month=7)]
    assert r.replies[0].choices[0] == texts.START


def test_the_month_inside_a_flow_leaves_it_and_keeps_what_was_said() -> None:
    c = Conversation()
    c.send("10:00", choice="start")
    r = c.send("10:01", choice="month")
    assert r.replies[-1].text == texts.MEMBER_MONTH_DAYS.format(month=7, days=1)
    assert c.state.idle and c.facts.report.start_at == at("10:00")
    assert c.facts.report.value(ReportField.START_AT) == at("10:00")
