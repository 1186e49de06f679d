"""`nippo doctor` plays the set-up page on a fresh directory against the fake LINE and Slack
APIs: `.env` from `.env.example`, `nippo db upgrade`, facility, manager, member with a schedule
and a linked account → every line ✔ and exit 0; then each misconfiguration a facility's IT
helper meets (wrong token, webhook unset, bot not in the channel, database down) prints its
✘ line and exits 1, without a traceback.

Nippo itself answers at PUBLIC_URL: the real app under uvicorn over HTTPS on 127.0.0.1, with a
certificate from a test authority the doctor trusts through SSL_CERT_FILE (tests/golive/https.py).
The whole page, `nippo serve` and a TLS proxy included, is tests/golive/test_go_live.py."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from bot.app import doctor as doctor_mod
from bot.app.settings import Settings
from bot.app.web import create_app
from bot.cli.main import app
from storage.db import Database
from tests.golive.https import Certificates, Front, Threaded, free_socket, make_certificates
from tests.line.fake_api import FakeLine, FakeLineThread
from tests.slack.fake_slack import FakeSlack, ServedThread
from tests.support import link_accounts, run_cli

ROOT = Path(__file__).resolve().parents[2]
LINE_TOKEN = "line-token-test"
CHANNEL = "C0ALERTS"


@dataclass
class Setup:
    dir: Path
    line: FakeLine
    slack: FakeSlack
    db_url: str
    public: str  # where Nippo answers over HTTPS (PUBLIC_URL)

    def env(self, **changes: str) -> None:
        """Rewrite `.env` from `.env.example`, as a helper would, with these values."""
        values = {
            "DATABASE_URL": self.db_url,
            "PUBLIC_URL": self.public,
            "LINE_CHANNEL_SECRET": "line-secret",
            "LINE_CHANNEL_ACCESS_TOKEN": LINE_TOKEN,
            "LINE_API_BASE_URL": self.line.url,
            "LINE_DATA_API_BASE_URL": self.line.url,
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_SIGNING_SECRET": "slack-secret",
            "SLACK_API_BASE_URL": self.slack.url,
            "LOG_FORMAT": "text",
        } | changes
        text = (ROOT / ".env.example").read_text(encoding="utf-8")
        for key, value in values.items():
            text, n = re.subn(rf"^{key}=.*$", f"{key}={value}", text, flags=re.M)
            assert n == 1, f"{key} is not in .env.example"
        (self.dir / ".env").write_text(text, encoding="utf-8")


def doctor() -> Result:
    return CliRunner().invoke(app, ["doctor"])


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


def nippo(certificates: Certificates | None = None, **settings: object) -> Threaded:
    """Nippo as `nippo serve` runs it (the minute loop off), from `.env` with `settings`."""
    app = create_app(Settings(scheduler_enabled=False, **settings))  # type: ignore[arg-type]
    return Threaded(app, certificates=certificates, lifespan="on")


@pytest.fixture
def setup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str, certificates: Certificates
) -> Iterator[Setup]:
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:  # the .env file alone configures this run
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates.ca))  # as a facility's own CA
    server = Threaded(certificates=certificates, lifespan="on")
    line = FakeLine()
    line.channel_token = LINE_TOKEN
    line.webhook_endpoint = f"{server.url}/callback/line"
    line.default_rich_menu = "richmenu-1"
    with FakeLineThread(line), ServedThread(FakeSlack()) as slack:
        s = Setup(tmp_path, line, slack, db_url, server.url)
        s.env()
        run_cli("db", "upgrade")
        run_cli("facility", "init", "--name", "ひまわり", "--alert-channel", CHANNEL)
        run_cli("staff", "add", "--name", "鈴木", "--slack-user", "U1", "--role", "manager")
        run_cli("member", "add", "--name", "山田 太郎")
        run_cli(
            "schedule",
            "set",
            "山田",
            "--days",
            "mon,wed",
            "--mode",
            "zaitaku",
            "--start",
            "10:00",
            "--end",
            "15:00",
        )
        with server.serve(create_app(Settings(scheduler_enabled=False))):
            yield s


def _link_member(db_url: str) -> None:
    from datetime import UTC, datetime

    async def go() -> None:
        database = Database(db_url)
        try:
            await link_accounts(database, datetime.now(UTC), [(1, "Uyamada")])
        finally:
            await database.dispose()

    asyncio.run(go())


def test_every_check_passes_on_a_set_up_installation(setup: Setup) -> None:
    before = doctor()
    assert before.exit_code == 1
    assert "✘ 事業所「ひまわり」: アカウント連携済み 0 人" in before.output

    _link_member(setup.db_url)
    result = doctor()
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert "✘" not in result.output and "Traceback" not in result.output
    for expected in (
        "✔ データベース: 接続でき、最新の状態です",
        "✔ LINE トークン: 有効です（Nippo）",
        f"✔ LINE Webhook: {setup.public}/callback/line が設定され、オンです",
        "✔ LINE Webhook テスト:",
        "✔ LINE リッチメニュー:",
        "✔ Slack トークン:",
        "✔ Slack 権限: 必要な権限がそろっています",
        f"✔ Slack チャンネル {CHANNEL}: ボットが参加しています",
        f"✔ 公開 URL: {setup.public}（HTTPS）",
        "✔ 時計:",
        f"✔ 事業所「ひまわり」: 通知チャンネル {CHANNEL}",
        "✔ 事業所「ひまわり」: 管理者 1 人",
        "✔ 事業所「ひまわり」: 利用者 1 人のうち予定あり 1 人",
        "✔ 事業所「ひまわり」: アカウント連携済み 1 人",
    ):
        assert any(line.startswith(expected) for line in lines), (expected, result.output)
    # the checks went to the APIs with the configured credentials
    assert setup.line.calls("/v2/bot/info")[-1].headers["authorization"] == f"Bearer {LINE_TOKEN}"
    assert setup.slack.of("conversations.info")[-1].args["channel"] == CHANNEL


def test_a_missing_rich_menu_is_only_a_warning(setup: Setup) -> None:
    _link_member(setup.db_url)
    setup.line.default_rich_menu = None
    result = doctor()
    assert result.exit_code == 0, result.output
    assert "– LINE リッチメニュー: 既定のリッチメニューはまだありません" in result.output


def test_platforms_without_credentials_are_off_not_failed(setup: Setup) -> None:
    _link_member(setup.db_url)
    setup.env(LINE_CHANNEL_ACCESS_TOKEN="", LINE_CHANNEL_SECRET="", SLACK_BOT_TOKEN="")
    result = doctor()
    assert result.exit_code == 0, result.output
    assert "– LINE: 設定がないため使いません（off）" in result.output
    assert "– Slack: 設定がないため使いません（off）" in result.output


def test_a_wrong_line_token(setup: Setup) -> None:
    _link_member(setup.db_url)
    setup.env(LINE_CHANNEL_ACCESS_TOKEN="not-the-token")
    result = doctor()
    assert result.exit_code == 1
    assert (
        "✘ LINE トークン: チャネルアクセストークンが受け付けられません（HTTP 401） → "
        "LINE Developers で発行したトークンを LINE_CHANNEL_ACCESS_TOKEN に設定してください"
    ) in result.output


def test_the_webhook_unset(setup: Setup) -> None:
    _link_member(setup.db_url)
    setup.line.webhook_endpoint = ""
    result = doctor()
    assert result.exit_code == 1
    assert "✘ LINE Webhook: Webhook URL が設定されていません → " in result.output
    assert not setup.line.calls("/v2/bot/channel/webhook/test")


def test_the_webhook_elsewhere_than_the_public_url(setup: Setup) -> None:
    _link_member(setup.db_url)
    setup.line.webhook_endpoint = "https://old-host.example.jp/callback/line"
    result = doctor()
    assert result.exit_code == 1
    assert f"が PUBLIC_URL（{setup.public}）と一致しません" in result.output


def test_the_webhook_not_answering(setup: Setup) -> None:
    _link_member(setup.db_url)
    setup.line.webhook_test_ok = False
    result = doctor()
    assert result.exit_code == 1
    assert "✘ LINE Webhook テスト: LINE からの試し送信が届きませんでした" in result.output


def test_the_bot_not_in_the_alert_channel(setup: Setup) -> None:
    _link_member(setup.db_url)
    setup.slack.not_member.add(CHANNEL)
    result = doctor()
    assert result.exit_code == 1
    assert (
        f"✘ Slack チャンネル {CHANNEL}: ボットがチャンネルに参加していません → "
        "チャンネルで `/invite @Nippo` を実行してください"
    ) in result.output


def test_a_missing_slack_scope(setup: Setup) -> None:
    _link_member(setup.db_url)
    setup.slack.scopes = ("chat:write", "commands", "im:history", "im:write", "users:read")
    result = doctor()
    assert result.exit_code == 1
    assert "✘ Slack 権限: 足りない権限があります: files:write" in result.output


def test_a_plain_http_public_url(setup: Setup) -> None:
    _link_member(setup.db_url)
    setup.env(PUBLIC_URL="http://nippo.example.jp")
    setup.line.webhook_endpoint = "http://nippo.example.jp/callback/line"
    result = doctor()
    assert result.exit_code == 1
    assert "✘ 公開 URL: http://nippo.example.jp は HTTPS ではありません" in result.output


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://postgres@127.0.0.1:1/nippo",  # nothing listens on port 1
        "sqlite:////proc/nippo/cannot/be/here.db",  # a folder that cannot be created
    ],
)
def test_the_database_down(setup: Setup, url: str) -> None:
    setup.env(DATABASE_URL=url)
    result = doctor()
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "✘ データベース: 接続できません" in result.output
    assert "→ DATABASE_URL の値と、データベースが起動しているかを確かめてください" in result.output
    # the platforms are still checked: the helper learns everything in one run
    assert "✔ LINE トークン" in result.output


def test_a_database_not_migrated(setup: Setup) -> None:
    setup.env(DATABASE_URL=f"sqlite:///{setup.dir / 'empty.db'}")
    result = doctor()
    assert result.exit_code == 1
    assert "✘ データベース: 接続できましたが、更新が済んでいません" in result.output
    assert "`nippo db upgrade` を実行してください" in result.output


def test_env_example_names_every_setting() -> None:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    names = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, flags=re.M))
    serve_and_compose = {"FORWARDED_ALLOW_IPS", "NIPPO_HOST", "NIPPO_PUBLISH"}
    assert names == {n.upper() for n in Settings.model_fields} | serve_and_compose


def test_one_credential_of_a_pair_is_named(setup: Setup) -> None:
    _link_member(setup.db_url)
    setup.env(LINE_CHANNEL_SECRET="")
    result = doctor()
    assert result.exit_code == 1
    assert "✘ LINE: LINE_CHANNEL_SECRET が未設定のため、LINE は動きません" in result.output


def test_a_slow_api_is_a_failed_line_not_a_hang(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx

    from bot.app import doctor as doctor_mod

    _link_member(setup.db_url)
    monkeypatch.setattr(doctor_mod, "TIMEOUT", httpx.Timeout(0.2))
    setup.slack.slow["auth.test"] = 1.0
    result = doctor()
    assert result.exit_code == 1
    assert "✘ Slack: Slack の API に届きません（ReadTimeout）" in result.output
    assert "Traceback" not in result.output


# --- the public URL answering, and /slack/events answering as Nippo -------------------------


def _point_at(setup: Setup, url: str) -> None:
    """PUBLIC_URL and the LINE webhook moved to `url` together, as a helper does."""
    setup.env(PUBLIC_URL=url)
    setup.line.webhook_endpoint = f"{url}/callback/line"


def test_nippo_answers_at_the_public_url(setup: Setup) -> None:
    _link_member(setup.db_url)
    result = doctor()
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    slash = (
        f"✔ Slack スラッシュコマンド: {setup.public}/slack/events に"
        " Nippo の Slack 受付が応答しました（署名のない要求を拒否）"
    )
    answer = f"✔ 公開 URL の応答: {setup.public}/healthz に Nippo が応答しました"
    assert slash in lines and answer in lines, result.output
    # in the order: Slack's last check, then the public URL's rule, then its answer
    https = lines.index(f"✔ 公開 URL: {setup.public}（HTTPS）")
    channel = lines.index(f"✔ Slack チャンネル {CHANNEL}: ボットが参加しています")
    assert channel < lines.index(slash) < https < lines.index(answer)


def test_plain_http_that_answers_fails_only_the_https_rule(setup: Setup) -> None:
    """The two rules apart: the helper learns the server is fine and only HTTPS is missing."""
    _link_member(setup.db_url)
    with nippo() as plain:
        _point_at(setup, plain.url)
        result = doctor()
    assert result.exit_code == 1
    failed = [
        line
        for line in result.output.splitlines()
        if line.startswith("✘ ") and not line.startswith("✘ の項目")  # not the closing line
    ]
    assert failed == [
        f"✘ 公開 URL: {plain.url} は HTTPS ではありません → "
        "LINE と Slack は HTTPS の URL にしか送りません。https:// で始まる URL にしてください"
    ], result.output
    assert f"✔ 公開 URL の応答: {plain.url}/healthz に Nippo が応答しました" in result.output
    assert f"✔ Slack スラッシュコマンド: {plain.url}/slack/events に" in result.output


def test_a_certificate_nobody_vouches_for(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    _link_member(setup.db_url)
    monkeypatch.delenv("SSL_CERT_FILE")  # the public trust store: a self-made CA is unknown
    result = doctor()
    assert result.exit_code == 1
    assert (
        f"✘ 公開 URL の応答: {setup.public}/healthz の証明書を確かめられません"
        "（unable to get local issuer certificate） → 証明書が取れているかを確かめてください"
        "（Caddy なら `docker compose logs caddy`。"
    ) in result.output
    assert f"✘ Slack スラッシュコマンド: {setup.public}/slack/events の証明書を" in result.output


def test_nothing_listening_at_the_public_url(setup: Setup) -> None:
    _link_member(setup.db_url)
    with free_socket() as sock:  # bound, not listening: the connection is refused
        url = f"https://127.0.0.1:{sock.getsockname()[1]}"
        _point_at(setup, url)
        result = doctor()
    assert result.exit_code == 1
    assert (
        f"✘ Slack スラッシュコマンド: {url}/slack/events に接続できません（ConnectError） → "
        "Slack アプリの Slash Commands・Event Subscriptions・Interactivity の Request URL を"
        f"すべて {url}/slack/events にしてください。届かない理由は「公開 URL の応答」の行を"
        "見てください"
    ) in result.output
    assert (
        f"✘ 公開 URL の応答: {url}/healthz に接続できません（ConnectError） → "
        "Nippo（`nippo serve` または `docker compose up -d`）と、前に置いた Caddy や"
        "トンネルが動いているか、ポートが開いているかを確かめてください"
    ) in result.output


def test_a_proxy_with_nothing_behind_it(setup: Setup, certificates: Certificates) -> None:
    """Caddy or the tunnel is up, Nippo behind it is not: they answer 502."""
    _link_member(setup.db_url)
    with (
        free_socket() as sock,
        Threaded(
            Front(f"http://127.0.0.1:{sock.getsockname()[1]}").app, certificates=certificates
        ) as front,
    ):
        _point_at(setup, front.url)
        result = doctor()
    assert result.exit_code == 1
    for name in ("Slack スラッシュコマンド", "公開 URL の応答"):
        assert (
            f"✘ {name}: HTTP 502: 前に置いたプロキシかトンネルには届きましたが、"
            "その先の Nippo が応答していません → Nippo（`nippo serve` または"
            " `docker compose up -d`）が動いているか、プロキシの転送先（Caddy なら app:8000、"
            "トンネルなら --url）が合っているかを確かめてください"
        ) in result.output, result.output


def test_a_server_started_before_slack_was_configured(
    setup: Setup, certificates: Certificates
) -> None:
    """.env has the Slack credentials, the running server does not (not restarted)."""
    _link_member(setup.db_url)
    with nippo(certificates, slack_bot_token=None, slack_signing_secret=None) as stale:
        _point_at(setup, stale.url)
        result = doctor()
    assert result.exit_code == 1
    assert (
        f"✘ Slack スラッシュコマンド: {stale.url}/slack/events がありません（HTTP 404） → "
        "Nippo の Slack が有効かを確かめてください（起動時のログに "
        "`Slack is on: POST /slack/events`）。.env を直したら Nippo を再起動してください"
    ) in result.output
    assert f"✔ 公開 URL の応答: {stale.url}/healthz に Nippo が応答しました" in result.output


def test_a_server_without_its_database(setup: Setup, certificates: Certificates) -> None:
    """The server's DATABASE_URL is not the doctor's (compose sets its own): /healthz 503."""
    _link_member(setup.db_url)
    down = "postgresql+psycopg://postgres@127.0.0.1:1/nippo"
    with nippo(certificates, database_url=down) as cut_off:
        _point_at(setup, cut_off.url)
        result = doctor()
    assert result.exit_code == 1
    assert "✔ データベース: 接続でき、最新の状態です" in result.output  # the doctor's own
    assert (
        "✘ 公開 URL の応答: Nippo は応答しましたが、データベースを使えません（down） → "
        "Nippo を動かしているマシンの DATABASE_URL と、データベースが動いているかを確かめてください"
    ) in result.output


def test_another_server_at_the_public_url(setup: Setup) -> None:
    """PUBLIC_URL names some other web server (here the fake LINE API): not Nippo's answers."""
    _link_member(setup.db_url)
    _point_at(setup, setup.line.url)
    result = doctor()
    assert result.exit_code == 1
    assert (
        "✘ 公開 URL の応答: HTTP 404 が返りました。Nippo の応答ではありません → "
        "PUBLIC_URL が Nippo を指しているかを確かめてください"
    ) in result.output
    assert f"✘ Slack スラッシュコマンド: {setup.line.url}/slack/events がありません" in (
        result.output
    )


def test_slack_off_asks_nothing_at_slack_events(setup: Setup) -> None:
    _link_member(setup.db_url)
    setup.env(SLACK_BOT_TOKEN="", SLACK_SIGNING_SECRET="")
    result = doctor()
    assert result.exit_code == 0, result.output
    assert "Slack スラッシュコマンド" not in result.output
    assert f"✔ 公開 URL の応答: {setup.public}/healthz に Nippo が応答しました" in result.output


@pytest.mark.parametrize(
    ("status", "body", "location", "line"),
    [
        (
            200,
            {"status": "degraded", "database": "up", "backlog": {"slack": 900}},
            None,
            "✔ 公開 URL の応答: https://h.example.jp/healthz に Nippo が応答しました"
            "（送信待ちの遅れ: slack 900 秒）",
        ),
        (
            308,
            {},
            "https://www.h.example.jp/healthz",
            "✘ 公開 URL の応答: HTTP 308 で https://www.h.example.jp/healthz へ転送されました"
            " → PUBLIC_URL は転送先ではなく、Nippo に直接届く https:// の URL にしてください",
        ),
        (
            530,
            {},
            None,
            "✘ 公開 URL の応答: HTTP 530: トンネルがつながっていません → cloudflared を"
            "起動し直してください。クイックトンネルならアドレスが変わるので、新しいアドレスを"
            " PUBLIC_URL と LINE・Slack に設定し直してください",
        ),
        (
            200,
            {},
            None,
            "✘ 公開 URL の応答: https://h.example.jp/healthz の応答が Nippo のものではありません"
            " → PUBLIC_URL が Nippo を指しているかを確かめてください（Nippo は /healthz に"
            ' {"status": "ok", …} と答えます）',
        ),
    ],
)
def test_what_came_back_is_named(
    status: int, body: dict[str, object], location: str | None, line: str
) -> None:
    """Answers a test server does not give cheaply: a backlog, a redirect, a dead tunnel."""
    check = doctor_mod.judge_health("https://h.example.jp/healthz", status, body, location)
    assert doctor_mod.render(check) == line
