"""Neutral replies → LINE message objects (plain JSON dicts, as they go on the wire).

Pure functions. Buttons become quick-reply postbacks whose data carries a version and the
business date they were made for (`v1|2026-07-01|health:4`), so a button pressed on a later
day is recognised as stale instead of being applied to today. A reply with a Card becomes a
Flex bubble whose `altText` reads like the card (notifications and old clients show it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from bot.core import texts
from bot.core.domain import Card, Choice, Reply
from bot.core.payloads import Payload, Replies, from_json, text_of

POSTBACK_VERSION = "v1"
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
    data = f"{POSTBACK_VERSION}|{day.isoformat() if day else ''}|{value}"
    if len(data) > MAX_DATA:
        raise ValueError("postback data too long")
    return data


def decode_postback(data: str) -> Postback | None:
    """Our own postback data, or None for anything else (old formats, foreign buttons)."""
    parts = data.split("|", 2)
    if len(parts) != 3 or parts[0] != POSTBACK_VERSION or not parts[2]:
        return None
    day: date | None = None
    if parts[1]:
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


def _text(s: str, **style: Any) -> Json:
    return {"type": "text", "text": s or "-", "wrap": True, **style}


def bubble(card: Card) -> Json:
    rows = [
        {
            "type": "box",
            "layout": "baseline",
            "spacing": "sm",
            "contents": [
                _text(label, size="sm", color="#888888", flex=3),
                _text(value, size="sm", color="#333333", flex=5),
            ],
        }
        for label, value in card.rows
    ] or [_text(texts.CARD_EMPTY, size="sm", color="#888888")]
    out: Json = {
        "type": "bubble",
        "header": {
            "type": "box",
            "layout": "vertical",
            "contents": [_text(card.title, weight="bold", size="md")],
        },
        "body": {"type": "box", "layout": "vertical", "spacing": "sm", "contents": rows},
    }
    if card.footer:
        out["footer"] = {
            "type": "box",
            "layout": "vertical",
            "contents": [_text(card.footer, size="xs", color="#888888")],
        }
    return out


def messages_for(reply: Reply, day: date | None) -> list[Json]:
    """One neutral reply as LINE messages: its text, then its card as a Flex bubble."""
    out: list[Json] = []
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
