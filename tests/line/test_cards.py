"""The Flex summary card as members receive it: AA contrast for every text, a colour band
with a badge word for the card's tone, the end card's span, no line said twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import pytest

from adapters.line.render import (
    BANDS,
    MAX_LABEL,
    PAPER,
    bubble,
    contrast_ratio,
    relative_luminance,
    render,
)
from bot.core import dialog, texts
from bot.core.domain import Card, CardTone, DialogState, Reply, ReportSnapshot
from tests.line.conftest import Line, event
from tests.line.schema import check_body
from tests.line.test_checkin_over_line import DAY, U, buttons, last_body, linked_member, texts_of
from tests.support import jst
from tests.unit.test_dialog import facts, said

AA = 4.5
ROWS = (("開始時刻", "10:02"), ("体調(朝)", "4 良い"))


def test_contrast_ratio_follows_wcag() -> None:
    assert contrast_ratio("#000000", "#FFFFFF") == pytest.approx(21.0)
    assert contrast_ratio("#FFFFFF", "#000000") == pytest.approx(21.0)  # order does not matter
    assert contrast_ratio("#777777", "#777777") == pytest.approx(1.0)
    assert relative_luminance("#FFFFFF") == pytest.approx(1.0)
    # The grey the old card used for its labels: below AA, as the issue measured.
    assert contrast_ratio("#888888", "#FFFFFF") == pytest.approx(3.54, abs=0.01)
    assert contrast_ratio("#888888", "#FFFFFF") < AA
    with pytest.raises(ValueError):
        relative_luminance("#FFF")


def _texts(block: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if block.get("type") == "text":
        yield block
    for child in block.get("contents", []):
        yield from _texts(child)


def _pairs(flex: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(text, colour, the background it sits on) for every text of a rendered bubble."""
    out = []
    for part in ("header", "body", "footer"):
        if part not in flex:
            continue
        background = flex["styles"][part]["backgroundColor"]
        for t in _texts(flex[part]):
            assert "color" in t, f"{t['text']!r} relies on LINE's default colour"
            out.append((t["text"], t["color"], background))
    return out


@pytest.mark.parametrize("tone", list(CardTone))
@pytest.mark.parametrize("rows", [ROWS, ()], ids=["rows", "empty"])
def test_every_text_meets_aa_contrast_on_its_background(
    tone: CardTone, rows: tuple[tuple[str, str], ...]
) -> None:
    flex = bubble(Card("7/1 の記録", rows, "修正できます", tone))
    pairs = _pairs(flex)
    assert {p[0] for p in pairs} >= {"7/1 の記録", "修正できます", texts.CARD_BADGES[tone.value]}
    for text, colour, background in pairs:
        assert contrast_ratio(colour, background) >= AA, (text, colour, background)


def test_each_tone_has_its_own_band_and_badge_word() -> None:
    headers = {tone: bubble(Card("7/1 の記録", ROWS, tone=tone)) for tone in CardTone}
    bands = {h["styles"]["header"]["backgroundColor"] for h in headers.values()}
    assert len(bands) == len(CardTone) and PAPER not in bands
    badges = {h["header"]["contents"][0]["text"] for h in headers.values()}
    assert len(badges) == len(CardTone)  # colour is never the only signal
    msgs = render([Reply("", (), Card("7/1 の記録", ROWS, tone=CardTone.END))], date(2026, 7, 1))
    check_body({"to": "U1", "messages": msgs}, "/v2/bot/message/push")


def test_the_dialog_cards_carry_the_tone_and_the_end_card_the_span() -> None:
    start = dialog.step(DialogState(), said("10:02", "開始 体調4 睡眠7 データ入力"), facts())
    assert start.replies[-1].card is not None
    assert start.replies[-1].card.tone is CardTone.START
    low = dialog.step(DialogState(), said("10:02", "開始 体調2 睡眠7 データ入力"), facts())
    assert low.replies[-1].card is not None and low.replies[-1].card.tone is CardTone.CONCERN

    day = date(2026, 7, 1)
    started = ReportSnapshot(
        business_date=day,
        start_at=datetime.fromisoformat("2026-07-01T10:00:00+09:00"),
        health_start=4,
        planned_work="データ入力",
    )
    end = dialog.step(DialogState(), said("15:30", "終了 入力120件 体調3"), facts(report=started))
    card = end.replies[-1].card
    assert card is not None and card.tone is CardTone.END
    assert card.rows[:3] == (
        ("開始時刻", "10:00"),
        ("終了時刻", "15:30"),
        (texts.WORKED_LABEL, "5時間30分"),
    )
    # 今日の記録 before the end: the start colour, and no span yet.
    summary = dialog.step(DialogState(), said("14:00", "今日の記録"), facts(report=started))
    shown = summary.replies[-1].card
    assert shown is not None and shown.tone is CardTone.START
    assert texts.WORKED_LABEL not in dict(shown.rows)


def test_health_buttons_have_a_face_within_lines_label_limit() -> None:
    msgs = render([Reply(texts.ASK_HEALTH, texts.HEALTH_CHOICES)], date(2026, 7, 1))
    labels = [i["action"]["label"] for i in msgs[-1]["quickReply"]["items"]]
    assert len(labels) == 5
    for label, choice in zip(labels, texts.HEALTH_CHOICES, strict=True):
        assert label == choice.label and len(label) <= MAX_LABEL  # not clipped
        assert not label[0].isascii() and label[0] not in "0123456789"  # a face comes first


async def test_a_worrying_start_card_over_line_is_amber_and_said_once(
    line: Line, t0: datetime
) -> None:
    await linked_member(line, t0)
    at = jst(DAY, "10:02")
    text = "開始 体調2 睡眠7 データ入力"
    await line.send(event("00_message_text", at, user=U, message={"text": text}), at=at)
    body = last_body(line)
    flex = body["messages"][-1]
    assert flex["type"] == "flex"
    card = flex["contents"]
    assert card["styles"]["header"]["backgroundColor"] == BANDS[CardTone.CONCERN]
    assert card["header"]["contents"][0]["text"] == texts.CARD_BADGES["concern"]
    # The time is said once, in the text; the card's title is the day.
    said_texts = texts_of(body)
    assert sum("10:02 開始" in t for t in said_texts) == 1
    assert card["header"]["contents"][1]["text"] == "7/1 の記録"
    assert flex["altText"].startswith("7/1 の記録\n開始時刻: 10:02")
    assert set(buttons(body)) == {"修正する", "相談したい"}
