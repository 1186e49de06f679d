"""The check-in dialog, step by step, with no database and no mocks."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from bot.core import dialog, texts
from bot.core.domain import (
    AbsenceNoticed,
    CheckInCompleted,
    Concern,
    ConcernKind,
    ConsultRequested,
    ContactRef,
    DialogEvent,
    DialogState,
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
    report_status,
)

DAY = date(2026, 7, 1)
ME = ContactRef(Platform.CONSOLE, "u1")


def at(hhmm: str) -> datetime:
    h, m = map(int, hhmm.split(":"))
    return datetime(2026, 7, 1, h, m, tzinfo=UTC) - timedelta(hours=9)


def facts(report: ReportSnapshot | None = None, **kw: object) -> Facts:
    base = Facts(
        member_name="山田 太郎",
        business_date=DAY,
        report=report or ReportSnapshot(business_date=DAY),
        usual_tasks=("データ入力", "封入作業"),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def said(hhmm: str, text: str = "", choice: str | None = None) -> InboundMessage:
    return InboundMessage("e", ME, at(hhmm), text=text, choice=choice)


def recorded(result: StepResult) -> dict[ReportField, object]:
    return {e.field: e.value for e in result.events if isinstance(e, FieldRecorded)}


def of(kind: type[DialogEvent], result: StepResult) -> list[DialogEvent]:
    return [e for e in result.events if isinstance(e, kind)]


class Conversation:
    """Feeds messages through `step`, applying recorded fields to the facts like the service."""

    def __init__(self, f: Facts | None = None) -> None:
        self.facts = f or facts()
        self.state = DialogState()
        self.events: list[DialogEvent] = []

    def send(self, hhmm: str, text: str = "", choice: str | None = None) -> StepResult:
        result = dialog.step(self.state, said(hhmm, text, choice), self.facts)
        self.state = result.state
        self.events.extend(result.events)
        report = self.facts.report
        for e in result.events:
            if isinstance(e, FieldRecorded):
                report = report.with_value(e.field, e.value)
        status = report_status(
            report.status, start_at=report.start_at, end_at=report.end_at, outputs=report.outputs
        )
        self.facts = replace(self.facts, report=replace(report, status=status))
        return result


def test_one_line_start_records_everything_and_confirms() -> None:
    r = dialog.step(DialogState(), said("10:02", "開始 体調4 睡眠7 データ入力"), facts())
    assert recorded(r) == {
        ReportField.START_AT: at("10:02"),
        ReportField.HEALTH_START: 4,
        ReportField.SLEEP_HOURS: 7.0,
        ReportField.PLANNED_WORK: "データ入力",
    }
    assert of(CheckInCompleted, r) == [CheckInCompleted(Phase.START, at("10:02"))]
    assert r.state.idle
    card = r.replies[-1].card
    # The text says when; the card, in the start colour, does not say it again in its title.
    assert r.replies[-1].text.startswith("10:02 開始を記録しました")
    assert card is not None and card.title == "7/1 の記録" and card.tone.value == "start"
    assert ("作業予定", "データ入力") in card.rows
    assert texts.FIX in r.replies[-1].choices


def test_button_start_asks_one_question_at_a_time() -> None:
    c = Conversation()
    r = c.send("10:00", choice="start")
    assert r.replies[-1].text == texts.ASK_HEALTH
    assert r.replies[-1].choices == texts.HEALTH_CHOICES
    assert c.send("10:01", choice="health:4").replies[-1].text == texts.ASK_SLEEP
    assert c.send("10:01", "6時間半").replies[-1].text == texts.ASK_PLAN
    r = c.send("10:02", choice="task:1")
    assert recorded(r) == {ReportField.PLANNED_WORK: "封入作業"}
    assert of(CheckInCompleted, r) == [CheckInCompleted(Phase.START, at("10:02"))]
    assert c.facts.report.start_at == at("10:00")  # the moment they pressed 開始します
    assert c.facts.report.sleep_hours == 6.5
    assert c.state.idle


def test_stated_past_time_is_the_start_time() -> None:
    r = dialog.step(DialogState(), said("09:47", "9時半に始めました"), facts())
    assert recorded(r)[ReportField.START_AT] == at("09:30")
    assert r.replies[-1].text == texts.ASK_HEALTH


def test_a_start_stated_for_later_that_morning_is_that_start() -> None:
    r = dialog.step(DialogState(), said("10:10", "10時半から始めます 体調4 睡眠7"), facts())
    assert recorded(r)[ReportField.START_AT] == at("10:30")
    assert recorded(r)[ReportField.HEALTH_START] == 4
    assert recorded(r)[ReportField.SLEEP_HOURS] == 7.0


def test_a_future_time_said_in_the_past_tense_is_questioned_not_stored() -> None:
    r = dialog.step(DialogState(), said("09:20", "9時半に始めました"), facts())
    assert recorded(r) == {}
    assert "09:30はまだ先のようです" in r.replies[-1].text
    r2 = dialog.step(r.state, said("09:21", "9時10分"), facts())
    assert recorded(r2) == {ReportField.START_AT: at("09:10")}


def test_a_future_end_time_is_questioned_not_stored() -> None:
    started = ReportSnapshot(business_date=DAY, status=ReportStatus.STARTED, start_at=at("10:00"))
    r = dialog.step(DialogState(), said("14:20", "15時に終わりました"), facts(started))
    assert recorded(r) == {}
    assert "15:00はまだ先のようです" in r.replies[-1].text


def test_impossible_sleep_is_questioned_not_stored() -> None:
    c = Conversation()
    c.send("10:00", choice="start")
    c.send("10:00", choice="health:4")
    r = c.send("10:01", "30時間")
    assert ReportField.SLEEP_HOURS not in recorded(r)
    assert "30時間で合っていますか" in r.replies[-1].text
    assert c.state.step == "sleep"
    assert recorded(c.send("10:01", "7")) == {ReportField.SLEEP_HOURS: 7.0}


def test_unreadable_health_asks_again_with_buttons() -> None:
    c = Conversation()
    c.send("10:00", choice="start")
    r = c.send("10:00", "うーん")
    assert r.replies[-1].text == texts.RETRY_HEALTH
    assert r.replies[-1].choices == texts.HEALTH_CHOICES
    assert c.state.step == "health"


def test_end_flow_prefills_work_from_the_plan_and_asks_a_note() -> None:
    started = ReportSnapshot(
        business_date=DAY,
        status=ReportStatus.STARTED,
        start_at=at("10:00"),
        health_start=4,
        sleep_hours=7.0,
        planned_work="データ入力",
    )
    c = Conversation(facts(started))
    r = c.send("15:00", choice="end")
    assert r.replies[-1].text == texts.ASK_WORK_DONE
    assert r.replies[-1].choices[0].value == "same_as_plan"
    c.send("15:00", choice="same_as_plan")
    # The end check is complete with its outputs (R2) and recorded then, once.
    r = c.send("15:01", "入力120件")
    assert of(CheckInCompleted, r) == [CheckInCompleted(Phase.END, at("15:01"))]
    c.send("15:01", choice="health:3")
    r = c.send("15:02", choice="none")
    assert of(CheckInCompleted, r) == []
    rep = c.facts.report
    assert (rep.end_at, rep.work_done, rep.outputs, rep.health_end) == (
        at("15:00"),
        "データ入力",
        "入力120件",
        3,
    )
    card = r.replies[-1].card
    assert card is not None and card.title == "7/1 の記録" and card.tone.value == "end"
    assert card.rows[:3] == (("開始時刻", "10:00"), ("終了時刻", "15:00"), ("作業時間", "5時間0分"))


def test_typed_none_is_no_note() -> None:
    started = ReportSnapshot(
        business_date=DAY,
        status=ReportStatus.STARTED,
        start_at=at("10:00"),
        planned_work="データ入力",
    )
    c = Conversation(facts(started))
    for text in ("終了", "データ入力の続き", "入力80件", "3"):
        c.send("15:00", text)
    r = c.send("15:01", "なし")
    assert r.state.idle and c.facts.report.note is None
    # The end check was recorded once, when the outputs completed it.
    assert [e for e in c.events if isinstance(e, CheckInCompleted)] == [
        CheckInCompleted(Phase.END, at("15:00"))
    ]


def test_one_line_end_needs_no_more_questions_when_planned() -> None:
    started = ReportSnapshot(
        business_date=DAY,
        status=ReportStatus.STARTED,
        start_at=at("10:00"),
        planned_work="データ入力",
    )
    r = dialog.step(DialogState(), said("14:55", "終了 入力120件 体調3"), facts(started))
    assert recorded(r) == {
        ReportField.END_AT: at("14:55"),
        ReportField.OUTPUTS: "入力120件",
        ReportField.WORK_DONE: "データ入力",
        ReportField.HEALTH_END: 3,
    }
    assert of(CheckInCompleted, r) == [CheckInCompleted(Phase.END, at("14:55"))]


def test_correction_records_a_new_value_marked_as_correction() -> None:
    started = ReportSnapshot(
        business_date=DAY, status=ReportStatus.STARTED, start_at=at("10:00"), sleep_hours=7.0
    )
    c = Conversation(facts(started))
    r = c.send("11:00", "修正")
    assert r.replies[-1].text == texts.ASK_FIX_FIELD
    assert {ch.value for ch in r.replies[-1].choices} >= {"fix:start_at", "fix:sleep_hours"}
    r = c.send("11:00", choice="fix:sleep_hours")
    assert r.replies[-1].text == texts.ASK_FIX_VALUE.format(label="睡眠")
    r = c.send("11:01", "6時間")
    assert [e for e in r.events if isinstance(e, FieldRecorded)] == [
        FieldRecorded(ReportField.SLEEP_HOURS, 6.0, correction=True)
    ]
    assert r.replies[-1].text == "睡眠を「6時間」に直しました。"
    assert c.state.idle


def test_correction_with_nothing_recorded_says_so() -> None:
    r = dialog.step(DialogState(), said("09:00", "修正"), facts())
    assert r.replies[-1].text == texts.NOTHING_TO_FIX
    assert r.state.idle and not r.events


def test_absence_is_noticed_kindly() -> None:
    r = dialog.step(DialogState(), said("09:30", "今日は休みます"), facts())
    assert of(AbsenceNoticed, r) == [AbsenceNoticed(at("09:30"), "今日は休みます")]
    assert r.replies[-1].text == texts.ABSENCE


def test_consult_reaches_staff_even_in_the_middle_of_a_flow() -> None:
    c = Conversation()
    c.send("10:00", choice="start")
    r = c.send("10:00", "相談したい")
    assert len(of(ConsultRequested, r)) == 1
    assert [e.kind for e in of(Concern, r)] == [ConcernKind.CONSULT]  # type: ignore[attr-defined]
    assert r.replies[0].text == texts.CONSULT_ACK
    assert r.replies[-1].text == texts.ASK_HEALTH  # and the question is still there
    assert c.state.step == "health"


def test_keyword_inside_an_answer_is_an_answer() -> None:
    c = Conversation()
    c.send("10:00", choice="start")
    c.send("10:00", choice="health:4")
    c.send("10:00", choice="sleep:7")
    r = c.send("10:01", "相談支援の書類の入力")
    assert recorded(r) == {ReportField.PLANNED_WORK: "相談支援の書類の入力"}
    assert not of(ConsultRequested, r)


def test_worrying_answers_raise_concerns() -> None:
    r = dialog.step(DialogState(), said("10:00", "開始 体調2 睡眠3 データ入力"), facts())
    kinds = {e.kind for e in of(Concern, r)}  # type: ignore[attr-defined]
    assert kinds == {ConcernKind.LOW_HEALTH, ConcernKind.SHORT_SLEEP}
    r = dialog.step(DialogState(), said("10:00", "もうつらいです"), facts())
    assert [e.kind for e in of(Concern, r)] == [ConcernKind.DISTRESS]  # type: ignore[attr-defined]
    assert r.replies[0].text == texts.WATCH_ACK  # warm, and says staff know
    assert r.replies[-1].choices  # the buttons stay at hand


def test_fever_is_a_concern_when_temperature_is_asked() -> None:
    c = Conversation(facts(ask_temperature=True))
    c.send("10:00", choice="start")
    c.send("10:00", choice="health:3")
    r = c.send("10:00", choice="sleep:7")
    assert r.replies[-1].text == texts.ASK_TEMPERATURE
    r = c.send("10:01", "37度8分")
    assert [e.kind for e in of(Concern, r)] == [ConcernKind.FEVER]  # type: ignore[attr-defined]
    assert c.facts.report.temperature == 37.8


def test_vague_outputs_get_one_kind_nudge_then_are_flagged() -> None:
    started = ReportSnapshot(
        business_date=DAY,
        status=ReportStatus.STARTED,
        start_at=at("10:00"),
        planned_work="データ入力",
    )
    c = Conversation(facts(started))
    c.send("15:00", choice="end")
    c.send("15:00", choice="same_as_plan")
    r = c.send("15:01", "特になし")
    assert r.replies[-1].text == texts.ASK_DETAIL
    assert c.state.step == "outputs"
    r = c.send("15:02", "特になし")
    assert of(EntryFlagged, r) == [EntryFlagged(ReportField.OUTPUTS, "vague")]
    assert r.replies[-1].text == texts.ASK_HEALTH_END  # asked once only


def test_outputs_copied_from_the_previous_day_get_a_nudge() -> None:
    prev = ReportSnapshot(business_date=date(2026, 6, 30), outputs="入力100件")
    started = ReportSnapshot(
        business_date=DAY,
        status=ReportStatus.STARTED,
        start_at=at("10:00"),
        planned_work="データ入力",
    )
    c = Conversation(facts(started, previous_report=prev))
    c.send("15:00", choice="end")
    c.send("15:00", choice="same_as_plan")
    # Asked about gently, once: the same as the previous day may well be true.
    assert c.send("15:01", "入力100件").replies[-1].text == texts.ASK_DETAIL_SAME
    r = c.send("15:02", "入力100件、うち20件は住所の確認")
    assert not of(EntryFlagged, r)
    assert c.facts.report.outputs == "入力100件、うち20件は住所の確認"


def test_half_finished_dialog_expires_and_keeps_what_was_said() -> None:
    c = Conversation()
    c.send("10:00", choice="start")
    c.send("10:00", choice="health:4")
    r = c.send("13:00", "こんにちは")
    assert r.replies[0].text == texts.EXPIRED
    assert c.state.idle
    assert c.facts.report.health_start == 4  # recorded when it was said


def test_second_start_the_same_day_points_to_correction() -> None:
    started = ReportSnapshot(
        business_date=DAY,
        status=ReportStatus.STARTED,
        start_at=at("10:00"),
        health_start=4,
        sleep_hours=7.0,
        planned_work="データ入力",
    )  # a start begun but not finished resumes instead (tests/unit/test_dialog_menu.py)
    r = dialog.step(DialogState(), said("10:30", "開始"), facts(started))
    assert r.replies[-1].text == texts.ALREADY_STARTED.format(time="10:00")
    assert not r.events


def test_help_and_unknown_text_offer_the_buttons() -> None:
    r = dialog.step(DialogState(), said("09:00", "ヘルプ"), facts())
    assert r.replies[-1].text == texts.HELP
    assert r.replies[-1].choices == (texts.START, texts.ABSENT, texts.CONSULT)
    r = dialog.step(DialogState(), said("09:00", "こんにちは"), facts())
    assert r.replies[-1].text == texts.SMALLTALK  # a greeting is never "not understood"
    r = dialog.step(DialogState(), said("09:00", "データ入力"), facts())
    assert r.replies[-1].text == texts.UNKNOWN


def test_cancel_leaves_the_flow() -> None:
    c = Conversation()
    c.send("10:00", choice="start")
    r = c.send("10:00", "やめる")
    assert r.replies[-1].text == texts.CANCELLED
    assert c.state.idle


def test_state_survives_json_and_garbage_becomes_idle() -> None:
    c = Conversation()
    c.send("10:00", choice="start")
    assert DialogState.from_json(c.state.to_json()) == c.state
    assert DialogState.from_json({"flow": "start", "unexpected": 1}).flow == "start"
    assert DialogState.from_json({"nudged": 5, "flow": object()}) is not None
    assert DialogState.from_json(None).idle
