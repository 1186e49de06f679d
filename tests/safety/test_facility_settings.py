"""`nippo facility set`: crisis contacts, business hours, the ladder and the rest, validated
with a one-line error, stored on the facility and read back the way the bot reads them."""

from __future__ import annotations

import asyncio
import os
from datetime import datetime, time
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot.cli.main import app
from bot.core.hours import NATIONAL_CRISIS_CONTACTS, BusinessHours, crisis_contacts_from_json
from bot.core.policy import Ladder
from bot.services import admin
from bot.services.admin import AdminError, FacilityChanges
from storage.db import Database
from storage.models import Facility
from tests.support import run_cli as run


def _facility() -> Facility:
    async def go() -> Facility:
        database = Database(os.environ["DATABASE_URL"])
        try:
            async with database.transaction() as session:
                return (await session.scalars(select(Facility))).one()
        finally:
            await database.dispose()

    return asyncio.run(go())


def test_set_everything_and_read_it_back(cli_env: Path) -> None:
    run("facility", "init", "--name", "ひまわり")
    out = run(
        "facility", "set",
        "--crisis-contact", "ひまわり夜間窓口|06-1234-5678|18時〜翌9時",
        "--crisis-contact", "よりそいホットライン|0120-279-338|24時間",
        "--business-hours", "09:30-17:30",
        "--business-days", "mon,tue,wed,thu,fri,sat",
        "--ladder", "renotify_primary=5", "--ladder", "consult_promise=45",
        "--alert-channel", "C0123",
        "--ask-temperature",
        "--disclosure", "minimal",
    )  # fmt: skip
    assert "business hours: 09:30-17:30 mon,tue,wed,thu,fri,sat" in out
    assert "ひまわり夜間窓口 06-1234-5678 18時〜翌9時" in out
    assert "renotify_primary=5*" in out and "consult_promise=45*" in out
    assert "alert channel: C0123" in out and "disclosure: minimal" in out
    assert "ask temperature: yes" in out
    f = _facility()
    hours = BusinessHours.from_json(f.business_hours)
    assert (hours.opens, hours.closes, hours.weekdays) == (
        time(9, 30),
        time(17, 30),
        {0, 1, 2, 3, 4, 5},
    )
    contacts = crisis_contacts_from_json(f.crisis_contacts)
    assert [c.phone for c in contacts] == ["06-1234-5678", "0120-279-338"]
    ladder = Ladder.from_json(f.ladder)
    assert (ladder.renotify_primary, ladder.consult_promise, ladder.renotify_every) == (5, 45, 30)

    out = run("facility", "set", "--crisis-contact", "none", "--ladder", "renotify_primary=default")
    assert "crisis contacts: (national defaults)" in out and "renotify_primary=10 " in out
    f = _facility()
    assert f.crisis_contacts == [] and crisis_contacts_from_json(f.crisis_contacts) == (
        NATIONAL_CRISIS_CONTACTS
    )
    assert f.ladder == {"consult_promise": 45}
    assert run("facility", "set", "--no-ask-temperature").count("ask temperature: no") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--business-hours", "9時-18時"), "times are HH:MM"),
        (("--business-hours", "18:00-09:00"), "must close after it opens"),
        (("--business-hours", "09:00"), "HH:MM-HH:MM"),
        (("--business-days", "mon,funday"), "--business-days are mon,tue"),
        (("--ladder", "renotify_sometimes=5"), "--ladder is KEY=MINUTES"),
        (("--ladder", "renotify_every=soon"), "whole number"),
        (("--ladder", "renotify_primary=-5"), "cannot be negative"),
        (("--crisis-contact", "窓口だけ"), "名前|電話番号|受付時間"),
        (("--crisis-contact", "窓口|電話してね"), "does not look like a phone number"),
        (("--disclosure", "some"), "--disclosure is full or minimal"),
    ],
)
def test_a_bad_value_is_a_clear_one_line_error_and_changes_nothing(
    cli_env: Path, args: tuple[str, ...], message: str
) -> None:
    run("facility", "init", "--name", "ひまわり")
    result = CliRunner().invoke(app, ["facility", "set", "--ladder", "renotify_every=15", *args])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert _facility().ladder == {}


def test_update_facility_validates_before_it_changes_anything() -> None:
    f = Facility(name="x", ladder={}, business_hours={}, crisis_contacts=[], disclosure="full")
    with pytest.raises(AdminError):
        admin.update_facility(
            f, FacilityChanges(business_hours="10:00-16:00", ladder=["renotify_every=x"])
        )
    assert f.business_hours == {} and f.ladder == {}


async def test_the_new_columns_default_to_empty(db: Database, t0: datetime) -> None:
    async with db.transaction() as session:
        f = await admin.init_facility(session, name="ひまわり", now=t0)
    async with db.transaction() as session:
        f = await session.get_one(Facility, f.id)
    assert f.business_hours == {} and f.crisis_contacts == []
