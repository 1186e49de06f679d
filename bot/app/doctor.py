"""`nippo doctor`: is this installation wired correctly? Each check answers one question
(the database, LINE, Slack, the public URL, the clock, the facility) with a `Check`; the CLI
prints them in order and exits 1 when any failed. Network calls use short timeouts, and a
failure of any kind becomes a failed check, never a traceback.

The public URL is asked from this machine the way LINE and Slack will ask it (DNS, the
certificate, the proxy or tunnel, then Nippo): `/healthz` must answer with Nippo's JSON and
`/slack/events` must refuse an unsigned request with 401, as Nippo's Slack endpoint does."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from adapters.line.richmenu import NAME as RICH_MENU_NAME
from adapters.slack import manifest as slack_manifest
from bot.app.settings import Settings
from storage.db import Database, alembic_config
from storage.models import Facility, Identity, Member, Schedule, Staff

TIMEOUT = httpx.Timeout(5.0)
CLOCK_TOLERANCE = timedelta(minutes=2)
# The bot token scopes the app manifest (slack/manifest.yml) asks for: one list.
SLACK_SCOPES = slack_manifest.bot_scopes()


@dataclass(frozen=True)
class Check:
    """One line of the report. `ok`: True ✔, False ✘, None neutral (off, or a warning)."""

    name: str
    ok: bool | None
    message_ja: str
    next_step_ja: str = ""


def render(check: Check) -> str:
    mark = {True: "✔", False: "✘", None: "–"}[check.ok]
    line = f"{mark} {check.name}: {check.message_ja}"
    return f"{line} → {check.next_step_ja}" if check.next_step_ja else line


def failed(checks: Sequence[Check]) -> bool:
    return any(c.ok is False for c in checks)


# --- the database ------------------------------------------------------------------------


def head_revision(url: str) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def _current_revision(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def judge_migration(current: str | None, head: str | None) -> Check:
    if current == head:
        return Check("データベース", True, f"接続でき、最新の状態です（{head}）")
    return Check(
        "データベース",
        False,
        f"接続できましたが、更新が済んでいません（現在 {current or 'なし'}、最新 {head}）",
        "`nippo db upgrade` を実行してください",
    )


def _unreachable(exc: Exception) -> Check:
    return Check(
        "データベース",
        False,
        f"接続できません（{type(exc).__name__}）",
        "DATABASE_URL の値と、データベースが起動しているかを確かめてください",
    )


def open_database(url: str) -> Database | Check:
    """The database handle, or the failed check when even that cannot be made (a SQLite
    path whose folder cannot be created, a malformed URL)."""
    try:
        return Database(url, actor="cli")
    except Exception as exc:
        return _unreachable(exc)


async def database_check(database: Database) -> Check:
    try:
        current = await database.run_sync(_current_revision)
    except Exception as exc:  # any driver error: the point is to say so in one line
        return _unreachable(exc)
    return judge_migration(current, head_revision(database.url))


# --- LINE --------------------------------------------------------------------------------


def _network_failure(name: str, exc: Exception, what: str) -> Check:
    return Check(
        name,
        False,
        f"{what}に届きません（{type(exc).__name__}）",
        "接続先と通信環境を確かめてください",
    )


def half_configured(platform: str, missing: str) -> Check:
    """One credential of a pair: `nippo serve` leaves the platform off until both are set."""
    return Check(
        platform,
        False,
        f"{missing} が未設定のため、{platform} は動きません",
        f".env の {missing} に値を入れてください",
    )


async def line_checks(settings: Settings, client: httpx.AsyncClient) -> list[Check]:
    name = "LINE"
    if settings.line_channel_access_token is None:
        return [Check(name, None, "設定がないため使いません（off）")]
    if settings.line_channel_secret is None:
        return [half_configured(name, "LINE_CHANNEL_SECRET")]
    base = settings.line_api_base_url.rstrip("/")
    auth = {"Authorization": f"Bearer {settings.line_channel_access_token.get_secret_value()}"}
    try:
        info = await client.get(f"{base}/v2/bot/info", headers=auth)
        if info.status_code != 200:
            return [
                Check(
                    f"{name} トークン",
                    False,
                    f"チャネルアクセストークンが受け付けられません（HTTP {info.status_code}）",
                    "LINE Developers で発行したトークンを"
                    " LINE_CHANNEL_ACCESS_TOKEN に設定してください",
                )
            ]
        checks = [
            Check(f"{name} トークン", True, f"有効です（{info.json().get('displayName', '')}）")
        ]
        hook = await client.get(f"{base}/v2/bot/channel/webhook/endpoint", headers=auth)
        checks.append(judge_line_webhook(hook.status_code, _json(hook), settings.public_url))
        if checks[-1].ok:
            test = await client.post(f"{base}/v2/bot/channel/webhook/test", headers=auth, json={})
            checks.append(judge_webhook_test(test.status_code, _json(test)))
        checks.append(await rich_menu_check(client, base, auth))
    except httpx.HTTPError as exc:
        return [_network_failure(name, exc, "LINE の API ")]
    return checks


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def judge_line_webhook(status: int, body: dict[str, Any], public_url: str | None) -> Check:
    name = "LINE Webhook"
    endpoint = str(body.get("endpoint") or "")
    if status != 200 or not endpoint:
        wanted = f"{public_url.rstrip('/')}/callback/line" if public_url else None
        return Check(
            name,
            False,
            "Webhook URL が設定されていません",
            "LINE Developers の Messaging API 設定で"
            f" {wanted or 'https://（公開ホスト）/callback/line'} を設定してください",
        )
    if not body.get("active"):
        return Check(
            name,
            False,
            f"{endpoint} は設定済みですが、オフです",
            "「Webhookの利用」をオンにしてください",
        )
    if public_url and not endpoint.startswith(public_url.rstrip("/") + "/"):
        return Check(
            name,
            False,
            f"{endpoint} が PUBLIC_URL（{public_url}）と一致しません",
            "どちらかを正しい公開 URL に合わせてください",
        )
    return Check(name, True, f"{endpoint} が設定され、オンです")


def judge_webhook_test(status: int, body: dict[str, Any]) -> Check:
    name = "LINE Webhook テスト"
    if status == 200 and body.get("success"):
        return Check(name, True, "LINE からの試し送信に Nippo が応答しました")
    detail = body.get("detail") or body.get("reason") or body.get("message") or f"HTTP {status}"
    return Check(
        name,
        False,
        f"LINE からの試し送信が届きませんでした（{detail}）",
        "`nippo serve` が動いていて、公開 URL から届くかを確かめてください",
    )


async def rich_menu_check(client: httpx.AsyncClient, base: str, auth: dict[str, str]) -> Check:
    """The default rich menu set through the API, and whether it is Nippo's own."""
    menu = await client.get(f"{base}/v2/bot/user/all/richmenu", headers=auth)
    menu_id = str(_json(menu).get("richMenuId") or "") if menu.status_code == 200 else ""
    name: str | None = None
    if menu_id:
        detail = await client.get(f"{base}/v2/bot/richmenu/{menu_id}", headers=auth)
        name = str(_json(detail).get("name") or "") if detail.status_code == 200 else None
    return judge_rich_menu(menu.status_code, menu_id, name)


def judge_rich_menu(status: int, menu_id: str = "", name: str | None = None) -> Check:
    label = "LINE リッチメニュー"
    if status == 200 and menu_id:
        if name == RICH_MENU_NAME:
            return Check(label, True, f"Nippo のメニューが既定に設定されています（{menu_id}）")
        return Check(label, True, f"既定のリッチメニューが設定されています（{menu_id}）")
    if status not in (200, 404):
        return Check(label, None, f"既定のリッチメニューを確認できませんでした（HTTP {status}）")
    return Check(
        label,
        None,
        "既定のリッチメニューはまだありません（LINE Official Account Manager で作ったメニューは"
        "ここからは見えません。なくても使えます）",
        "`nippo line richmenu install` で、開始・終了・休み・相談・今日の記録・ヘルプの"
        "メニューを設定できます（docs/line.md）",
    )


# --- Slack -------------------------------------------------------------------------------


async def slack_checks(
    settings: Settings, client: httpx.AsyncClient, alert_channels: Sequence[str]
) -> list[Check]:
    name = "Slack"
    if settings.slack_bot_token is None:
        if settings.slack_app_token is not None:
            return [half_configured(name, "SLACK_BOT_TOKEN")]
        return [Check(name, None, "設定がないため使いません（off）")]
    if settings.slack_signing_secret is None and settings.slack_app_token is None:
        return [half_configured(name, "SLACK_SIGNING_SECRET")]
    base = settings.slack_api_base_url.rstrip("/")
    auth = {"Authorization": f"Bearer {settings.slack_bot_token.get_secret_value()}"}
    try:
        test = await client.post(f"{base}/auth.test", headers=auth)
        body = _json(test)
        if not body.get("ok"):
            return [
                Check(
                    f"{name} トークン",
                    False,
                    f"ボットトークンが受け付けられません（{body.get('error', test.status_code)}）",
                    "Slack アプリの Bot User OAuth Token（xoxb-…）を"
                    " SLACK_BOT_TOKEN に設定してください",
                )
            ]
        checks = [
            Check(f"{name} トークン", True, f"有効です（ワークスペース {body.get('team_id', '')}）")
        ]
        checks.append(judge_scopes(test.headers.get("x-oauth-scopes")))
        for channel in alert_channels:
            info = await client.post(
                f"{base}/conversations.info", headers=auth, data={"channel": channel}
            )
            checks.append(judge_channel(channel, _json(info)))
        if settings.slack_app_token is not None:
            app_auth = {"Authorization": f"Bearer {settings.slack_app_token.get_secret_value()}"}
            opened = await client.post(f"{base}/apps.connections.open", headers=app_auth)
            checks.append(judge_socket_mode(_json(opened)))
    except httpx.HTTPError as exc:
        return [_network_failure(name, exc, "Slack の API ")]
    return checks


def judge_scopes(header: str | None) -> Check:
    name = "Slack 権限"
    if header is None:
        return Check(name, None, "権限の一覧が返りませんでした（確かめられません）")
    granted = {s.strip() for s in header.split(",")}
    missing = [s for s in SLACK_SCOPES if s not in granted]
    if missing:
        return Check(
            name,
            False,
            f"足りない権限があります: {', '.join(missing)}",
            "OAuth & Permissions で追加し、アプリを再インストールしてください（docs/slack.md）",
        )
    return Check(name, True, "必要な権限がそろっています")


def judge_socket_mode(body: dict[str, Any]) -> Check:
    """SLACK_APP_TOKEN: Slack hands out a Socket Mode address for it (one nobody uses)."""
    name = "Slack ソケットモード"
    if body.get("ok") and body.get("url"):
        return Check(name, True, "アプリレベルトークンで接続できます")
    return Check(
        name,
        False,
        f"アプリレベルトークンが受け付けられません（{body.get('error', '不明')}）",
        "Basic Information → App-Level Tokens で connections:write のトークン（xapp-…）を作り、"
        "SLACK_APP_TOKEN に設定してください。Socket Mode も有効にしてください（docs/slack.md）",
    )


def judge_channel(channel: str, body: dict[str, Any]) -> Check:
    name = f"Slack チャンネル {channel}"
    if not body.get("ok"):
        return Check(
            name,
            False,
            f"チャンネルが見つかりません（{body.get('error', '不明')}）",
            "`nippo facility set --alert-channel` のチャンネル ID を確かめてください",
        )
    if not (body.get("channel") or {}).get("is_member"):
        return Check(
            name,
            False,
            "ボットがチャンネルに参加していません",
            "チャンネルで `/invite @Nippo` を実行してください",
        )
    return Check(name, True, "ボットが参加しています")


# --- the public URL and the clock -------------------------------------------------------


def public_url_check(public_url: str | None) -> Check:
    """The string rule alone: LINE and Slack call HTTPS only. Whether the address answers
    is `public_url_answer_check`, kept apart so an http:// address that answers says both."""
    name = "公開 URL"
    if not public_url:
        return Check(name, None, "PUBLIC_URL が未設定のため確かめません")
    parts = urlsplit(public_url)
    if parts.scheme != "https" or not parts.hostname:
        return Check(
            name,
            False,
            f"{public_url} は HTTPS ではありません",
            "LINE と Slack は HTTPS の URL にしか送りません。https:// で始まる URL にしてください",
        )
    return Check(name, True, f"{public_url}（HTTPS）")


def reachable_base(public_url: str | None) -> str | None:
    """PUBLIC_URL without its trailing slash when it can be asked at all (http or https with
    a host name); None otherwise (unset, or a string the HTTPS rule already fails)."""
    if not public_url:
        return None
    parts = urlsplit(public_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return public_url.rstrip("/")


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = exc
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


def unreached(exc: httpx.HTTPError, url: str) -> tuple[str, str]:
    """What stopped a request to our own public address, and what to do, in words an IT
    helper can act on: the certificate, the host name, a timeout, or nothing listening."""
    host = urlsplit(url).hostname or url
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLError):
            reason = getattr(cause, "verify_message", None) or getattr(cause, "reason", None)
            return (
                f"{url} の証明書を確かめられません（{reason or type(cause).__name__}）",
                "証明書が取れているかを確かめてください（Caddy なら `docker compose logs caddy`。"
                "ホスト名の DNS がこのサーバーを指し、ポート 80 と 443 が開いていること）。"
                "LINE と Slack は正しい証明書の HTTPS にしか送りません",
            )
        if isinstance(cause, socket.gaierror):
            return (
                f"ホスト名 {host} が見つかりません",
                "DNS でホスト名がこのサーバーを指しているか、"
                "クイックトンネルならアドレスが変わっていないかを確かめてください",
            )
    if isinstance(exc, httpx.TimeoutException):
        return (
            f"{url} が {TIMEOUT.read or 0:g} 秒以内に応答しません",
            "ファイアウォールでポート 443 が開いているか、Nippo が動いているかを確かめてください",
        )
    if isinstance(exc, httpx.ConnectError):
        return (
            f"{url} に接続できません（{type(exc).__name__}）",
            "Nippo（`nippo serve` または `docker compose up -d`）と、前に置いた Caddy や"
            "トンネルが動いているか、ポートが開いているかを確かめてください",
        )
    return (
        f"{url} に届きません（{type(exc).__name__}）",
        "公開 URL と通信環境を確かめてください",
    )


NOT_NIPPO = (
    "PUBLIC_URL が Nippo を指しているかを確かめてください"
    '（Nippo は /healthz に {"status": "ok", …} と答えます）'
)
BEHIND_THE_PROXY = (
    "Nippo（`nippo serve` または `docker compose up -d`）が動いているか、"
    "プロキシの転送先（Caddy なら app:8000、トンネルなら --url）が合っているかを確かめてください"
)


def _status_problem(status: int, location: str | None) -> tuple[str, str]:
    """An HTTP answer that is not Nippo's: what came back, and the likely fix."""
    if 300 <= status < 400:
        return (
            f"HTTP {status} で {location or '別の URL'} へ転送されました",
            "PUBLIC_URL は転送先ではなく、Nippo に直接届く https:// の URL にしてください",
        )
    if status in (502, 503, 504):
        return (
            f"HTTP {status}: 前に置いたプロキシかトンネルには届きましたが、"
            "その先の Nippo が応答していません",
            BEHIND_THE_PROXY,
        )
    if status == 530:  # Cloudflare: the tunnel behind this address is not connected
        return (
            "HTTP 530: トンネルがつながっていません",
            "cloudflared を起動し直してください。クイックトンネルならアドレスが変わるので、"
            "新しいアドレスを PUBLIC_URL と LINE・Slack に設定し直してください",
        )
    return f"HTTP {status} が返りました。Nippo の応答ではありません", NOT_NIPPO


def judge_health(url: str, status: int, body: dict[str, Any], location: str | None) -> Check:
    name = "公開 URL の応答"
    if status == 200 and body.get("status") == "ok" and body.get("database") == "up":
        return Check(name, True, f"{url} に Nippo が応答しました")
    if status == 200 and body.get("status") == "degraded" and body.get("database") == "up":
        late = body.get("backlog") or {}
        detail = "、".join(f"{p} {s} 秒" for p, s in sorted(late.items())) or "あり"
        return Check(name, True, f"{url} に Nippo が応答しました（送信待ちの遅れ: {detail}）")
    if status == 503 and body.get("status") == "unavailable":
        return Check(
            name,
            False,
            f"Nippo は応答しましたが、データベースを使えません（{body.get('database', '不明')}）",
            "Nippo を動かしているマシンの DATABASE_URL と、データベースが動いているかを"
            "確かめてください",
        )
    if status == 200:
        return Check(name, False, f"{url} の応答が Nippo のものではありません", NOT_NIPPO)
    what, step = _status_problem(status, location)
    return Check(name, False, what, step)


async def public_url_answer_check(public_url: str, client: httpx.AsyncClient) -> Check:
    """`GET PUBLIC_URL/healthz` from here, as LINE and Slack will come: through DNS, the
    certificate, the proxy or tunnel, to Nippo."""
    url = f"{public_url}/healthz"
    try:
        response = await client.get(url)
    except httpx.HTTPError as exc:
        what, step = unreached(exc, url)
        return Check("公開 URL の応答", False, what, step)
    return judge_health(
        url, response.status_code, _json(response), response.headers.get("location")
    )


def _request_urls(url: str) -> str:
    return (
        "Slack アプリの Slash Commands・Event Subscriptions・Interactivity の Request URL を"
        f"すべて {url} にしてください"
    )


def judge_slash_command(url: str, status: int, location: str | None) -> Check:
    name = "Slack スラッシュコマンド"
    request_urls = _request_urls(url)
    if status == 401:  # the signature check answered: this is Nippo's Slack endpoint
        return Check(
            name, True, f"{url} に Nippo の Slack 受付が応答しました（署名のない要求を拒否）"
        )
    if status == 404:
        return Check(
            name,
            False,
            f"{url} がありません（HTTP 404）",
            "Nippo の Slack が有効かを確かめてください（起動時のログに "
            "`Slack is on: POST /slack/events`）。.env を直したら Nippo を再起動してください",
        )
    if 200 <= status < 300:
        return Check(
            name,
            False,
            f"署名のない要求が受け付けられました（HTTP {status}）。Nippo の応答ではありません",
            request_urls,
        )
    what, step = _status_problem(status, location)
    if step == NOT_NIPPO:
        what, step = f"HTTP {status} が返りました（Nippo なら 401 です）", request_urls
    return Check(name, False, what, step)


async def slash_command_check(public_url: str, client: httpx.AsyncClient) -> Check:
    """An unsigned POST to `PUBLIC_URL/slack/events`, where Slack sends /nippo, events and
    button presses: Nippo's endpoint refuses it with 401 (a bad signature)."""
    url = f"{public_url}/slack/events"
    try:
        response = await client.post(
            url, content=b"", headers={"content-type": "application/x-www-form-urlencoded"}
        )
    except httpx.HTTPError as exc:
        # why it is out of reach is the public URL's line below; here, where Slack must point
        what, _ = unreached(exc, url)
        step = f"{_request_urls(url)}。届かない理由は「公開 URL の応答」の行を見てください"
        return Check("Slack スラッシュコマンド", False, what, step)
    return judge_slash_command(url, response.status_code, response.headers.get("location"))


def judge_clock(server: datetime, database: datetime) -> Check:
    gap = abs(server - database)
    if gap <= CLOCK_TOLERANCE:
        return Check(
            "時計", True, f"サーバーとデータベースの時刻が合っています（差 {gap.seconds} 秒）"
        )
    return Check(
        "時計",
        False,
        f"サーバーとデータベースの時刻が {int(gap.total_seconds())} 秒ずれています",
        "両方のマシンで時刻同期（NTP）を有効にしてください。記録の時刻はサーバーの時計です",
    )


async def clock_check(database: Database, now: datetime) -> Check:
    async with database.transaction() as session:
        db_now = (await session.execute(select(func.current_timestamp()))).scalar_one()
    if isinstance(db_now, str):  # SQLite answers text in UTC
        db_now = datetime.fromisoformat(db_now)
    if db_now.tzinfo is None:
        db_now = db_now.replace(tzinfo=now.tzinfo)
    return judge_clock(now, db_now)


# --- the facility ------------------------------------------------------------------------


@dataclass(frozen=True)
class FacilityFacts:
    name: str
    alert_channel: str | None
    managers: int
    members: int
    scheduled: int
    linked: int


def judge_facility(f: FacilityFacts, slack_on: bool) -> list[Check]:
    name = f"事業所「{f.name}」"
    checks: list[Check] = []
    if f.alert_channel:
        checks.append(Check(name, True, f"通知チャンネル {f.alert_channel}"))
    elif slack_on:
        checks.append(
            Check(
                name,
                False,
                "通知チャンネルが未設定です",
                "`nippo facility set --alert-channel C…` で設定してください",
            )
        )
    if f.managers:
        checks.append(Check(name, True, f"管理者 {f.managers} 人"))
    else:
        checks.append(
            Check(
                name,
                False,
                "管理者がいません",
                "`nippo staff add --role manager` で登録してください",
            )
        )
    if not f.members:
        checks.append(
            Check(name, False, "利用者がいません", "`nippo member add` で登録してください")
        )
        return checks
    checks.append(
        Check(
            name,
            f.scheduled > 0,
            f"利用者 {f.members} 人のうち予定あり {f.scheduled} 人",
            "" if f.scheduled else "`nippo schedule set` で通所予定を登録してください",
        )
    )
    checks.append(
        Check(
            name,
            f.linked > 0,
            f"アカウント連携済み {f.linked} 人",
            ""
            if f.linked
            else (
                "`nippo member link-code` で発行したコードを、"
                "利用者から LINE か Slack でボットに送ってもらってください"
            ),
        )
    )
    return checks


async def facility_facts(database: Database, only: str | None) -> list[FacilityFacts]:
    async with database.transaction() as session:
        query = select(Facility).order_by(Facility.id)
        if only is not None:
            query = query.where(Facility.name == only)
        facts = []
        for facility in (await session.execute(query)).scalars():
            active = select(Member.id).where(Member.facility_id == facility.id, Member.active)

            async def count(q: Any) -> int:
                return int((await session.execute(q)).scalar_one())

            facts.append(
                FacilityFacts(
                    name=facility.name,
                    alert_channel=facility.alert_channel,
                    managers=await count(
                        select(func.count(Staff.id)).where(
                            Staff.facility_id == facility.id, Staff.active, Staff.role == "manager"
                        )
                    ),
                    members=await count(select(func.count()).select_from(active.subquery())),
                    scheduled=await count(
                        select(func.count(func.distinct(Schedule.member_id))).where(
                            Schedule.member_id.in_(active)
                        )
                    ),
                    linked=await count(
                        select(func.count(func.distinct(Identity.member_id))).where(
                            Identity.member_id.in_(active), Identity.active
                        )
                    ),
                )
            )
        return facts


# --- all of it ---------------------------------------------------------------------------


async def run(
    settings: Settings,
    database: Database | Check,
    now: Callable[[], datetime],
    facility: str | None = None,
    emit: Callable[[Check], None] | None = None,
) -> list[Check]:
    """Every check in order, each passed to `emit` as soon as it is known. After a database
    failure only the platform checks still run (they need nothing from it but the alert
    channels)."""
    checks: list[Check] = []

    def add(*new: Check) -> None:
        for c in new:
            checks.append(c)
            if emit is not None:
                emit(c)

    db = database if isinstance(database, Check) else await database_check(database)
    add(db)
    facts: list[FacilityFacts] = []
    if db.ok and isinstance(database, Database):
        facts = await facility_facts(database, facility)
    channels = [f.alert_channel for f in facts if f.alert_channel]
    public = reachable_base(settings.public_url)
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        add(*await line_checks(settings, client))
        add(*await slack_checks(settings, client, channels))
        if settings.slack_enabled and public is not None:
            add(await slash_command_check(public, client))
        add(public_url_check(settings.public_url))
        if public is not None:
            add(await public_url_answer_check(public, client))
    if db.ok and isinstance(database, Database):
        add(await clock_check(database, now()))
        if not facts:
            add(
                Check(
                    "事業所",
                    False,
                    f"事業所「{facility}」が見つかりません" if facility else "事業所がありません",
                    "`nippo facility init` で作成してください",
                )
            )
        for f in facts:
            add(*judge_facility(f, settings.slack_bot_token is not None))
    return checks
