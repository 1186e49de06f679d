"""Stickers over LINE: a sticker gets one of LINE's bot stickers back; a hello sticker (by
LINE's keywords) on a day not begun is answered as 「おはよう」 is, with the buttons to start."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from adapters.line.render import STICKERS
from bot.core import texts
from bot.core.domain import StickerMood
from bot.core.parsing import greets
from tests.line.conftest import Line, event
from tests.line.test_checkin_over_line import (
    DAY,
    U,
    buttons,
    last_body,
    linked_member,
    report,
    tap,
    texts_of,
)
from tests.support import jst

MORNING = ["cony", "おはよう", "Good morning"]


def stickers_of(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m["packageId"], m["stickerId"]) for m in body["messages"] if m["type"] == "sticker"]


async def send_sticker(line: Line, at: datetime, keywords: list[str] | None, user: str = U) -> None:
    message: dict[str, Any] = {"id": f"st-{at.timestamp():.0f}"}
    ev = event("05_message_sticker", at, user=user, message=message)
    if keywords is None:
        ev["message"].pop("keywords", None)
    else:
        ev["message"]["keywords"] = keywords
    await line.send(ev, at=at)


def test_greeting_keywords() -> None:
    assert greets(["Good Morning"]) and greets(["オハヨー"]) and greets(["hi", "cony"])
    assert not greets(["Love You", "Love"]) and not greets([]) and not greets(["ohayo-gozaimasu"])


async def test_a_hello_sticker_opens_a_day_not_begun(line: Line, t0: datetime) -> None:
    await linked_member(line, t0)
    await send_sticker(line, jst(DAY, "09:30"), MORNING)
    body = last_body(line)
    assert body["messages"][0]["type"] == "sticker"  # the sticker first, then the words
    assert stickers_of(body) == [STICKERS[StickerMood.HELLO]]
    assert texts_of(body) == [texts.HELLO.format(name="山田 太郎")]
    assert "開始します" in buttons(body)  # the buttons ride on the last message
    # The start button it offers starts the day like any other.
    await tap(line, "開始します", jst(DAY, "09:31"))
    assert texts_of(last_body(line))[-1] == texts.ASK_HEALTH


async def test_other_stickers_and_later_hellos_get_thanks_and_change_nothing(
    line: Line, t0: datetime
) -> None:
    await linked_member(line, t0)
    await send_sticker(line, jst(DAY, "09:30"), ["Love You", "Love"])
    body = last_body(line)
    assert stickers_of(body) == [STICKERS[StickerMood.THANKS]]
    assert texts_of(body) == [texts.STICKER] and "開始します" in buttons(body)
    await send_sticker(line, jst(DAY, "09:31"), None)  # a sticker without keywords
    assert stickers_of(last_body(line)) == [STICKERS[StickerMood.THANKS]]

    # Once the day has begun, a hello sticker is thanked for, not a second greeting.
    at = jst(DAY, "10:00")
    text = "開始 体調4 睡眠7 データ入力"
    await line.send(event("00_message_text", at, user=U, message={"text": text}), at=at)
    await send_sticker(line, at + timedelta(minutes=5), MORNING)
    body = last_body(line)
    assert stickers_of(body) == [STICKERS[StickerMood.HELLO]]
    assert texts_of(body) == [texts.STICKER] and "終了します" in buttons(body)
    r = await report(line)
    assert r.note is None  # nothing recorded as if typed


async def test_an_unlinked_account_gets_only_the_linking_prompt(line: Line, t0: datetime) -> None:
    await send_sticker(line, jst(DAY, "09:30"), MORNING, user="Ustranger000000000000000000000001")
    body = last_body(line)
    assert stickers_of(body) == [] and texts_of(body) == [texts.LINK_PROMPT]
