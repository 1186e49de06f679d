"""App Home: today's board for the staff member's facility and the alerts they hold."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import blocks as bk
from adapters.slack.deps import Deps
from bot.core.calendar import business_date
from bot.queries import board
from bot.services import admin, consent
from storage.models import Facility


def register(bolt: AsyncApp, deps: Deps) -> None:
    @bolt.event("app_home_opened")
    async def on_home(event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        user = str(event["user"])
        view = await home_for(deps, user)
        await client.views_publish(user_id=user, view=view)


async def home_for(deps: Deps, user: str) -> bk.Block:
    now = deps.clock()
    async with deps.db.transaction() as session:
        staff = await board.staff_by_slack(session, user)
        if staff is None:
            return bk.home_view(None, [])
        facility = await session.get_one(Facility, staff.facility_id)
        day = business_date(facility.tz, now)
        b = await board.status_board(session, facility, day, now)
        mine = await board.open_alerts(session, facility, acked_by=staff.id)
        # what Slack may show is the facility's setting and each member's consent (APPI)
        details = await consent.slack_detail_members(
            session, facility, [r.member_id for r in b.rows]
        )
        await admin.audit(
            session,
            actor=f"staff:{staff.id}",
            action="slack.home",
            target=f"facility:{facility.id}",
            now=now,
            day=day.isoformat(),
        )
    return bk.home_view(b, mine, full=facility.disclosure != "minimal", details=details)
