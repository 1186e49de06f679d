"""Parsing of members' free-text answers: examples from the spec, helper tables, properties."""

from __future__ import annotations

import unicodedata
from datetime import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core import concern
from bot.core.domain import AlertLevel, Intent, Phase
from bot.core.parsing import (
    ParsedMessage,
    is_vague,
    normalize,
    parse_health,
    parse_message,
    parse_sleep,
    parse_temperature,
    parse_time,
    render_one_line,
)

START, END = Intent.START, Intent.END

# --- the spec's table --------------------------------------------------------------------------

SPEC_TABLE = [
    ("開始 体調4 睡眠7 データ入力", ParsedMessage(START, 4, 7.0, work="データ入力")),
    ("開始　体調５　睡眠６時間半　封入作業", ParsedMessage(START, 5, 6.5, work="封入作業")),
    ("かいし 体調ふつう 睡眠六時間", ParsedMessage(START, 3, 6.0)),
    ("9時半に始めました", ParsedMessage(START, stated_time=time(9, 30))),
    ("終了 入力120件 体調3", ParsedMessage(END, 3, work="入力120件")),
    ("おわり 封入200枚", ParsedMessage(END, work="封入200枚")),
    ("体温36.8", ParsedMessage(temperature=36.8)),
    ("37度2分", ParsedMessage(temperature=37.2)),
    ("睡眠4h", ParsedMessage(sleep_hours=4.0)),
    # the words before the hours are kept as free text; the dialog decides what to do with them
    # how the member slept is not work; the dialog keeps the whole message as evidence
    ("よく眠れなかった 3時間", ParsedMessage(sleep_hours=3.0, concern=AlertLevel.WARNING)),
    ("今日は休みます", ParsedMessage(Intent.ABSENCE)),
    ("相談したい", ParsedMessage(Intent.CONSULT)),
    ("電話ほしい", ParsedMessage(Intent.CONSULT)),
    ("睡眠30時間", ParsedMessage(sleep_hours=30.0)),
    ("3時間", ParsedMessage(sleep_hours=3.0, concern=AlertLevel.WARNING)),
    ("9時", ParsedMessage(stated_time=time(9, 0))),
    ("9時半", ParsedMessage(stated_time=time(9, 30))),
]


@pytest.mark.parametrize(("message", "expected"), SPEC_TABLE)
def test_spec_table(message: str, expected: ParsedMessage) -> None:
    assert parse_message(message) == expected


# --- more messages -----------------------------------------------------------------------------

MESSAGES = [
    # leftover particles and sentence endings never become work
    ("開始します", ParsedMessage(START)),
    ("作業開始", ParsedMessage(START)),
    ("仕事終わりました", ParsedMessage(END)),
    ("午後1時から開始", ParsedMessage(START, stated_time=time(13, 0))),
    ("今日は朝9時から開始します", ParsedMessage(START, stated_time=time(9, 0))),
    ("開始 9:30 データ入力", ParsedMessage(START, stated_time=time(9, 30), work="データ入力")),
    ("開始 データ入力をします", ParsedMessage(START, work="データ入力")),
    ("終了です。入力120件できました", ParsedMessage(END, work="入力120件")),
    ("終了 入力120件\n体調3\t", ParsedMessage(END, 3, work="入力120件")),
    ("体調が悪いので休みます", ParsedMessage(Intent.ABSENCE, 1, concern=AlertLevel.URGENT)),
    ("体調不良で休みます", ParsedMessage(Intent.ABSENCE)),  # the note keeps the whole text
    ("修正したい", ParsedMessage(Intent.CORRECTION)),
    ("睡眠時間を修正したい", ParsedMessage(Intent.CORRECTION)),  # no value: the dialog asks
    ("キャンセルします", ParsedMessage(Intent.CANCEL)),
    ("今日の記録", ParsedMessage(Intent.SUMMARY)),
    ("?", ParsedMessage(Intent.HELP)),
    ("？？", ParsedMessage(Intent.HELP)),
    ("HELP", ParsedMessage(Intent.HELP)),
    # free text that merely contains a keyword keeps its content as work
    ("相談支援の書類作成", ParsedMessage(Intent.CONSULT, work="支援の書類作成")),
    # a health word that repeats the number belongs to the health token
    (
        "開始 体調5 とても良い 睡眠7時間寝た 36.5 データ入力",
        ParsedMessage(START, 5, 7.0, 36.5, work="データ入力"),
    ),
    # at the end of the day hours are hours worked, not slept
    ("終了 3時間作業した", ParsedMessage(END, work="3時間作業")),
    ("終了 睡眠6", ParsedMessage(END, sleep_hours=6.0)),
    # a labelled value that is out of range is not work, and not a value either
    ("開始 体調7", ParsedMessage(START)),
    ("体温33", ParsedMessage()),
    # words that look like numbers but are not
    ("かいしゃ", ParsedMessage(work="かいしゃ")),
    ("一時中断しました", ParsedMessage(Intent.SMALLTALK)),  # kept as the day's ひとこと
    ("データ入力", ParsedMessage(work="データ入力")),
    ("", ParsedMessage()),
    ("しんどい", ParsedMessage(work="しんどい", concern=AlertLevel.WARNING)),
]


@pytest.mark.parametrize(("message", "expected"), MESSAGES)
def test_parse_message(message: str, expected: ParsedMessage) -> None:
    assert parse_message(message) == expected


@pytest.mark.parametrize(
    ("message", "intent"),
    [
        *[(w, START) for w in ["開始", "かいし", "始めます", "はじめます", "始めました",
                               "はじめました", "スタート"]],
        *[(w, END) for w in ["終了", "しゅうりょう", "おわり", "終わり", "終わりました",
                             "終わります", "おわりました"]],
        *[(w, Intent.ABSENCE) for w in ["休みます", "やすみます", "休む", "お休み"]],
        *[(w, Intent.CONSULT) for w in ["相談したい", "そうだん", "相談", "電話ほしい",
                                        "電話してほしい", "話したい"]],
        *[(w, Intent.CORRECTION) for w in ["修正", "しゅうせい", "訂正", "直したい"]],
        *[(w, Intent.HELP) for w in ["ヘルプ", "help", "使い方", "つかいかた", "？"]],
        *[(w, Intent.CANCEL) for w in ["キャンセル", "やめる", "取り消し"]],
        *[(w, Intent.SUMMARY) for w in ["今日の記録", "きろく"]],
    ],
)  # fmt: skip
def test_intent_keywords_alone_leave_no_work(message: str, intent: Intent) -> None:
    parsed = parse_message(message)
    assert (parsed.intent, parsed.work) == (intent, None)


@pytest.mark.parametrize("message", ["データ入力", "helpful", "入力120件"])
def test_no_intent_without_a_keyword(message: str) -> None:
    assert parse_message(message).intent is None


@pytest.mark.parametrize("message", ["入力120件", "封入200枚", "検品30個"])
def test_counted_outputs_are_not_numbers_of_anything(message: str) -> None:
    assert parse_health(message) is None
    assert parse_sleep(message) is None
    assert parse_time(message) is None
    assert parse_temperature(message) is None
    assert parse_message(message) == ParsedMessage(work=message)


# --- helpers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4", 4), ("４", 4), ("体調4", 4), ("四", 4), ("体調は四です", 4), ("5 とても良い", 5),
        ("ふつう", 3), ("普通", 3), ("良い", 4), ("いい", 4), ("とても良い", 5), ("絶好調", 5),
        ("少し悪い", 2), ("いまいち", 2), ("イマイチ", 2), ("良くない", 2), ("悪い", 1),
        ("最悪", 1), ("一番良い", 4), ("入力120件 まあまあ", 3), ("4/5", 4),
        ("6", None), ("0", None), ("体調7", None), ("3.5", None), ("", None),
        ("データ入力", None), ("9時", None),
    ],
)  # fmt: skip
def test_parse_health(text: str, expected: int | None) -> None:
    assert parse_health(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7", 7.0), ("6.5", 6.5), ("６ｈ", 6.0), ("6時間半", 6.5), ("六時間", 6.0), ("4h", 4.0),
        ("よく眠れなかった 3時間", 3.0), ("7時間30分", 7.5), ("4時間以下", 4.0),
        ("9時間以上", 9.0), ("30時間", 30.0), ("睡眠7", 7.0), ("睡眠時間は7時間", 7.0),
        ("七時間三十分", 7.5), ("十二時間", 12.0), ("7時間寝た", 7.0), ("0", 0.0),
        ("9時", None), ("7時に寝た", None), ("", None), ("寝てない", None), ("7時間70分", None),
    ],
)  # fmt: skip
def test_parse_sleep(text: str, expected: float | None) -> None:
    assert parse_sleep(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("36.8", 36.8), ("体温36.8", 36.8), ("37度2分", 37.2), ("36度", 36.0),
        ("36.5℃", 36.5), ("体温は36度8分", 36.8), ("三十七度二分", 37.2), ("37", 37.0),
        ("34.0", 34.0), ("42.9", 42.9),
        ("33.9", None), ("43.0", None), ("30", None), ("体温30", None), ("37度12分", None),
        ("熱はない", None), ("", None),
    ],
)  # fmt: skip
def test_parse_temperature(text: str, expected: float | None) -> None:
    assert parse_temperature(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9時半", time(9, 30)), ("9:30", time(9, 30)), ("９時４５分", time(9, 45)),
        ("10時5分", time(10, 5)), ("九時", time(9, 0)), ("午後1時", time(13, 0)),
        ("13時", time(13, 0)), ("十時半", time(10, 30)), ("九時四十五分", time(9, 45)),
        ("９：３０", time(9, 30)), ("午前12時", time(0, 0)), ("9時ごろに始めた", time(9, 0)),
        ("25時", None), ("9時60分", None), ("24:00", None), ("3時間", None),
        ("一時中断", None), ("", None), ("データ入力", None),
    ],
)  # fmt: skip
def test_parse_time(text: str, expected: time | None) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    "text",
    ["つらい", "辛いです", "ツライ", "死にたい", "消えたい", "助けて", "頭が痛い", "苦しい",
     "しんどい", "もう限界", "開始 体調1 しんどい"],
)  # fmt: skip
def test_distress_words(text: str) -> None:
    assert parse_message(text).concern is not None


@pytest.mark.parametrize(
    "text",
    ["データ入力", "開始 体調4 睡眠7 データ入力", "おわり 封入200枚", "つらくない",
     "痛くない", "助かりました", "今日は順調です", "言いたいことはないです", ""],
)  # fmt: skip
def test_ordinary_text_is_not_distress(text: str) -> None:
    assert parse_message(text).concern is None


@pytest.mark.parametrize(
    "text",
    [None, "", "  ", "特になし", "とくになし", "なし", "特に無し", "無し", "-", "ー", "同じ",
     "いつも通り", "いつもどおり", "なしです", "特に なし。", "昨日と同じ", "...", "－"],
)  # fmt: skip
def test_vague_answers(text: str | None) -> None:
    assert is_vague(text)


@pytest.mark.parametrize(
    "text", ["データ入力", "入力120件", "封入作業 200枚", "イラスト制作", "なしの皮むき"]
)
def test_concrete_answers_are_not_vague(text: str) -> None:
    assert not is_vague(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("　開始\u3000体調５ ", "開始 体調5"),
        ("ａｂｃ１２３", "abc123"),
        ("a\tb\n\nc", "a b c"),
        ("a\x00b\x07c\u200bd", "abcd"),
        ("ﾃﾞｰﾀ入力", "データ入力"),
        ("", ""),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((Phase.START, 4, 7.0, 36.8, "データ入力"), "開始 体調4 睡眠7 体温36.8 データ入力"),
        ((Phase.END, 3, None, None, "入力120件"), "終了 体調3 入力120件"),
        ((Phase.START, None, 6.5, None, None), "開始 睡眠6.5"),
        ((Phase.END, None, None, None, "  "), "終了"),
        ((Phase.START, 2, 0.0, 36.0, "封入\n作業"), "開始 体調2 睡眠0 体温36.0 封入 作業"),
    ],
)
def test_render_one_line(
    args: tuple[Phase, int | None, float | None, float | None, str | None], expected: str
) -> None:
    phase, health, sleep, temperature, work = args
    line = render_one_line(
        phase, health=health, sleep_hours=sleep, temperature=temperature, work=work
    )
    assert line == expected


@pytest.mark.parametrize(
    "text",
    [
        "9" * 10_000, "一" * 10_000, "体調" * 5_000, "時" * 10_000, "9時" * 5_000,
        "睡眠7時間" * 2_000, "開始 " * 2_000, "\x00" * 10_000, "😀" * 10_000,
        "36.8." * 2_000, "十" * 10_000, "ﷺ" * 10_000,
    ],
)  # fmt: skip
def test_huge_inputs_do_not_raise(text: str) -> None:
    parsed = parse_message(text)
    assert parsed.health in (None, 1, 2, 3, 4, 5)
    for helper in (parse_health, parse_sleep, parse_temperature, parse_time, is_vague):
        helper(text)
    concern.assess(text)


# --- properties --------------------------------------------------------------------------------

# Text built from pieces the parser looks for, so the properties reach its deeper branches
JAPANESE_ISH = st.lists(
    st.sampled_from(
        list("0123456789０１２３４５６７８９.:：時分半間体調睡眠温度一二三四五六七八九十〇")
        + list("午前後hH 　\n\t\x00開始終了おわりかいし休みます件枚にから、。?？ーｰ-−°℃")
        + ["とても良い", "ふつう", "時間", "データ入力", "😀", "\u200b", "体調", "睡眠", "体温"]
    ),
    max_size=30,
).map("".join)
ANY_TEXT = st.one_of(st.text(), JAPANESE_ISH)


@given(ANY_TEXT)
def test_parse_message_never_raises_and_returns_sane_values(text: str) -> None:
    parsed = parse_message(text)
    assert parsed.health is None or 1 <= parsed.health <= 5
    assert parsed.temperature is None or 34.0 <= parsed.temperature < 43.0
    assert parsed.sleep_hours is None or parsed.sleep_hours >= 0
    if parsed.work is not None:
        assert parsed.work == parsed.work.strip() != ""
        assert "\x00" not in parsed.work
        assert parsed.work == normalize(parsed.work)


@given(ANY_TEXT)
def test_helpers_never_raise(text: str) -> None:
    health = parse_health(text)
    assert health is None or 1 <= health <= 5
    temperature = parse_temperature(text)
    assert temperature is None or 34.0 <= temperature < 43.0
    sleep = parse_sleep(text)
    assert sleep is None or sleep >= 0
    assert parse_time(text) is None or isinstance(parse_time(text), time)
    assert isinstance(is_vague(text), bool)
    assert (concern.assess(text) is None) or parse_message(text).concern is not None


@given(ANY_TEXT)
def test_normalize_is_idempotent_and_clean(text: str) -> None:
    out = normalize(text)
    assert normalize(out) == out
    assert out == out.strip()
    assert "  " not in out
    assert not any(unicodedata.category(ch) == "Cc" for ch in out)


@given(st.integers(0, 23), st.integers(0, 59))
def test_clock_times_in_all_spellings(hour: int, minute: int) -> None:
    expected = time(hour, minute)
    assert parse_time(f"{hour}時{minute}分") == expected
    assert parse_time(f"{hour}:{minute:02d}") == expected
    assert parse_time(f"{hour:02d}:{minute:02d}に始めました") == expected
    full_width = f"{hour}時{minute}分".translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"})
    assert parse_time(full_width) == expected


@given(st.integers(-20, 20))
def test_health_numbers(n: int) -> None:
    assert parse_health(str(n)) == (n if 1 <= n <= 5 else None)
    assert parse_message(f"開始 体調{n}").health == (n if 1 <= n <= 5 else None)


@given(st.integers(0, 48).map(lambda n: n / 2))
def test_sleep_hours_in_half_steps(hours: float) -> None:
    assert parse_sleep(f"{hours:g}時間") == hours
    assert parse_sleep(f"{hours:g}") == hours
    assert parse_message(f"睡眠{hours:g}").sleep_hours == hours


@given(st.integers(300, 450).map(lambda n: n / 10))
def test_temperatures_with_one_decimal(value: float) -> None:
    plausible = 34.0 <= value < 43.0
    assert parse_temperature(f"{value:.1f}") == (value if plausible else None)
    assert parse_message(f"体温{value:.1f}").temperature == (value if plausible else None)


TASKS = ["データ入力", "封入作業", "入力120件", "封入200枚", "イラスト制作", "検品30個"]


@given(
    phase=st.sampled_from([Phase.START, Phase.END]),
    health=st.integers(1, 5),
    sleep=st.integers(0, 32).map(lambda n: n / 2),
    temperature=st.none() | st.integers(350, 399).map(lambda n: n / 10),
    work=st.none() | st.sampled_from(TASKS),
)
def test_render_then_parse_round_trips(
    phase: Phase, health: int, sleep: float, temperature: float | None, work: str | None
) -> None:
    line = render_one_line(
        phase, health=health, sleep_hours=sleep, temperature=temperature, work=work
    )
    parsed = parse_message(line)
    assert parsed.intent == (START if phase is Phase.START else END)
    assert (parsed.health, parsed.sleep_hours, parsed.temperature, parsed.work) == (
        health,
        sleep,
        temperature,
        work,
    )
    assert parsed.stated_time is None
