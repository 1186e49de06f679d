"""Rendering neutral replies for LINE (pure): limits, postback data, Flex cards, the schema."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from adapters.line.render import (
    MAX_QUICK_REPLIES,
    decode_postback,
    encode_postback,
    render,
    render_payload,
)
from bot.core import texts
from bot.core.domain import Card, Choice, Reply, reply_to_json
from tests.line.schema import check_body

DAY = date(2026, 7, 1)


def push(messages: list[dict[str, object]]) -> dict[str, object]:
    body = {"to": "U1", "messages": messages}
    check_body(body, "/v2/bot/message/push")
    return body


def test_buttons_become_versioned_dated_postbacks_the_member_sees() -> None:
    msgs = render([Reply(texts.ASK_HEALTH, texts.HEALTH_CHOICES)], DAY)
    push(msgs)
    items = msgs[0]["quickReply"]["items"]
    assert items[1]["action"] == {
        "type": "postback",
        "label": "🙂 4 良い",
        "data": "v1|2026-07-01|health:4",
        "displayText": "🙂 4 良い",
    }


def test_at_most_13_buttons_with_labels_of_20_characters() -> None:
    many = tuple(
        Choice(f"とても長い作業の名前その{i}です、本当に長い", f"task:{i}") for i in range(20)
    )
    msgs = render([Reply("どれにしますか?", many)], DAY)
    push(msgs)
    items = msgs[0]["quickReply"]["items"]
    assert len(items) == MAX_QUICK_REPLIES
    assert all(len(i["action"]["label"]) <= 20 for i in items)
    assert items[0]["action"]["label"].endswith("…")


def test_card_becomes_a_flex_bubble_with_readable_alt_text() -> None:
    card = Card(
        "10:02 開始 記録しました", (("体調(朝)", "4 良い"), ("睡眠", "7時間")), "修正できます"
    )
    msgs = render([Reply("10:02 開始を記録しました。", (texts.FIX,), card)], DAY)
    push(msgs)
    assert [m["type"] for m in msgs] == ["text", "flex"]
    assert (
        msgs[1]["altText"] == "10:02 開始 記録しました\n体調(朝): 4 良い\n睡眠: 7時間\n修正できます"
    )
    assert "quickReply" in msgs[1] and "quickReply" not in msgs[0]
    # A card whose text is its title is not said twice; an empty card still renders.
    only = render([Reply("7/1 の記録", (), Card("7/1 の記録", ()))], DAY)
    push(only)
    assert [m["type"] for m in only] == ["flex"]


def test_more_than_five_messages_are_merged_and_buttons_stay_last() -> None:
    replies = [Reply(f"お知らせ{i}") for i in range(7)] + [Reply("どうぞ", (texts.START,))]
    msgs = render(replies, DAY)
    push(msgs)
    assert len(msgs) == 5
    joined = "\n".join(m["text"] for m in msgs)
    assert all(f"お知らせ{i}" in joined for i in range(7))
    assert msgs[-1]["quickReply"]["items"][0]["action"]["data"] == "v1|2026-07-01|start"


def test_payload_from_the_outbox_renders() -> None:
    payload = {
        "kind": "replies",
        "replies": [reply_to_json(Reply(texts.LINK_PROMPT))],
    }
    assert render_payload(payload) == [{"type": "text", "text": texts.LINK_PROMPT}]
    assert render_payload({"kind": "reminder", "text": "おはようございます"})[0]["text"]
    assert render_payload({"kind": "unknown"}) == []


@given(
    value=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=100),
    day=st.none() | st.dates(),
)
def test_postback_data_round_trips(value: str, day: date | None) -> None:
    decoded = decode_postback(encode_postback(value, day))
    assert decoded is not None and decoded.value == value and decoded.day == day


def test_foreign_or_old_postback_data_is_not_ours() -> None:
    for data in ("action=buyItem&itemId=123", "v0|2026-07-01|start", "v1|yesterday|start", "v1||"):
        assert decode_postback(data) is None
