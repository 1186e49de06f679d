"""A member who asks for staff is heard at every step of the dialog, free-text questions
included; work that merely mentions 相談 is still work. And a bare 「休み」 is an absence."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.core import texts
from bot.core.domain import (
    AbsenceNoticed,
    Concern,
    ConcernKind,
    ConsultRequested,
    FieldRecorded,
    ReportField,
    ReportStatus,
)
from tests.unit.test_dialog import Conversation, at, of, recorded

ASKING = [
    "相談したい",
    "職員と話したい",
    "電話してほしいです",
    "話を聞いてほしい",
    "ちょっと相談があります",
    "明日のことで相談したいです",
    "データ入力、あとで相談したいです",
]
# 相談 as the subject of the work (相談支援事業所の書類, 相談記録の入力): the answer itself
WORK_ABOUT_CONSULTING = ["相談の資料を作った", "相談業務の入力", "相談支援の書類作成"]


def at_plan() -> Conversation:
    c = Conversation()
    c.send("14:00", choice="start")
    c.send("14:00", choice="health:4")
    c.send("14:00", choice="sleep:7")
    return c


def at_work_done() -> Conversation:
    c = Conversation()
    c.send("10:00", "開始 体調4 睡眠7 データ入力")
    c.send("15:00", "終了")
    return c


def at_outputs() -> Conversation:
    c = at_work_done()
    c.send("15:01", "データ入力")
    return c


def at_note() -> Conversation:
    c = at_outputs()
    c.send("15:01", "入力120件")
    c.send("15:01", choice="health:4")
    return c


def at_fix_value() -> Conversation:
    """「修正」 → 作業予定: the new text for the planned work is asked."""
    c = Conversation()
    c.send("10:00", "開始 体調4 睡眠7 データ入力")
    c.send("15:00", "修正")
    c.send("15:00", choice=f"fix:{ReportField.PLANNED_WORK.value}")
    return c


# (how to get there, the step's state, the question asked, the field the answer fills)
STEPS: dict[str, tuple[Callable[[], Conversation], str, str, ReportField]] = {
    "plan": (at_plan, "plan", texts.ASK_PLAN, ReportField.PLANNED_WORK),
    "work_done": (at_work_done, "work_done", texts.ASK_WORK_DONE, ReportField.WORK_DONE),
    "outputs": (at_outputs, "outputs", texts.ASK_OUTPUTS, ReportField.OUTPUTS),
    "note": (at_note, "note", texts.ASK_NOTE, ReportField.NOTE),
    "fix": (
        at_fix_value,
        "value",
        texts.ASK_FIX_VALUE.format(label=texts.FIELD_LABELS[ReportField.PLANNED_WORK.value]),
        ReportField.PLANNED_WORK,
    ),
}


@pytest.mark.parametrize("where", list(STEPS))
@pytest.mark.parametrize("message", ASKING)
def test_a_request_to_talk_at_a_free_text_question_reaches_staff_and_fills_nothing(
    where: str, message: str
) -> None:
    get_there, step, question, field = STEPS[where]
    c = get_there()
    assert c.state.step == step
    before = c.facts.report.value(field)
    r = c.send("15:10", message)
    assert of(ConsultRequested, r) == [ConsultRequested(at("15:10"), message)]
    kinds = [e.kind for e in of(Concern, r)]  # type: ignore[attr-defined]
    assert kinds == [ConcernKind.CONSULT]
    assert not of(FieldRecorded, r)
    assert [x.text for x in r.replies] == [texts.CONSULT_ACK, texts.CONSULT_RESUME, question]
    assert c.state.step == step and c.facts.report.value(field) == before

    # the step resumes: the next answer is the answer
    r = c.send("15:20", "封入200枚")
    assert recorded(r)[field] == "封入200枚"
    assert not of(ConsultRequested, r)


@pytest.mark.parametrize("where", list(STEPS))
@pytest.mark.parametrize("message", WORK_ABOUT_CONSULTING)
def test_work_about_consulting_is_the_answer(where: str, message: str) -> None:
    get_there, step, _, field = STEPS[where]
    c = get_there()
    assert c.state.step == step
    r = c.send("15:10", message)
    assert recorded(r)[field] == message
    assert not of(ConsultRequested, r) and not of(Concern, r)
    assert c.state.step != step or c.state.idle


def test_a_note_about_a_talk_that_helped_is_a_note() -> None:
    c = at_note()
    r = c.send("15:10", "今日は相談できてよかったです")
    assert recorded(r) == {ReportField.NOTE: "今日は相談できてよかったです"}
    assert not of(ConsultRequested, r) and c.state.idle


def test_a_request_to_talk_with_other_words_is_heard_at_a_numeric_question() -> None:
    """「職員と話したい」 leaves 「職員」 over, which is no 体調: the request is still heard."""
    c = Conversation()
    c.send("10:00", choice="start")
    r = c.send("10:00", "職員と話したい")
    assert len(of(ConsultRequested, r)) == 1
    assert r.replies[-1].text == texts.ASK_HEALTH and c.state.step == "health"


def test_an_absence_with_a_request_to_talk_inside_a_flow_does_both() -> None:
    c = Conversation()
    c.send("09:30", choice="start")
    r = c.send("09:31", "休みます。電話ください")
    assert len(of(AbsenceNoticed, r)) == 1 and len(of(ConsultRequested, r)) == 1
    assert [x.text for x in r.replies] == [texts.CONSULT_ACK, texts.ABSENCE]
    assert c.state.idle


def test_a_crisis_at_a_free_text_question_is_still_a_crisis_first() -> None:
    c = at_work_done()
    r = c.send("15:10", "もう死にたい、話を聞いてほしい")
    assert [e.kind for e in of(Concern, r)] == [ConcernKind.CRISIS]  # type: ignore[attr-defined]
    assert not of(ConsultRequested, r) and not of(FieldRecorded, r)
    assert c.state.idle


@pytest.mark.parametrize("message", ["休み", "休みます", "今日は休み", "今日は休み!", "やすみ"])
def test_a_bare_yasumi_at_the_start_of_a_day_is_an_absence(message: str) -> None:
    c = Conversation()
    r = c.send("08:50", message)
    assert of(AbsenceNoticed, r) == [AbsenceNoticed(at("08:50"), message)]
    assert r.replies[-1].text == texts.ABSENCE


@pytest.mark.parametrize("message", ["休み", "今日は休みます"])
def test_yasumi_after_a_start_is_told_to_staff_but_does_not_unmake_the_day(message: str) -> None:
    """The same as 「今日は休みます」 after a start: staff hear of it, the start stays."""
    c = Conversation()
    c.send("10:00", "開始 体調4 睡眠7 データ入力")
    r = c.send("11:00", message)
    assert of(AbsenceNoticed, r) == [AbsenceNoticed(at("11:00"), message)]
    assert not of(FieldRecorded, r)
    assert c.facts.report.start_at == at("10:00")
    assert c.facts.report.status is ReportStatus.STARTED


@pytest.mark.parametrize("message", ["昼休み", "おやすみ", "夏休みの宿題", "休憩します"])
def test_words_that_contain_yasumi_are_no_absence(message: str) -> None:
    r = Conversation().send("12:00", message)
    assert not of(AbsenceNoticed, r)
