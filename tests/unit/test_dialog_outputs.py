"""成果 without typing (issue #21): buttons for honest common answers, a photo or a voice
message as the answer, one gentle request for detail at most, in the pure dialog.

R2 (東大阪市, domain/002 イ): 「作業終了時における終了時間と成果内容の確認は必ず行い」: the
outputs are still asked for, and a vague one gets one kind request for a concrete detail.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bot.core import dialog, texts
from bot.core.domain import (
    CheckInCompleted,
    EntryFlagCleared,
    EntryFlagged,
    EvidenceSent,
    FieldRecorded,
    InboundMessage,
    MediaKind,
    Phase,
    ReportField,
    ReportSnapshot,
    ReportStatus,
    StepResult,
)
from tests.unit.test_dialog_day import DAY, ME, STARTED, Talk, at, facts, texts_of

COUNTED = replace(STARTED, planned_work="データ入力 100件")
VOICE = EvidenceSent(MediaKind.AUDIO, 12)


def send_evidence(talk: Talk, hhmm: str, sent: EvidenceSent) -> StepResult:
    """What the service does once it has kept the content: the dialog hears that it came."""
    msg = InboundMessage("e", ME, at(hhmm), evidence=sent)
    result = dialog.step(talk.state, msg, talk.facts)
    talk.state = result.state
    talk.events.extend(result.events)
    r = talk.facts.report
    for e in result.events:
        if isinstance(e, FieldRecorded):
            r = r.with_value(e.field, e.value)
    talk.facts = replace(talk.facts, report=r)
    return result


def labels(result: StepResult) -> list[str]:
    return [c.label for c in result.replies[-1].choices]


def to_outputs(talk: Talk) -> StepResult:
    talk.send("15:00", choice="end")
    result = talk.send("15:00", choice="same_as_plan")
    assert texts_of(result) == [texts.ASK_OUTPUTS]
    return result


def test_the_outputs_question_offers_honest_answers_and_as_planned_only_for_a_counted_plan() -> (
    None
):
    assert labels(to_outputs(Talk(facts(STARTED)))) == [
        "途中まで", "できなかった", "写真で送る", "声で送る"
    ]  # fmt: skip
    assert labels(to_outputs(Talk(facts(COUNTED)))) == [
        "予定どおりできた", "途中まで", "できなかった", "写真で送る", "声で送る"
    ]  # fmt: skip
    full_width = replace(STARTED, planned_work="封入 三百枚")
    assert labels(to_outputs(Talk(facts(full_width))))[0] == "予定どおりできた"


def test_as_planned_records_the_plan_and_the_end_completes_with_taps_only() -> None:
    talk = Talk(facts(COUNTED))
    to_outputs(talk)
    r = talk.send("15:01", choice="outputs:as_planned")
    assert texts_of(r) == [texts.ASK_HEALTH_END]
    assert talk.facts.report.outputs == "予定どおりできた(データ入力 100件)"
    assert not talk.of(EntryFlagged)
    talk.send("15:01", choice="health:4")
    r = talk.send("15:02", choice="none")
    assert r.state.idle and talk.facts.report.status is ReportStatus.ENDED
    assert talk.of(CheckInCompleted) == [CheckInCompleted(Phase.END, at("15:01"))]


def test_partway_gets_one_gentle_request_and_keeping_it_is_one_tap() -> None:
    talk = Talk(facts(STARTED))
    to_outputs(talk)
    r = talk.send("15:01", choice="outputs:partway")
    assert texts_of(r) == [texts.ASK_DETAIL_PARTWAY]
    assert labels(r) == ["写真で送る", "声で送る", "このまま記録する"]
    assert talk.facts.report.outputs == "途中まで"  # kept as said, flagged for staff
    assert talk.of(EntryFlagged) == [EntryFlagged(ReportField.OUTPUTS, "vague")]
    r = talk.send("15:02", choice="outputs:keep")
    assert texts_of(r) == [texts.ASK_HEALTH_END]  # never a second request
    assert talk.facts.report.outputs == "途中まで"
    assert not talk.of(EntryFlagCleared)


def test_not_done_typed_after_the_request_is_accepted_as_said() -> None:
    talk = Talk(facts(STARTED))
    to_outputs(talk)
    assert texts_of(talk.send("15:01", choice="outputs:not_done")) == [texts.ASK_DETAIL_PARTWAY]
    r = talk.send("15:02", "できなかった")
    assert texts_of(r) == [texts.ASK_HEALTH_END]
    assert len(talk.of(EntryFlagged)) == 2  # still flagged: nothing concrete came


def test_a_voice_message_asked_for_stands_as_the_outputs() -> None:
    talk = Talk(facts(STARTED))
    to_outputs(talk)
    r = talk.send("15:01", choice="outputs:voice")
    assert texts_of(r) == [texts.ASK_OUTPUTS_VOICE] and r.state.step == "outputs"
    r = send_evidence(talk, "15:02", VOICE)
    assert texts_of(r) == [texts.EVIDENCE_AS_OUTPUTS[MediaKind.AUDIO], texts.ASK_HEALTH_END]
    assert talk.facts.report.outputs == "音声で報告(12秒)"
    assert not talk.of(EntryFlagged)
    talk.send("15:02", choice="health:3")
    assert talk.send("15:03", choice="none").state.idle
    assert talk.of(CheckInCompleted) == [CheckInCompleted(Phase.END, at("15:02"))]


def test_a_voice_message_after_the_request_for_detail_is_that_detail() -> None:
    talk = Talk(facts(STARTED))
    to_outputs(talk)
    talk.send("15:01", choice="outputs:partway")
    r = send_evidence(talk, "15:02", EvidenceSent(MediaKind.AUDIO, 8))
    assert texts_of(r)[0] == texts.EVIDENCE_AS_OUTPUTS[MediaKind.AUDIO]
    assert talk.facts.report.outputs == "途中まで / 音声で報告(8秒)"
    assert talk.of(EntryFlagCleared) == [EntryFlagCleared(ReportField.OUTPUTS)]


def test_a_photo_asked_for_stands_as_the_outputs_too() -> None:
    talk = Talk(facts(STARTED))
    to_outputs(talk)
    assert texts_of(talk.send("15:01", choice="outputs:photo")) == [texts.ASK_OUTPUTS_PHOTO]
    r = send_evidence(talk, "15:02", EvidenceSent(MediaKind.PHOTO))
    assert texts_of(r)[0] == texts.EVIDENCE_AS_OUTPUTS[MediaKind.PHOTO]
    assert talk.facts.report.outputs == "写真で報告"


def test_content_sent_at_another_question_is_thanked_and_the_question_stays() -> None:
    talk = Talk(facts(ReportSnapshot(business_date=DAY)))
    talk.send("10:00", choice="start")
    r = send_evidence(talk, "10:01", VOICE)
    assert texts_of(r) == [texts.EVIDENCE_SAVED[MediaKind.AUDIO], texts.ASK_HEALTH]
    assert r.state.step == "health" and not r.events
    idle = Talk(facts(STARTED))
    r = send_evidence(idle, "11:00", EvidenceSent(MediaKind.VIDEO, 30))
    assert texts_of(r) == [texts.EVIDENCE_SAVED[MediaKind.VIDEO]] and r.state.idle
    assert not r.events


def test_the_same_outputs_as_yesterday_are_asked_about_gently_once() -> None:
    yesterday = ReportSnapshot(
        DAY - timedelta(days=1), outputs="予定どおりできた(データ入力 100件)"
    )
    talk = Talk(facts(COUNTED, previous_report=yesterday))
    to_outputs(talk)
    r = talk.send("15:01", choice="outputs:as_planned")
    assert texts_of(r) == [texts.ASK_DETAIL_SAME]
    assert talk.of(EntryFlagged) == [EntryFlagged(ReportField.OUTPUTS, "same_as_previous_day")]
    r = talk.send("15:02", choice="outputs:keep")
    assert texts_of(r) == [texts.ASK_HEALTH_END]
    assert talk.of(EntryFlagged)[-1] == EntryFlagged(ReportField.OUTPUTS, "same_as_previous_day")


def test_a_voice_message_is_never_read_as_copied() -> None:
    yesterday = ReportSnapshot(DAY - timedelta(days=1), outputs="音声で報告(12秒)")
    talk = Talk(facts(STARTED, previous_report=yesterday))
    to_outputs(talk)
    r = send_evidence(talk, "15:02", VOICE)
    assert texts_of(r)[-1] == texts.ASK_HEALTH_END and not talk.of(EntryFlagged)
