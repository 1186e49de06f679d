"""A member's settings that had only `nippo` commands, now in the console: consent (同意書),
the approval period (受給者証の支給決定期間), emergency contacts and 担当/代理. Each form goes
through the command's use case on the real app and database: a manager's change lands in the
stored row and the audit log, plain staff get 403, a form without its CSRF token 403, another
facility's member 404, and a mistake a kind Japanese page with nothing changed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import httpx
import pytest
from sqlalchemy import func, select

from bot.core import texts
from bot.services import consent
from storage.db import Database
from storage.models import AuditLog, Consent, Member
from tests.console.site import Site, build, csrf_of, sign_in


@pytest.fixture
async def site(db: Database) -> Site:
    return await build(db)


@pytest.fixture
async def manager(site: Site) -> AsyncIterator[httpx.AsyncClient]:
    c = await _signed_in(site, site.manager)
    yield c
    await c.aclose()


async def _signed_in(site: Site, staff_id: int) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=site.app())  # type: ignore[arg-type]
    c = httpx.AsyncClient(transport=transport, base_url="http://nippo")
    assert (await sign_in(c, await site.link(staff_id))).status_code == 200
    return c


def settings_path(member: int) -> str:
    return f"/console/members/{member}/settings"


async def form_csrf(c: httpx.AsyncClient, site: Site) -> str:
    page = await c.get(settings_path(site.member))
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


async def stored(site: Site, member_id: int | None = None) -> Member:
    async with site.db.transaction() as session:
        return await session.get_one(Member, member_id or site.member)


async def consent_rows(site: Site) -> list[Consent]:
    async with site.db.transaction() as session:
        return list((await consent.rows_of(session, [site.member]))[site.member])


async def audit_count(site: Site) -> int:
    async with site.db.transaction() as session:
        return int((await session.execute(select(func.count(AuditLog.id)))).scalar_one())


def refused(answer: httpx.Response, text: str) -> None:
    """The page again, 400, with the kind reason (HTML-escaped as the template renders it)."""
    assert answer.status_code == 400, answer.text
    shown = texts.CONSOLE_NOT_ACCEPTED.format(reason=text)
    assert shown.replace("'", "&#39;").replace('"', "&#34;") in answer.text, answer.text


# What each form sends when it is right; the permission tests reuse them.
FORMS: dict[str, dict[str, str]] = {
    "consent": {"cover_records": "1", "day": "2026-06-30"},
    "consent/withdraw": {"cover_records": "1", "day": "2026-07-01"},
    "approval": {"approval_from": "2026-04-01", "approval_until": "2027-03-31",
                 "approval_kind": "year"},
    "emergency-contacts": {"label": "家族", "name": "山田 花子", "phone": "090-1234-5678"},
    "emergency-contacts/remove": {"number": "1"},
    "assign": {"primary": "0"},  # filled in with a real staff id below
}  # fmt: skip


def filled(site: Site, path: str) -> dict[str, str]:
    form = dict(FORMS[path])
    if path == "assign":
        form["primary"] = str(site.staff)
    return form


async def test_the_forms_are_for_managers_with_their_csrf_token(
    site: Site, manager: httpx.AsyncClient
) -> None:
    member = site.member
    anonymous = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=site.app()),  # type: ignore[arg-type]
        base_url="http://nippo",
    )
    staff = await _signed_in(site, site.staff)
    staff_csrf = csrf_of((await staff.get("/console/")).text)
    assert (await staff.get(settings_path(member))).status_code == 403
    before, rows = await stored(site), len(await consent_rows(site))
    for path in FORMS:
        url = f"/console/members/{member}/{path}"
        form = filled(site, path)
        answer = await anonymous.post(url, data={**form, "csrf": "x"})
        assert answer.status_code == 401, path
        answer = await staff.post(url, data={**form, "csrf": staff_csrf})
        assert answer.status_code == 403, path
        assert texts.CONSOLE_MANAGERS_ONLY in answer.text
        assert (await manager.post(url, data=form)).status_code == 403, path  # no token
        answer = await manager.post(url, data={**form, "csrf": staff_csrf})  # another's token
        assert answer.status_code == 403 and texts.CONSOLE_CSRF in answer.text, path
    after = await stored(site)
    assert len(await consent_rows(site)) == rows
    assert (after.approval_from, after.approval_kind, after.emergency_contacts) == (
        before.approval_from, before.approval_kind, before.emergency_contacts
    )  # fmt: skip
    assert after.primary_staff_id == before.primary_staff_id

    # another facility's member is "not found", whatever the form says
    mine = await form_csrf(manager, site)
    theirs = site.other_member
    assert (await manager.get(settings_path(theirs))).status_code == 404
    for path in FORMS:
        url = f"/console/members/{theirs}/{path}"
        answer = await manager.post(url, data={**filled(site, path), "csrf": mine})
        assert answer.status_code == 404, path
    other = await stored(site, theirs)
    assert other.approval_from is None and not other.emergency_contacts
    assert other.primary_staff_id is None


async def test_a_manager_withdraws_and_records_consent(
    site: Site, manager: httpx.AsyncClient
) -> None:
    everything = "、".join(consent.COVER_LABELS.values())
    page = await manager.get(settings_path(site.member))
    assert f"今の同意: {everything}<" in page.text  # the site's member gave it on 6/1
    csrf = csrf_of(page.text)
    url = f"/console/members/{site.member}/consent"
    withdrawn = await manager.post(
        f"{url}/withdraw",
        data={"csrf": csrf, "cover_slack": "1", "day": "2026-07-01", "staff": str(site.staff)},
        follow_redirects=True,
    )  # fmt: skip
    assert withdrawn.status_code == 200 and texts.CONSOLE_SAVED in withdrawn.text
    assert "今の同意: 記録の保管と市への提出、写真・音声等の証拠保存<" in withdrawn.text
    first, rest = await consent_rows(site)
    assert first.withdrawn_on == date(2026, 7, 1)
    assert (rest.covers, rest.given_on, rest.withdrawn_on) == (
        ["records", "evidence"], date(2026, 7, 1), None
    )  # fmt: skip
    # `consent.withdraw` names the staff who took it (as `--staff` does); the audit log names
    # the manager who entered it
    assert rest.staff_id == site.staff and rest.entered_by == f"staff:{site.staff}"
    assert (
        "2026-07-01 記録の保管と市への提出、写真・音声等の証拠保存(受けた職員: 佐藤 花子)<"
        in withdrawn.text
    )

    saved = await manager.post(
        url, data={"csrf": csrf, "cover_slack": "1", "day": "2026-07-01"}, follow_redirects=True
    )
    assert saved.status_code == 200 and f"今の同意: {everything}<" in saved.text
    row = (await consent_rows(site))[-1]
    assert (row.covers, row.given_on, row.withdrawn_on) == (["slack"], date(2026, 7, 1), None)
    assert row.staff_id == site.manager  # nobody named: the one signed in took it
    assert row.entered_at == site.clock() and row.entered_by == f"staff:{site.manager}"
    assert (await stored(site)).consent_at == site.clock()
    [entry] = await site.audit("consent.record")
    assert (entry.actor, entry.target, entry.detail) == (
        f"staff:{site.manager}", f"member:{site.member}",
        {"covers": ["slack"], "given_on": "2026-07-01"},
    )  # fmt: skip
    [entry] = await site.audit("consent.withdraw")
    assert entry.detail == {"covers": ["slack"], "on": "2026-07-01"}

    # mistakes: nothing chosen, a day to come, not a date, nothing in force that day
    count = await audit_count(site)
    refused(
        await manager.post(url, data={"csrf": csrf, "day": "2026-06-30"}),
        texts.CONSOLE_CONSENT_PICK,
    )
    refused(
        await manager.post(url, data={"csrf": csrf, "cover_evidence": "1", "day": "2026-07-02"}),
        texts.CONSENT_DAY_IN_FUTURE.format(day="2026-07-02"),
    )
    refused(
        await manager.post(url, data={"csrf": csrf, "cover_evidence": "1", "day": "7/1"}),
        texts.SLACK_BAD_DATE,
    )
    refused(
        await manager.post(
            f"{url}/withdraw", data={"csrf": csrf, "cover_evidence": "1", "day": "2026-05-01"}
        ),
        texts.CONSENT_NONE_TO_WITHDRAW.format(name="山田 太郎", day="2026-05-01"),
    )
    assert len(await consent_rows(site)) == 3 and (await consent_rows(site))[-1].id == row.id
    # each refusal logged the page shown again, and no change
    assert await audit_count(site) == count + 4
    assert len(await site.audit("consent.record")) == 1


async def test_a_manager_sets_the_approval_period(site: Site, manager: httpx.AsyncClient) -> None:
    csrf = await form_csrf(manager, site)
    url = f"/console/members/{site.member}/approval"
    saved = await manager.post(
        url,
        data={"csrf": csrf, "approval_from": "2026-04-01", "approval_until": "2027-03-31",
              "approval_kind": "year"},
        follow_redirects=True,
    )  # fmt: skip
    assert saved.status_code == 200 and texts.CONSOLE_SAVED in saved.text
    m = await stored(site)
    assert (m.approval_from, m.approval_until, m.approval_kind) == (
        date(2026, 4, 1), date(2027, 3, 31), "year"
    )  # fmt: skip
    assert "今の期間: 2026-04-01〜2027-03-31(1年)" in saved.text
    assert 'name="approval_until" value="2027-03-31"' in saved.text
    [entry] = await site.audit("member.approval")
    assert (entry.actor, entry.target) == (f"staff:{site.manager}", f"member:{site.member}")

    # a three-month approval that runs longer; an end before the start; not a date
    too_long = await manager.post(
        url,
        data={"csrf": csrf, "approval_from": "2026-07-01", "approval_until": "2026-12-31",
              "approval_kind": "three_months"},
    )  # fmt: skip
    refused(
        too_long,
        texts.APPROVAL_THREE_MONTHS_TOO_LONG.format(start="2026-07-01", limit="2026-09-30"),
    )
    backwards = await manager.post(
        url, data={"csrf": csrf, "approval_from": "2026-04-01", "approval_until": "2026-03-01"}
    )
    refused(backwards, texts.APPROVAL_ORDER.format(start="2026-04-01", until="2026-03-01"))
    refused(
        await manager.post(url, data={"csrf": csrf, "approval_until": "来年3月"}),
        texts.SLACK_BAD_DATE,
    )
    m = await stored(site)
    assert (m.approval_from, m.approval_until, m.approval_kind) == (
        date(2026, 4, 1), date(2027, 3, 31), "year"
    )  # fmt: skip
    assert len(await site.audit("member.approval")) == 1


async def test_a_manager_adds_and_removes_emergency_contacts(
    site: Site, manager: httpx.AsyncClient
) -> None:
    csrf = await form_csrf(manager, site)
    url = f"/console/members/{site.member}/emergency-contacts"
    saved = await manager.post(
        url,
        data={"csrf": csrf, "label": "家族", "name": "山田 花子",
              "phone": "０９０－１２３４－５６７８", "note": "母"},
        follow_redirects=True,
    )  # fmt: skip
    assert saved.status_code == 200 and "家族: 山田 花子 090-1234-5678(母)" in saved.text
    await manager.post(url, data={"csrf": csrf, "label": "主治医", "phone": "0294-00-0000"})
    [first, second] = (await stored(site)).emergency_contacts or []
    assert (first["label"], first["name"], first["phone"], first["note"]) == (
        "家族", "山田 花子", "090-1234-5678", "母"
    )  # fmt: skip
    assert first["entered_by"] == f"staff:{site.manager}"
    assert first["entered_at"] == site.clock().isoformat()
    assert second["label"] == "主治医" and second["name"] == ""

    removed = await manager.post(
        f"{url}/remove", data={"csrf": csrf, "number": "1"}, follow_redirects=True
    )
    assert removed.status_code == 200 and "山田 花子" not in removed.text
    assert [c["label"] for c in (await stored(site)).emergency_contacts or []] == ["主治医"]
    assert [a.detail for a in await site.audit("emergency_contact.add")] == [
        {"number": 1}, {"number": 2}
    ]  # fmt: skip
    assert [a.detail for a in await site.audit("emergency_contact.remove")] == [{"number": 1}]

    # mistakes: not a phone number, nothing to call or visit, a number that is not there
    bad_phone = await manager.post(
        url, data={"csrf": csrf, "label": "家族", "name": "山田 花子", "phone": "夜なら"}
    )
    refused(bad_phone, texts.CONTACT_BAD_PHONE.format(phone="夜なら"))
    refused(await manager.post(url, data={"csrf": csrf, "label": "家族", "note": "母"}),
            texts.CONTACT_NAME_OR_PHONE)  # fmt: skip
    gone = await manager.post(f"{url}/remove", data={"csrf": csrf, "number": "5"})
    assert gone.status_code == 400
    contacts = (await stored(site)).emergency_contacts or []
    assert [(c["label"], c["phone"]) for c in contacts] == [("主治医", "0294-00-0000")]


async def test_a_manager_assigns_the_primary_and_substitute(
    site: Site, manager: httpx.AsyncClient
) -> None:
    csrf = await form_csrf(manager, site)
    url = f"/console/members/{site.member}/assign"
    saved = await manager.post(
        url, data={"csrf": csrf, "primary": str(site.staff), "substitute": str(site.manager)},
        follow_redirects=True,
    )  # fmt: skip
    assert saved.status_code == 200 and texts.CONSOLE_SAVED in saved.text
    m = await stored(site)
    assert (m.primary_staff_id, m.substitute_staff_id) == (site.staff, site.manager)
    assert f'<option value="{site.staff}" selected>佐藤 花子</option>' in saved.text
    [entry] = await site.audit("member.assign")
    assert entry.detail == {"primary": site.staff, "substitute": site.manager}

    cleared = await manager.post(url, data={"csrf": csrf, "primary": str(site.manager)})
    assert cleared.status_code == 303
    m = await stored(site)
    assert (m.primary_staff_id, m.substitute_staff_id) == (site.manager, None)

    # the same person twice, nobody, someone of another facility: nothing changes
    same = await manager.post(
        url, data={"csrf": csrf, "primary": str(site.staff), "substitute": str(site.staff)}
    )
    refused(same, texts.ASSIGN_SAME_SUBSTITUTE)
    refused(await manager.post(url, data={"csrf": csrf, "primary": ""}), texts.CONSOLE_ASSIGN_PICK)
    other = await manager.post(url, data={"csrf": csrf, "primary": str(site.other_staff)})
    assert other.status_code == 404 and "田中 次郎" not in other.text
    m = await stored(site)
    assert (m.primary_staff_id, m.substitute_staff_id) == (site.manager, None)
    assert len(await site.audit("member.assign")) == 2
