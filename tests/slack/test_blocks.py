"""Block Kit rendering is pure: any board, reply or alert stays within Slack's limits."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.slack import blocks as bk
from adapters.slack import home_blocks as hb
from bot.core.domain import Card, Choice, Reply, ReportSnapshot, ReportStatus
from bot.queries.board import AlertItem, Board, BoardRow
from tests.slack.fake_slack import MESSAGE_BLOCKS, VIEW_BLOCKS, check_blocks

DAY = date(2026, 7, 1)
AT = datetime(2026, 7, 1, 1, 0, tzinfo=UTC)
# Drawn text never contains the markers the test counts (# for members, § for alerts).
chars = st.characters(blacklist_characters="#§")
names = st.text(chars, min_size=1, max_size=300)
free = st.one_of(st.none(), st.text(chars, max_size=4000))


@st.composite
def rows(draw: st.DrawFn, i: int) -> BoardRow:
    status = draw(st.sampled_from(list(ReportStatus)))
    return BoardRow(
        member_id=i,
        name=f"#{i:03d}#" + draw(names),
        planned_start=time(10, 0),
        planned_end=time(15, 0),
        report=ReportSnapshot(
            business_date=DAY,
            status=status,
            start_at=AT if status is not ReportStatus.OPEN else None,
            health_start=draw(st.one_of(st.none(), st.integers(1, 5))),
            sleep_hours=draw(st.one_of(st.none(), st.floats(0, 24))),
            planned_work=draw(free),
            outputs=draw(free),
        ),
        overdue_minutes=draw(st.one_of(st.none(), st.integers(0, 24 * 60))),
        absence_note=draw(free),
    )


def alert(i: int, name: str) -> AlertItem:
    return AlertItem(
        alert_id=i,
        member_id=i,
        member_name=name,
        kind="low_health",
        title=f"§{i:03d}§",
        level="urgent",
        state="open",
        detail=name * 10,
        opened_at=AT,
        acked_by=None,
        acked_at=None,
    )


@settings(max_examples=40, deadline=None)
@given(st.data(), st.integers(0, 120), st.integers(0, 40))
def test_any_board_fits_and_shows_every_member_once(
    data: st.DataObject, n: int, n_alerts: int
) -> None:
    board = Board(
        facility_name=data.draw(names),
        tz="Asia/Tokyo",
        day=DAY,
        rows=tuple(data.draw(rows(i)) for i in range(n)),
        alerts=tuple(alert(i, data.draw(names)) for i in range(n_alerts)),
    )
    messages = bk.board_messages(board)
    for blocks in messages:
        check_blocks(blocks, MESSAGE_BLOCKS, "board")
    shown = "".join(str(b) for m in messages for b in m if b["type"] != "actions")  # not the menu
    for i in range(n):
        assert shown.count(f"#{i:03d}#") == 1
    for i in range(n_alerts):  # every open alert is listed too
        assert shown.count(f"§{i:03d}§") == 1
    assigned = [hb.Assigned(r.member_id, r.name) for r in board.rows]
    home = hb.home_view(board, board.alerts, waiting=board.alerts, assigned=assigned, manager=True)
    check_blocks(home["blocks"], VIEW_BLOCKS, "home")


@given(names)
def test_escaping_leaves_no_control_characters(text: str) -> None:
    out = bk.escape(text)
    assert "<" not in out and ">" not in out
    assert out.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "").count("&") == 0
    assert not any(ord(ch) in bk.BIDI_CONTROLS for ch in out)


def test_a_name_with_a_right_to_left_override_shows_as_typed_without_it() -> None:
    assert bk.escape("山田\u202e太郎\u2066") == "山田太郎"


def test_replies_become_text_card_and_dated_buttons() -> None:
    reply = Reply(
        "体調は <b>?",
        tuple(Choice(f"選択肢{i}" * 20, f"v:{i}") for i in range(30)),
        Card("今日", tuple((f"項目{i}", "値 & <x>") for i in range(14)), "メモ"),
    )
    blocks = bk.reply_blocks([reply, Reply("ありがとう")], DAY)
    check_blocks(blocks, MESSAGE_BLOCKS, "reply")
    assert blocks[0]["text"]["text"] == "体調は &lt;b&gt;?"
    actions = next(b for b in blocks if b["type"] == "actions")
    assert actions["elements"][0]["value"] == "2026-07-01|v:0"
    assert bk.parse_choice("2026-07-01|health:4") == (DAY, "health:4")
    assert bk.parse_choice("|start") == (None, "start")
    assert sum(len(b.get("fields", [])) for b in blocks) == 14


def test_resolve_modal_fits_slacks_limits() -> None:
    view = bk.resolve_modal(alert(1, "山田"), "{}")
    check_blocks(view["blocks"], VIEW_BLOCKS, "modal")
    assert all(len(view[k]["text"]) <= 24 for k in ("title", "submit", "close"))
