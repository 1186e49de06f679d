"""A request for staff in an answer, told apart from work that is about 相談; a bare 休み."""

from __future__ import annotations

import pytest

from bot.core.domain import AlertLevel, Intent
from bot.core.parsing import asks_to_talk, parse_answer, parse_message

ASKING = [
    "相談したい",
    "そうだんしたいです",
    "相談",
    "相談です",
    "ちょっと相談があります",
    "少し相談してもいいですか",
    "相談に乗ってもらえませんか",
    "相談できますか",
    "職員と話したい",
    "相談員さんと話したい",
    "電話してほしい",
    "電話ください",
    "話を聞いてほしい",
    "折り返しお願いします",
    "明日のことで相談したいです",
    "データ入力、あとで相談したいです",
]
TELLING = [
    "相談の資料を作った",
    "相談業務の入力",
    "相談支援の書類作成",
    "相談記録の入力",
    "相談室の掃除",
    "相談の件数を入力",
    "電話対応の練習",
    "電話してほしいと言われた",  # someone else's words
    "今日は相談できてよかったです",
    "データ入力",
]


@pytest.mark.parametrize("text", ASKING)
def test_a_request_for_staff_is_read_as_one(text: str) -> None:
    assert asks_to_talk(text)


@pytest.mark.parametrize("text", TELLING)
def test_work_or_news_about_consulting_is_no_request(text: str) -> None:
    assert not asks_to_talk(text)


@pytest.mark.parametrize("step", ["plan", "work_done", "outputs", "note", "health", "sleep"])
def test_an_answer_that_asks_for_staff_leaves_the_question(step: str) -> None:
    parsed = parse_answer(step, "職員と話したい")
    assert parsed.intent is Intent.CONSULT
    assert (parsed.work, parsed.health, parsed.sleep_hours) == (None, None, None)


def test_an_answer_about_consulting_is_the_work() -> None:
    parsed = parse_answer("work_done", "相談業務の入力")
    assert (parsed.intent, parsed.work) == (None, "相談業務の入力")


def test_a_crisis_in_an_answer_is_no_routine_request() -> None:
    parsed = parse_answer("note", "死にたい、話を聞いてほしい")
    assert parsed.intent is None and parsed.concern is AlertLevel.CRISIS


@pytest.mark.parametrize(
    "text", ["休み", "やすみ", "今日は休み", "きょうは休み。", "本日は休みです"]
)
def test_a_bare_yasumi_is_an_absence(text: str) -> None:
    parsed = parse_message(text)
    assert (parsed.intent, parsed.work) == (Intent.ABSENCE, None)


def test_a_bare_yasumi_with_a_request_to_talk_is_both() -> None:
    parsed = parse_message("今日は休み。電話ください")
    assert (parsed.intent, parsed.consult) == (Intent.ABSENCE, True)


@pytest.mark.parametrize("text", ["昼休み", "夏休みの宿題", "休み時間に入力", "おやすみ"])
def test_words_with_yasumi_in_them_are_no_absence(text: str) -> None:
    assert parse_message(text).intent is not Intent.ABSENCE


def test_a_start_whose_work_is_consulting_paperwork_is_a_start() -> None:
    parsed = parse_message("開始 相談支援の書類作成")
    assert (parsed.intent, parsed.consult, parsed.work) == (
        Intent.START,
        False,
        "相談支援の書類作成",
    )
