"""Whatever reaches POST /slack/events — forged, stale, malformed, nested — never breaks it.

A hypothesis fuzz over bodies (JSON events, slash-command forms, interactivity payloads,
random bytes, deeply nested JSON), content types and signatures: never a 5xx, and a refused
request (401) changes no table.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlencode

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from storage.db import Database
from storage.models import InboxEvent
from tests.faults.rows import all_counts
from tests.slack.conftest import Rig, sign

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=15,
)
events = st.fixed_dictionaries(
    {"type": st.sampled_from(["event_callback", "url_verification", "app_rate_limited", "x"])},
    optional={
        "team_id": st.sampled_from(["T111", "T999", ""]),
        "event_id": st.text(max_size=12),
        "challenge": st.text(max_size=12),
        "event": st.fixed_dictionaries(
            {"type": st.sampled_from(["message", "app_home_opened", "app_mention", "?"])},
            optional={
                "channel_type": st.sampled_from(["im", "channel"]),
                "user": st.sampled_from(["U_STAFF1", "U_MEMBER", "U_NOBODY"]),
                "text": st.text(max_size=60),
                "bot_id": st.text(max_size=5),
            },
        ),
    },
).map(lambda e: (json.dumps(e).encode(), "application/json"))
commands = st.fixed_dictionaries(
    {
        "command": st.sampled_from(["/nippo", "/other"]),
        "text": st.text(max_size=60),
        "user_id": st.sampled_from(["U_STAFF1", "U_MGR", "U_NOBODY"]),
        "team_id": st.just("T111"),
        "channel_id": st.sampled_from(["C_ALERTS", "D1"]),
    },
).map(lambda f: (urlencode(f).encode(), "application/x-www-form-urlencoded"))
interactions = json_values.map(
    lambda v: (urlencode({"payload": json.dumps(v)}).encode(), "application/x-www-form-urlencoded")
)
nested = st.integers(min_value=100, max_value=5000).map(
    lambda n: (("[" * n + "]" * n).encode(), "application/json")
)
garbage = st.tuples(
    st.binary(max_size=200), st.sampled_from(["application/json", "text/plain", ""])
)
requests = st.one_of(events, commands, interactions, nested, garbage)


async def settled(db: Database, within: float = 10.0) -> dict[str, int]:
    """The rows of every table once an earlier example's work after its ack is over: no
    stored event waits to be handled, and two counts 50 ms apart agree (a slash command's
    listener runs after bolt's ack and writes its audit entry then, outside the inbox)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    last: dict[str, int] | None = None
    while True:
        async with db.transaction() as session:
            waiting = await session.scalar(
                select(func.count()).where(InboxEvent.status == "pending")
            )
        counts = await all_counts(db)
        if not waiting and counts == last:
            return counts
        assert loop.time() < deadline, f"{waiting} events still pending, or rows still written"
        last = counts
        await asyncio.sleep(0.05)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(request=requests, signed=st.booleans())
@example(  # valid for Python's json, not JSON: refused, not stored (PostgreSQL refuses NaN)
    request=(
        b'{"type":"event_callback","team_id":"T111","event_id":"Ev1","event":{"type":"message",'
        b'"channel_type":"im","user":"U_MEMBER","text":"hi","ts":"1.2","n":NaN}}',
        "application/json",
    ),
    signed=True,
)
async def test_fuzzed_requests_never_5xx_and_refusals_change_nothing(
    rig: Rig, request: tuple[bytes, str], signed: bool
) -> None:
    body, content_type = request
    before = await settled(rig.db)  # an earlier example's work after its ack writes on
    signature = None if signed else sign(body, "1700000000", "wrong-secret")
    response = await rig.post(body, content_type, signature=signature)
    assert response.status_code < 500, response.text
    if not signed:
        assert response.status_code == 401
        assert await all_counts(rig.db) == before
