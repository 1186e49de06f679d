"""A facility as the console tests find it: two facilities, a manager and a staff member in
A, a staff member in B, a member in each, a 日報 entered from a staff call and an open alert,
all made through the use cases; and a signed-in browser as `httpx` or Playwright sees it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, time

import httpx
from sqlalchemy import select

from bot.app.settings import Settings
from bot.app.web import create_app
from bot.core.domain import AlertLevel
from bot.services import alerting, console_auth, records
from storage.db import Database
from storage.models import AuditLog, Facility, Member, Staff
from tests.factories import make_facility, make_member, make_staff
from tests.support import FakeClock, jst

DAY = date(2026, 7, 1)  # a Wednesday; the clock stands at 16:00 JST that day
SECRET = "console-test-secret-0123456789abcdef"


@dataclass
class Site:
    db: Database
    clock: FakeClock
    facility: int
    manager: int
    staff: int
    member: int
    other_staff: int  # of facility B
    other_member: int  # of facility B
    alert: int

    def app(self, **settings: object) -> object:
        values: dict[str, object] = {
            "database_url": self.db.url,
            "scheduler_enabled": False,
            "console_session_secret": SECRET,
            **settings,
        }
        return create_app(Settings(**values), self.db, clock=self.clock)  # type: ignore[arg-type]

    async def link(self, staff_id: int, base_url: str = "http://nippo") -> str:
        async with self.db.transaction() as session:
            staff = await session.get_one(Staff, staff_id)
            return await console_auth.issue_link(
                session, staff, self.clock(), issued_by="test", base_url=base_url
            )

    async def audit(self, action: str) -> list[AuditLog]:
        async with self.db.transaction() as session:
            stmt = select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)
            return list((await session.execute(stmt)).scalars())


async def build(db: Database) -> Site:
    t0 = jst("2026-06-01", "09:00")
    facility = await make_facility(db, t0)
    manager = await make_staff(db, facility, t0, "鈴木 一郎", slack_user="U_MGR", role="manager")
    staff = await make_staff(db, facility, t0, "佐藤 花子", slack_user="U_STAFF")
    member = await make_member(db, facility, t0, "山田 太郎")
    other = await make_facility(db, t0, name="別の事業所")
    other_staff = await make_staff(db, other, t0, "田中 次郎", slack_user="U_OTHER")
    other_member = await make_member(db, other, t0, "高橋 三郎", kana="たかはし さぶろう")
    now = jst("2026-07-01", "16:00")
    async with db.transaction(actor="test") as session:
        await records.create_report_from_contact(
            session, member, staff, day=DAY, method="電話", text="電話で作業の様子を確認",
            at=jst("2026-07-01", "15:10"), now=now,
            confirmed=records.Confirmed(
                start=time(10, 0), end=time(15, 0), work="データ入力", outputs="入力120件",
                health=4,
            ),
        )  # fmt: skip
        alert = await alerting.raise_alert(
            session, facility=await session.get_one(Facility, facility),
            member=await session.get_one(Member, member), day=DAY, kind="low_health",
            level=AlertLevel.URGENT, detail="体調 2", key="test:low_health", now=now,
        )  # fmt: skip
    assert alert is not None
    return Site(db, FakeClock(now), facility, manager, staff, member, other_staff, other_member,
                alert)  # fmt: skip


CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, link: str) -> httpx.Response:
    """Open the link and press its button, as a person does; the board comes back."""
    path = link.removeprefix(str(client.base_url))
    page = await client.get(path)
    assert page.status_code == 200, page.text
    token = path.rsplit("/", 1)[1]
    return await client.post("/console/login", data={"token": token}, follow_redirects=True)
