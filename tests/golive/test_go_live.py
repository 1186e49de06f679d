"""docs/go-live.md, played on a fresh directory (issue #22, "Done when").

Every command in the page's `sh` blocks is run, in order, with the temporary directory as the
working directory: `nippo …` through the real CLI (`nippo serve` as a real process), `cp`,
`chmod` and `curl` as themselves. What happens outside the machine is played by the test where
the page says it happens: LINE and Slack are local fakes (tests/line/fake_api.py,
tests/slack/fake_slack.py) whose consoles the test "clicks", a member's phone sends signed LINE
webhooks, a manager sends a signed `/nippo`, and a TLS reverse proxy with its own certificate
authority stands where Caddy or the tunnel stands (tests/golive/https.py). Docker, git, pip and
cloudflared lines are the page's alternatives to what the test stands in for.

Then each misconfiguration a facility's IT helper meets makes `nippo doctor` print its ✘ line
and exit 1, and putting it right makes the doctor pass again.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest
import yaml
from typer.testing import CliRunner, Result

from bot.app import doctor
from bot.app.settings import Settings
from bot.cli.main import app
from bot.core import texts
from tests.conftest import PG_URL, _pg_admin_dsn, _pg_url_for
from tests.golive.https import Certificates, Front, Threaded, free_socket, make_certificates
from tests.line.conftest import USER, event, webhook
from tests.line.conftest import sign as line_sign
from tests.line.fake_api import FakeLine, FakeLineThread
from tests.slack.conftest import sample
from tests.slack.conftest import sign as slack_sign
from tests.slack.fake_slack import FakeSlack, ServedThread

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "go-live.md"
TOKYO = ZoneInfo("Asia/Tokyo")
# What the helper copies from the LINE and Slack consoles (the fakes accept exactly these).
LINE_SECRET = "line-channel-secret-golive"
LINE_TOKEN = "line-channel-access-token-golive"
SLACK_TOKEN = "xoxb-golive"
SLACK_SECRET = "slack-signing-secret-golive"
# Stood in for by the test: installing, Docker and Caddy, the tunnel, the git checkout.
ELSEWHERE = {"git", "python3.11", "pip", "docker", "echo", "cloudflared"}


class Page:
    """The page's numbered steps ("## N. …") and the commands of their `sh` blocks."""

    def __init__(self, text: str) -> None:
        self.steps: dict[int, str] = {}
        for part in re.split(r"^## ", text, flags=re.M)[1:]:
            number = re.match(r"(\d+)\. ", part)
            if number:
                self.steps[int(number.group(1))] = part

    def blocks(self, step: int, lang: str = "sh") -> list[str]:
        return re.findall(rf"^```{lang}\n(.*?)^```", self.steps[step], flags=re.M | re.S)

    def commands(self, step: int, block: int) -> list[list[str]]:
        lines = self.blocks(step)[block].splitlines()
        return [argv for line in lines if (argv := shlex.split(line, comments=True))]


def fresh_database(directory: Path) -> Iterator[str | None]:
    """None on SQLite: `.env.example`'s own `sqlite:///nippo.db` lands in the directory. On
    PostgreSQL (NIPPO_TEST_DATABASE_URL) an empty database of its own, for `nippo db upgrade`."""
    if PG_URL is None:
        yield None
        return
    name = f"nippo_golive_{os.getpid()}_{directory.name[-12:]}".replace("-", "_").lower()
    with psycopg.connect(_pg_admin_dsn(PG_URL), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield _pg_url_for(PG_URL, name)
    with psycopg.connect(_pg_admin_dsn(PG_URL), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Serve:
    """`nippo serve` as the page starts it, on a free port instead of 8000."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        with free_socket() as sock:
            self.port = int(sock.getsockname()[1])
        self.argv: list[str] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = cwd / "serve.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, argv: list[str]) -> None:
        self.argv = list(argv)
        args = list(argv[1:])
        if "--port" in args:
            args[args.index("--port") + 1] = str(self.port)
        else:
            args += ["--port", str(self.port)]
        out = self.log.open("ab")
        env = dict(os.environ)  # the test's environment: .env alone configures Nippo
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", *args], cwd=self.cwd, env=env, stdout=out, stderr=out
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"nippo serve exited:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"nippo serve did not answer /healthz:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        """What the page asks after a credential changes: stop it and start it again."""
        self.stop()
        self.start(self.argv)

    def said(self, text: str) -> bool:
        return text in self.log.read_text(encoding="utf-8", errors="replace")


@dataclass
class Facility:
    """The temporary directory, the fakes, the TLS front and what the test has seen."""

    dir: Path
    page: Page
    line: FakeLine
    slack: FakeSlack
    front: Threaded
    proxy: Front
    serve: Serve
    certificates: Certificates
    monkeypatch: pytest.MonkeyPatch
    database_url: str | None
    code: str = ""
    played: list[tuple[int, int]] = field(default_factory=list)

    @property
    def public(self) -> str:
        return self.front.url

    def trust(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.certificates.ca))

    # --- the page's commands -------------------------------------------------------------

    def play(self, step: int, block: int = 0) -> dict[str, Result]:
        """Run one `sh` block of a step; the results of its `nippo` commands by sub-command."""
        self.played.append((step, block))
        results: dict[str, Result] = {}
        for argv in self.page.commands(step, block):
            argv = [self._substitute(a) for a in argv]
            tool = argv[0]
            if tool in ELSEWHERE:
                continue
            if tool == "cp":
                assert argv[1:] == [".env.example", ".env"], argv
                shutil.copyfile(ROOT / ".env.example", self.dir / ".env")
            elif tool == "chmod":
                (self.dir / argv[2]).chmod(int(argv[1], 8))
            elif tool == "curl":
                answer = httpx.get(argv[-1], verify=self.trust(), timeout=10)
                assert answer.status_code == 200, answer.text
                assert answer.json() == {"status": "ok", "database": "up"}
            elif argv[:2] == ["nippo", "serve"]:
                self.serve.start(argv)
                self.proxy.upstream = self.serve.url
            elif tool == "nippo":
                result = CliRunner().invoke(app, argv[1:])
                assert "Traceback" not in result.output, (argv, result.output)
                if argv[1:2] != ["doctor"]:
                    assert result.exit_code == 0, (argv, result.output)
                results[" ".join(argv[1:3])] = result
            else:
                raise AssertionError(f"the page runs {argv}; the test does not play it")
        return results

    def _substitute(self, arg: str) -> str:
        """The page's placeholders, as the helper fills them in."""
        arg = arg.replace("https://HOST", self.public)
        return arg.replace("YYYY-MM-DD", datetime.now(TOKYO).date().isoformat())

    # --- .env ------------------------------------------------------------------------------

    def fill(self, step: int | None = None, /, **values: str) -> None:
        """Set keys of `.env` as the helper does; `step`: the step that tells them to."""
        path = self.dir / ".env"
        text = path.read_text(encoding="utf-8")
        for key, value in values.items():
            if step is not None:
                assert f"`{key}`" in self.page.steps[step], f"step {step} does not name {key}"
            text, n = re.subn(rf"^{key}=.*$", f"{key}={value}", text, flags=re.M)
            assert n == 1, f"{key} is not in .env.example"
        path.write_text(text, encoding="utf-8")

    # --- the outside world -----------------------------------------------------------------

    def line_event(self, ev: dict[str, Any]) -> list[str]:
        """A signed LINE webhook through HTTPS; the texts the member was shown in reply."""
        body = webhook(ev)
        headers = {"X-Line-Signature": line_sign(body, LINE_SECRET)}
        headers["Content-Type"] = "application/json"
        answer = httpx.post(
            f"{self.public}/callback/line",
            content=body,
            headers=headers,
            verify=self.trust(),
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        token = ev["replyToken"]

        def replied() -> list[str] | None:
            for r in self.line.calls("/v2/bot/message/reply"):
                if r.body and r.body.get("replyToken") == token:
                    return [str(m.get("text") or m.get("altText")) for m in r.body["messages"]]
            return None

        shown: list[str] = wait_for(replied, f"a reply to {ev['type']}")
        return shown

    def slack_request(self, body: bytes, content_type: str) -> httpx.Response:
        ts = str(int(time.time()))
        headers = {
            "content-type": content_type,
            "x-slack-request-timestamp": ts,
            "x-slack-signature": slack_sign(body, ts, SLACK_SECRET),
        }
        return httpx.post(
            f"{self.public}/slack/events",
            content=body,
            headers=headers,
            verify=self.trust(),
            timeout=10,
        )

    def slash(self, user: str, text: str, channel: str) -> str:
        """`/nippo TEXT` from a Slack user; the text of the ephemeral answer they saw."""
        before = len(self.slack.of("chat.postEphemeral"))
        form = sample("commands/slash_command.json")
        form.update(team_id="T111", user_id=user, command="/nippo", text=text, channel_id=channel)
        form["response_url"] = self.slack.url.replace("/api/", "/hooks/commands/T111/1/x")
        answer = self.slack_request(urlencode(form).encode(), "application/x-www-form-urlencoded")
        assert answer.status_code == 200, answer.text
        posts = wait_for(
            lambda: self.slack.of("chat.postEphemeral")[before:] or None, "/nippo's answer"
        )
        assert all(p.args["user"] == user for p in posts)
        return json.dumps([p.args for p in posts], ensure_ascii=False)

    def doctor(self) -> Result:
        result = CliRunner().invoke(app, ["doctor"])
        assert "Traceback" not in result.output, result.output
        return result


def wait_for(found: Callable[[], Any], what: str, within: float = 15.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"no {what} within {within} s")


def check_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line[:2] in ("✔ ", "✘ ", "– ")]


@pytest.fixture
def facility(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Facility]:
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:  # the page's .env alone configures this run
        monkeypatch.delenv(name.upper(), raising=False)
    certificates = make_certificates(tmp_path)
    # the doctor and the fake LINE platform trust the stand-in for Caddy's certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates.ca))
    line = FakeLine()
    line.channel_token = LINE_TOKEN
    line.channel_secret = LINE_SECRET  # Verify really delivers, as LINE does
    proxy = Front()
    serve = Serve(tmp_path)
    databases = fresh_database(tmp_path)
    database_url = next(databases)
    with (
        FakeLineThread(line),
        ServedThread(FakeSlack()) as slack,
        Threaded(proxy.app, certificates=certificates) as front,
    ):
        try:
            yield Facility(
                tmp_path,
                Page(PAGE.read_text(encoding="utf-8")),
                line,
                slack,
                front,
                proxy,
                serve,
                certificates,
                monkeypatch,
                database_url,
            )
        finally:
            serve.stop()
    next(databases, None)


def test_the_page_from_a_fresh_directory_to_the_first_check_in(facility: Facility) -> None:
    f = facility
    page = f.page

    # 1. Install and configure: .env from .env.example, the encryption key
    out = f.play(1)
    key = out["data key"].output.strip().splitlines()[-1]
    f.monkeypatch.setenv("NIPPO_DATA_KEY", key)  # "in the real environment"
    assert oct((f.dir / ".env").stat().st_mode & 0o777) == "0o600"
    test_only = {
        "LINE_API_BASE_URL": f.line.url,
        "LINE_DATA_API_BASE_URL": f.line.url,
        "SLACK_API_BASE_URL": f.slack.url,
    }  # where LINE and Slack are, in this test
    if f.database_url is not None:
        test_only["DATABASE_URL"] = f.database_url
    f.fill(**test_only)

    # 2. An HTTPS address: `nippo serve` behind the TLS front, PUBLIC_URL, curl
    f.play(2, 0)  # option A with Docker (Caddy: stood in for by the front)
    f.play(2, 1)  # option A without Docker: nippo serve --host 127.0.0.1 --port 8000
    f.play(2, 2)  # option B (the tunnel: stood in for by the front)
    f.fill(2, PUBLIC_URL=f.public)
    f.play(2, 3)  # curl https://HOST/healthz

    # 3. The database, the facility, its people
    out = f.play(3)
    assert "member 1: 山田 太郎" in out["member add"].output
    assert "山田 太郎\trecords,evidence,slack" in out["member consent"].output

    # 4. Slack: the manifest as pasted, the credentials, the restart, the channel
    manifest = yaml.safe_load(page.blocks(4, "yaml")[0])
    urls = [
        manifest["features"]["slash_commands"][0]["url"],
        manifest["settings"]["event_subscriptions"]["request_url"],
        manifest["settings"]["interactivity"]["request_url"],
    ]
    assert urls == ["https://HOST/slack/events"] * 3
    scopes = manifest["oauth_config"]["scopes"]["bot"]
    assert set(doctor.SLACK_SCOPES) <= set(scopes)  # the doctor asks for no scope not given
    f.slack.scopes = tuple(scopes)  # the token of an app installed from this manifest
    f.fill(4, SLACK_BOT_TOKEN=SLACK_TOKEN, SLACK_SIGNING_SECRET=SLACK_SECRET)
    assert not f.serve.said("Slack is on")
    f.serve.restart()
    assert f.serve.said("Slack is on: POST /slack/events")
    challenge = f.slack_request(
        json.dumps({"token": "t", "challenge": "c-123", "type": "url_verification"}).encode(),
        "application/json",
    )  # *Retry* in Event Subscriptions
    assert challenge.status_code == 200 and "c-123" in challenge.text
    f.play(4)  # nippo facility set --alert-channel C0123ABCD
    channel = f.page.commands(4, 0)[0][-1]
    assert "ひまわり作業所" in f.slash("U0456EFGH", "status", channel)

    # 5. LINE: the credentials, the restart, the webhook URL, Verify
    f.fill(5, LINE_CHANNEL_SECRET=LINE_SECRET, LINE_CHANNEL_ACCESS_TOKEN=LINE_TOKEN)
    f.serve.restart()
    assert f.serve.said("LINE webhook mounted at POST /callback/line")
    assert "https://HOST/callback/line" in page.steps[5]
    f.line.webhook_endpoint = f"{f.public}/callback/line"
    verify = httpx.post(
        f"{f.line.url}/v2/bot/channel/webhook/test",
        json={},
        headers={"Authorization": f"Bearer {LINE_TOKEN}"},
    )  # the console's Verify asks the same endpoint
    assert verify.json()["success"] is True, verify.json()
    assert f.serve.said("LINE webhook mounted") and not f.serve.said("Traceback")
    # the rich menu's words are those Nippo's help names: it reads them like its own buttons
    menu = page.steps[5][page.steps[5].index("**The rich menu**") :]
    words = re.findall(r"「(.+?)」", menu)
    assert len(set(words)) == 6 and all(f"「{w}」" in texts.HELP + texts.UNKNOWN for w in words)

    # 6. The first member: the code, the friend, the greeting, the link
    out = f.play(6, 0)
    code = out["member link-code"].output.strip()
    assert re.fullmatch(r"\d{6}", code), code
    now = datetime.now(UTC)
    greeting = f.line_event(event("06_follow", now, user=USER, follow={"isUnblocked": False}))
    assert any("6桁の番号を送ってください" in t for t in greeting), greeting
    linked = f.line_event(event("00_message_text", now, user=USER, message={"text": code}))
    assert any("山田 太郎さん、登録できました" in t for t in linked), linked
    out = f.play(6, 1)
    assert "line" in out["member accounts"].output, out["member accounts"].output

    # 7. Check everything: every line ✔ but the rich menu's hint, exit 0
    out = f.play(7)
    result = out["doctor"]
    assert result.exit_code == 0, result.output
    lines = check_lines(result.output)
    hints = [line for line in lines if not line.startswith("✔ ")]
    assert hints == [line for line in lines if line.startswith("– LINE リッチメニュー:")], lines
    assert len(hints) == 1, lines
    for expected in (
        "✔ データベース:",
        "✔ LINE トークン:",
        f"✔ LINE Webhook: {f.public}/callback/line",
        "✔ LINE Webhook テスト:",
        "✔ Slack トークン:",
        "✔ Slack 権限:",
        f"✔ Slack チャンネル {channel}:",
        f"✔ Slack スラッシュコマンド: {f.public}/slack/events",
        f"✔ 公開 URL: {f.public}（HTTPS）",
        f"✔ 公開 URL の応答: {f.public}/healthz",
        "✔ 時計:",
        "✔ 事業所「ひまわり作業所」: アカウント連携済み 1 人",
    ):
        assert any(line.startswith(expected) for line in lines), (expected, result.output)

    # 8. The first check-in, by one line of text; staff see it on the board
    now = datetime.now(UTC)
    text = "開始 体調4 睡眠7 データ入力"
    assert f"「{text}」" in page.steps[8]
    shown = f.line_event(event("00_message_text", now, user=USER, message={"text": text}))
    assert any(re.search(r"\d\d:\d\d 開始を記録しました", t) for t in shown), shown
    board = f.slash("U0456EFGH", "status", channel)
    assert "山田 太郎" in board

    # every sh block of every step was played
    every = {(step, b) for step in page.steps for b in range(len(page.blocks(step)))}
    assert every == set(f.played), sorted(every - set(f.played))

    # --- then each misconfiguration: its ✘ line and exit 1; put right, the doctor passes
    def broken(why: str, expected: str) -> None:
        result = f.doctor()
        assert result.exit_code == 1, (why, result.output)
        assert any(line.startswith(expected) for line in check_lines(result.output)), (
            why,
            expected,
            result.output,
        )

    f.fill(LINE_CHANNEL_ACCESS_TOKEN="a-token-from-another-channel")
    broken(
        "a wrong token",
        "✘ LINE トークン: チャネルアクセストークンが受け付けられません（HTTP 401） → ",
    )
    f.fill(LINE_CHANNEL_ACCESS_TOKEN=LINE_TOKEN)

    f.line.webhook_endpoint = ""
    broken("the webhook unset", "✘ LINE Webhook: Webhook URL が設定されていません → ")
    f.line.webhook_endpoint = f"{f.public}/callback/line"

    f.slack.not_member.add(channel)
    broken(
        "the bot not in the channel",
        f"✘ Slack チャンネル {channel}: ボットがチャンネルに参加していません → "
        "チャンネルで `/invite @Nippo` を実行してください",
    )
    f.slack.not_member.clear()

    good_database = re.search(r"^DATABASE_URL=(.*)$", (f.dir / ".env").read_text(), re.M)
    assert good_database is not None
    f.fill(DATABASE_URL="postgresql+psycopg://nippo@127.0.0.1:1/nippo")  # nothing listens
    broken("the database down", "✘ データベース: 接続できません")
    f.fill(DATABASE_URL=good_database.group(1))

    f.monkeypatch.delenv("SSL_CERT_FILE")
    broken(
        "a certificate nobody vouches for",
        f"✘ 公開 URL の応答: {f.public}/healthz の証明書を確かめられません",
    )
    f.monkeypatch.setenv("SSL_CERT_FILE", str(f.certificates.ca))

    assert f.doctor().exit_code == 0  # everything put right

    f.serve.stop()
    result = f.doctor()
    assert result.exit_code == 1
    lines = check_lines(result.output)
    for expected in (
        "✘ LINE Webhook テスト: LINE からの試し送信が届きませんでした",
        "✘ Slack スラッシュコマンド: HTTP 502: ",
        "✘ 公開 URL の応答: HTTP 502: 前に置いたプロキシかトンネルには届きましたが、"
        "その先の Nippo が応答していません → ",
    ):
        assert any(line.startswith(expected) for line in lines), (expected, result.output)
    assert urlsplit(f.public).scheme == "https"
