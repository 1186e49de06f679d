"""`/nippo` for staff and managers: status, report, week, alerts, link, accounts, unlink, help.

Only registered staff get an answer with member data; everyone else gets a short refusal.
Every view of member data leaves an audit_log row. Answers are ephemeral unless shared.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.slack import blocks as bk
from adapters.slack import recordkeeping, web_link
from adapters.slack.answer import Answer, _say
from adapters.slack.deps import Deps
from adapters.slack.errors import slack_error
from adapters.slack.views import parse_day
from bot.core import texts
from bot.core.calendar import business_date
from bot.core.domain import StaffRole
from bot.queries import board
from bot.services import accounts, admin, consent
from bot.services.accounts import Account
from storage.models import Facility, Member, Staff

log = logging.getLogger(__name__)

NOT_A_MEMBER = {"channel_not_found", "not_in_channel"}
ALIASES = {
    "状況": "status",
    "日報": "report",
    "週": "week",
    "アラート": "alerts",
    "連携": "link",
    "アカウント": "accounts",
    "解除": "unlink",
    "ヘルプ": "help",
    "記録": "log",
    "評価": "eval",
    "月": "month",
    "出力": "export",
    "明日": "tomorrow",
}
MINE = ("mine", "担当")
RECORD_VERBS = {
    "log": recordkeeping.log_contact,
    "eval": recordkeeping.evaluation_form,
    "month": recordkeeping.month,
    "export": recordkeeping.export,
}


def register(bolt: AsyncApp, deps: Deps) -> None:
    @bolt.command("/nippo")
    async def nippo(
        ack: Any, command: dict[str, Any], client: AsyncWebClient, respond: Any
    ) -> None:
        await ack()  # Slack hears back at once; the answer follows as its own message
        answer = await run(deps, command)
        await post(client, respond, command, answer)


async def post(
    client: AsyncWebClient, respond: Any, command: dict[str, Any], answer: Answer
) -> None:
    """Post the answer as the bot; where the bot is not a member, through the response_url.
    Nothing fails silently: a failed upload or post is answered to the person who asked."""
    channel, user = command["channel_id"], command["user_id"]
    if answer.modal is not None:
        await client.views_open(trigger_id=command["trigger_id"], view=answer.modal)
    if answer.upload is not None:
        failed = await recordkeeping.upload(client, user, answer.upload)
        if failed is not None:  # said instead of 「出力しました」
            answer = _say(failed)
    for blocks in answer.messages:
        try:
            if answer.share:
                await client.chat_postMessage(channel=channel, text=answer.text, blocks=blocks)
            else:
                await client.chat_postEphemeral(
                    channel=channel, user=user, text=answer.text, blocks=blocks
                )
        except SlackApiError as exc:
            error = slack_error(exc)
            kind = "in_channel" if answer.share else "ephemeral"
            if error in NOT_A_MEMBER:
                await respond(text=answer.text, blocks=blocks, response_type=kind)
                continue
            log.warning("slack command answer failed: %s", error)
            text = texts.SLACK_POST_FAILED.format(error=bk.escape(error))
            await respond(text=text, blocks=[bk.section(text)], response_type="ephemeral")
            return


async def run(deps: Deps, command: dict[str, Any]) -> Answer:
    words = str(command.get("text") or "").replace("\u3000", " ").split()
    verb = ALIASES.get(words[0], words[0].lower()) if words else "help"
    args = words[1:]
    now = deps.clock()
    async with deps.db.transaction() as session:
        staff = await board.staff_by_slack(session, str(command.get("user_id")))
        if staff is None:
            log.info("slack command refused", extra={"slack_user": command.get("user_id")})
            return _say(texts.SLACK_NOT_STAFF)
        facility = await session.get_one(Facility, staff.facility_id)
        ctx = _Ctx(session, staff, facility, now, str(command.get("channel_id") or ""))
        if verb == "help":
            return _say(
                texts.SLACK_HELP + texts.SLACK_HELP_ACCOUNTS + texts.SLACK_HELP_RECORDS
                + texts.SLACK_HELP_CONSOLE
            )  # fmt: skip
        if verb == "web":
            return await web_link.answer(session, staff, now, deps.public_url)
        if verb == "status":
            return await ctx.status(args)
        if verb == "tomorrow":
            return await ctx.tomorrow()
        if verb == "report":
            return await ctx.report(args)
        if verb == "week":
            return await ctx.week(args)
        if verb == "alerts":
            return await ctx.alerts()
        if verb == "link":
            return await ctx.link(args)
        if verb == "accounts":
            return await ctx.accounts(args)
        if verb == "unlink":
            return await ctx.unlink(args)
        if verb in RECORD_VERBS:
            return await RECORD_VERBS[verb](ctx, args)
        return _say(texts.SLACK_UNKNOWN_COMMAND.format(word=bk.escape(words[0])))


@dataclass
class _Ctx:
    session: AsyncSession
    staff: Staff
    facility: Facility
    now: Any
    channel: str = ""  # where the command was typed

    @property
    def actor(self) -> str:
        return f"staff:{self.staff.id}"

    async def audit(self, action: str, target: str, **detail: object) -> None:
        await admin.audit(
            self.session, actor=self.actor, action=action, target=target, now=self.now, **detail
        )

    async def status(self, args: Sequence[str]) -> Answer:
        share = any(a.lower() in ("share", "共有") for a in args)
        mine = any(a.lower() in MINE for a in args)
        rest = [a for a in args if a.lower() not in ("share", "共有", *MINE)]
        if share and self.staff.role != "manager":
            return _say(texts.SLACK_MANAGERS_ONLY)
        if share and (
            not self.facility.alert_channel or self.channel != self.facility.alert_channel
        ):
            # everyone in a channel reads the board: only the facility's own staff channel
            return _say(texts.SLACK_SHARE_STAFF_CHANNEL_ONLY)
        day = business_date(self.facility.tz, self.now)
        if rest:
            parsed = parse_day(rest[0])
            if parsed is None:
                return _say(texts.SLACK_BAD_DATE)
            day = parsed
        b = await board.status_board(
            self.session, self.facility, day, self.now, staff_id=self.staff.id if mine else None
        )
        await self.audit(
            "slack.status",
            f"facility:{self.facility.id}",
            day=day.isoformat(),
            share=share,
            mine=mine,
        )
        return await self._board(b, share)

    async def tomorrow(self) -> Answer:
        """The next business day's 在宅 plan: who, and when they mean to start."""
        today = business_date(self.facility.tz, self.now)
        day = await board.next_business_day(self.session, self.facility, today)
        b = await board.status_board(self.session, self.facility, day, self.now)
        await self.audit("slack.tomorrow", f"facility:{self.facility.id}", day=day.isoformat())
        return await self._board(b, False)

    async def _board(self, b: board.Board, share: bool) -> Answer:
        full = self.facility.disclosure != "minimal"  # APPI: what Slack may hold is a setting
        # ... and each member's consent (bot.services.consent): answers only for those who agreed
        details = await consent.slack_detail_members(
            self.session, self.facility, [r.member_id for r in b.rows]
        )
        return Answer(bk.board_messages(b, full=full, details=details), bk.board_fallback(b), share)

    async def _member(self, query: Sequence[str], verb: str) -> Member | Answer:
        if not query:
            return _say(texts.SLACK_NEED_MEMBER.format(word=verb))
        text = " ".join(query)
        found = admin.match_members(await admin.list_members(self.session, self.facility), text)
        if not found:
            return _say(texts.SLACK_NO_MEMBER.format(query=bk.escape(text)))
        if len(found) > 1:
            names = "、".join(f"{bk.escape(m.name)}(id {m.id})" for m in found[:20])
            return _say(texts.SLACK_AMBIGUOUS.format(query=bk.escape(text), names=names))
        return found[0]

    async def report(self, args: Sequence[str]) -> Answer:
        day = business_date(self.facility.tz, self.now)
        query = list(args)
        if query and parse_day(query[-1]) is not None:
            day = parse_day(query.pop()) or day
        member = await self._member(query, "report")
        if isinstance(member, Answer):
            return member
        view = await board.report_view(self.session, member, day)
        await self.audit("slack.report", f"member:{member.id}", day=day.isoformat())
        messages = bk.report_blocks(view)
        footer = await recordkeeping.report_footer(self, member, day)
        if footer:
            messages = [*messages[:-1], *bk.split([messages[-1], footer])]
        return Answer(messages, texts.REPORT_TITLE.format(name=bk.escape(member.name), date=day))

    async def week(self, args: Sequence[str]) -> Answer:
        last = business_date(self.facility.tz, self.now)
        members: Sequence[Member]
        if args:
            found = await self._member(args, "week")
            if isinstance(found, Answer):
                return found
            members, target = [found], f"member:{found.id}"
        else:
            members, target = await admin.list_members(self.session, self.facility), ""
            target = f"facility:{self.facility.id}"
        rows = await board.week(self.session, self.facility, members, last)
        await self.audit("slack.week", target, last=last.isoformat())
        first = last - timedelta(days=6)
        title = texts.WEEK_TITLE.format(first=bk.md(first), last=bk.md(last))
        return Answer(bk.week_blocks(rows, self.facility.tz, detail=bool(args)), title)

    async def alerts(self) -> Answer:
        items = await board.open_alerts(self.session, self.facility)
        await self.audit("slack.alerts", f"facility:{self.facility.id}", count=len(items))
        text = texts.ALERTS_HEADER.format(count=len(items))
        return Answer(bk.alerts_messages(items, self.facility.tz), text)

    async def link(self, args: Sequence[str]) -> Answer:
        member = await self._member(args, "link")
        if isinstance(member, Answer):
            return member
        code = await admin.issue_link_code(self.session, member, self.now)
        await self.audit("slack.link_code", f"member:{member.id}")
        return _say(texts.SLACK_LINK_CODE.format(name=bk.escape(member.name), code=code))

    async def accounts(self, args: Sequence[str]) -> Answer:
        member = await self._member(args, "accounts")
        if isinstance(member, Answer):
            return member
        found = await accounts.accounts_of(self.session, member)
        await self.audit("slack.accounts", f"member:{member.id}", count=len(found))
        name = bk.escape(member.name)
        if not found:
            return _say(texts.SLACK_ACCOUNTS_NONE.format(name=name))
        lines = [f"*{texts.SLACK_ACCOUNTS_TITLE.format(name=name)}*"]
        lines.extend(self._account_line(a) for a in found)
        return _say("\n".join(lines))

    def _account_line(self, a: Account) -> str:
        if a.linked:
            state = texts.SLACK_ACCOUNT_LINKED if a.following else texts.SLACK_ACCOUNT_BLOCKED
        else:
            reason = texts.SLACK_ACCOUNT_REASONS.get(a.unlinked_reason or "", "")
            state = texts.SLACK_ACCOUNT_UNLINKED.format(when=self._at(a.unlinked_at), reason=reason)
        return texts.SLACK_ACCOUNT_LINE.format(
            platform=accounts.platform_label(a.platform),
            id=a.id,
            state=state,
            since=self._at(a.linked_at),
            seen=self._at(a.last_seen_at),
        )

    def _at(self, value: Any) -> str:
        if value is None:
            return texts.NOT_YET
        return str(value.astimezone(ZoneInfo(self.facility.tz)).strftime("%m/%d %H:%M"))

    async def unlink(self, args: Sequence[str]) -> Answer:
        if self.staff.role != StaffRole.MANAGER.value:
            return _say(texts.SLACK_MANAGERS_ONLY)
        query = list(args)
        scope = query[-1].lower() if query else ""
        platform, all_ = None, False
        if len(query) > 1 and scope in (*accounts.PLATFORMS, "all", "すべて", "全部"):
            query.pop()
            platform = scope if scope in accounts.PLATFORMS else None
            all_ = platform is None
        member = await self._member(query, "unlink")
        if isinstance(member, Answer):
            return member
        name = bk.escape(member.name)
        try:
            done = await accounts.unlink(
                self.session, member, self.now, actor=self.actor, platform=platform, all_=all_
            )
        except accounts.UnlinkWhich as exc:
            labels = "・".join(accounts.platform_label(p) for p in exc.platforms)
            return _say(texts.SLACK_UNLINK_WHICH.format(name=name, platforms=labels))
        if not done:
            return _say(texts.SLACK_UNLINK_NOTHING.format(name=name))
        labels = "・".join(dict.fromkeys(accounts.platform_label(i.platform) for i in done))
        return _say(texts.SLACK_UNLINKED.format(name=name, platforms=labels, count=len(done)))
