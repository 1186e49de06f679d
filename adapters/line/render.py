"""Neutral replies → LINE message objects (plain JSON dicts, as they go on the wire).

Pure functions. Buttons become quick-reply postbacks whose data carries a version and the
business date they were made for (`v1|2026-07-01|health:4`), so a button pressed on a later
day is recognised as stale instead of being applied to today. The rich menu's buttons are
there every day, so their data says `menu` where the date would be (`v1|menu|start`): they
belong to whatever day they are tapped on and are never stale. A reply with a Card becomes a
Flex bubble whose `altText` reads like the card (notifications and old clients show it): a
colour band with a badge word for its tone (never colour alone), every text meeting WCAG AA
contrast (4.5:1) on its background. A reply's sticker becomes one of the stickers LINE lets
every bot send.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from bot.core import texts
from bot.core.domain import Card, CardTone, Choice, Reply, StickerMood
from bot.core.payloads import Payload, Replies, from_json, text_of

POSTBACK_VERSION = "v1"
MENU_DAY = "menu"  # in a postback's date slot: a rich menu button, valid on any day
MAX_MESSAGES = 5  # per reply or push request
MAX_QUICK_REPLIES = 13
MAX_LABEL = 20
MAX_DATA = 300
MAX_DISPLAY_TEXT = 300
MAX_TEXT = 5000
MAX_ALT_TEXT = 400  # LINE allows 1500; notifications show far less

Json = dict[str, Any]


@dataclass(frozen=True)
class Postback:
    """A decoded button press: the choice value and the business date it was offered for."""

    value: str
    day: date | None


def encode_postback(value: str, day: date | None) -> str:
    return _postback_data(value, day.isoformat() if day else "")


def encode_menu_postback(value: str) -> str:
    """A rich menu button's data: no business date, so never read as stale."""
    return _postback_data(value, MENU_DAY)


def _postback_data(value: str, day: str) -> str:
    data = f"{POSTBACK_VERSION}|{day}|{value}"
    if len(data) > MAX_DATA:
        raise ValueError("postback data too long")
    return data


def decode_postback(data: str) -> Postback | None:
    """Our own postback data, or None for anything else (old formats, foreign buttons)."""
    parts = data.split("|", 2)
    if len(parts) != 3 or parts[0] != POSTBACK_VERSION or not parts[2]:
        return None
    day: date | None = None
    if parts[1] and parts[1] != MENU_DAY:
        try:
            day = date.fromisoformat(parts[1])
        except ValueError:
            return None
    return Postback(parts[2], day)


def _clip(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def quick_reply(choices: Sequence[Choice], day: date | None) -> Json:
    items = [
        {
            "type": "action",
            "action": {
                "type": "postback",
                "label": _clip(c.label, MAX_LABEL),
                "data": encode_postback(c.value, day),
                "displayText": _clip(c.label, MAX_DISPLAY_TEXT),
            },
        }
        for c in choices[:MAX_QUICK_REPLIES]
    ]
    return {"items": items}


def alt_text(card: Card) -> str:
    lines = [card.title, *(f"{label}: {value}" for label, value in card.rows)]
    if card.footer:
        lines.append(card.footer)
    return _clip("\n".join(lines), MAX_ALT_TEXT)


# Colours (sRGB hex). Every text colour is checked against the background it sits on
# (tests/line/test_render.py walks rendered bubbles with `contrast_ratio`).
PAPER = "#FFFFFF"  # body and footer background
INK = "#222222"  # values
MUTED = "#595959"  # labels and footer: 7:1 on white (the old #888888 was 3.5:1)
ON_BAND = "#FFFFFF"  # the badge and the title on the colour band
BANDS = {
    CardTone.PLAIN: "#4A4A4A",
    CardTone.START: "#1E6B3C",  # green: under way
    CardTone.END: "#1F4E8C",  # blue: done for the day
    CardTone.CONCERN: "#8A4600",  # amber, not red: staff know, nothing alarming
}
# From LINE's list of stickers every bot may send (package 11537, stickers 52002734–52002773;
# https://developers.line.biz/en/docs/messaging-api/sticker-list/).
STICKERS = {
    StickerMood.THANKS: ("11537", "52002734"),
    StickerMood.HELLO: ("11537", "52002738"),  # a wave (LINE's keywords: "hi", "Hello")
}


def _linear(channel: int) -> float:
    c = channel / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def relative_luminance(colour: str) -> float:
    """WCAG 2.x relative luminance of a `#RRGGBB` colour."""
    rgb = colour.removeprefix("#")
    if len(rgb) != 6:
        raise ValueError(f"not a #RRGGBB colour: {colour!r}")
    r, g, b = (_linear(int(rgb[i : i + 2], 16)) for i in (0, 2, 4))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(foreground: str, background: str) -> float:
    """WCAG 2.x contrast ratio, from 1 to 21; AA asks 4.5 for normal text."""
    lighter, darker = sorted(
        (relative_luminance(foreground), relative_luminance(background)), reverse=True
    )
    return (lighter + 0.05) / (darker + 0.05)


def _text(s: str, **style: Any) -> Json:
    return {"type": "text", "text": s or "-", "wrap": True, **style}


def bubble(card: Card) -> Json:
    rows = [
        {
            "type": "box",
            "layout": "baseline",
            "spacing": "sm",
            "contents": [
                _text(label, size="sm", color=MUTED, flex=3),
                _text(value, size="sm", color=INK, flex=5),
            ],
        }
        for label, value in card.rows
    ] or [_text(texts.CARD_EMPTY, size="sm", color=MUTED)]
    out: Json = {
        "type": "bubble",
        "styles": {
            "header": {"backgroundColor": BANDS[card.tone]},
            "body": {"backgroundColor": PAPER},
            "footer": {"backgroundColor": PAPER},
        },
        "header": {
            "type": "box",
            "layout": "vertical",
            "spacing": "xs",
            "contents": [
                _text(texts.CARD_BADGES[card.tone.value], size="xs", weight="bold", color=ON_BAND),
                _text(card.title, weight="bold", size="md", color=ON_BAND),
            ],
        },
        "body": {"type": "box", "layout": "vertical", "spacing": "sm", "contents": rows},
    }
    if card.footer:
        out["footer"] = {
            "type": "box",
            "layout": "vertical",
            "contents": [_text(card.footer, size="xs", color=MUTED)],
        }
    return out


def sticker(mood: StickerMood) -> Json:
    package, sticker_id = STICKERS[mood]
    return {"type": "sticker", "packageId": package, "stickerId": sticker_id}


def messages_for(reply: Reply, day: date | None) -> list[Json]:
    """One neutral reply as LINE messages: its sticker, its text, then its card as a Flex
    bubble (a text that only repeats the card's title is left out)."""
    out: list[Json] = [sticker(reply.sticker)] if reply.sticker is not None else []
    card = reply.card
    if reply.text and (card is None or reply.text != card.title):
        out.append({"type": "text", "text": _clip(reply.text, MAX_TEXT)})
    if card is not None:
        out.append({"type": "flex", "altText": alt_text(card), "contents": bubble(card)})
    if reply.choices and out:
        out[-1]["quickReply"] = quick_reply(reply.choices, day)
    return out


def render(replies: Sequence[Reply], day: date | None) -> list[Json]:
    """All replies to one event as at most five messages; buttons ride on the last one.

    LINE shows quick replies only on the last message of a request, so the newest buttons
    move there; surplus plain texts are merged rather than dropped.
    """
    messages = [m for r in replies for m in messages_for(r, day)]
    buttons = next((m["quickReply"] for m in reversed(messages) if "quickReply" in m), None)
    for m in messages:
        m.pop("quickReply", None)
    while len(messages) > MAX_MESSAGES:
        i = next(
            (
                k
                for k in range(len(messages) - 1)
                if messages[k]["type"] == "text" and messages[k + 1]["type"] == "text"
            ),
            None,
        )
        if i is None:
            messages = messages[-MAX_MESSAGES:]
            break
        merged = f"{messages[i]['text']}\n\n{messages[i + 1]['text']}"
        messages[i : i + 2] = [{"type": "text", "text": _clip(merged, MAX_TEXT)}]
    if buttons is not None and messages:
        messages[-1]["quickReply"] = buttons
    return messages


def render_payload(payload: Payload | Mapping[str, Any]) -> list[Json]:
    """An outbox payload (replies, or anything with a text) as LINE messages; a stored row's
    JSON is decoded first (bot.core.payloads)."""
    if isinstance(payload, Mapping):
        payload = from_json(payload)
    if isinstance(payload, Replies):
        return render(payload.replies, payload.business_date)
    text = text_of(payload)
    return render([Reply(text)], None) if text else []
