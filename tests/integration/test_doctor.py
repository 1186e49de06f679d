"""`nippo doctor` plays the set-up page on a fresh directory against the fake LINE and Slack
APIs: `.env` from `.env.example`, `nippo db upgrade`, facility, manager, member with a schedule
and a linked account → every line ✔ and exit 0; then each misconfiguration a facility's IT
helper meets (wrong token, webhook unset, bot not in the channel, database down) prints its
✘ line and exits 1, without a traceback."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from bot.cli.main import app
from bot.root.settings import Settings
from storage.db import Database
from tests.line.fake_api import FakeLine, FakeLineThread
from tests.slack.fake_slack import FakeSlack, ServedThread
from tests.support import link_accounts, run_cli

ROOT = Path(__file__).resolve().parents[2]
LINE_TOKEN = "line-token-test"
CHANNEL = "C0ALERTS"
PUBLIC = "https://nippo.example.jp"


@dataclass
class Setup:
    dir: Path
    line: FakeLine
    slack: FakeSlack
    db_url: str

    def env(self, **changes: str) -> None:
        """Rewrite `.env` from `.env.example`, as a helper would, with these values."""
        values = {
            "DATABASE_URL": self.db_url,
            "PUBLIC_URL": PUBLIC,
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


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> Iterator[Setup]:
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:  # the .env file alone configures this run
        monkeypatch.delenv(name.upper(), raising=False)
    line = FakeLine()
    line.channel_token = LINE_TOKEN
    line.webhook_endpoint = f"{PUBLIC}/callback/line"
    line.default_rich_menu = "richmenu-1"
    with FakeLineThread(line), ServedThread(FakeSlack()) as slack:
        s = Setup(tmp_path, line, slack, db_url)
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
        f"✔ LINE Webhook: {PUBLIC}/callback/line が設定され、オンです",
        "✔ LINE Webhook テスト:",
        "✔ LINE リッチメニュー:",
        "✔ Slack トークン:",
        "✔ Slack 権限: 必要な権限がそろっています",
        f"✔ Slack チャンネル {CHANNEL}: ボットが参加しています",
        f"✔ 公開 URL: {PUBLIC}（HTTPS）",
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
    assert f"が PUBLIC_URL（{PUBLIC}）と一致しません" in result.output


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

    from bot.root import doctor as doctor_mod

    _link_member(setup.db_url)
    monkeypatch.setattr(doctor_mod, "TIMEOUT", httpx.Timeout(0.2))
    setup.slack.slow["auth.test"] = 1.0
    result = doctor()
    assert result.exit_code == 1
    assert "✘ Slack: Slack の API に届きません（ReadTimeout）" in result.output
    assert "Traceback" not in result.output
