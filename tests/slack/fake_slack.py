"""A local fake of the Slack Web API: a Starlette app on 127.0.0.1 (random port) via uvicorn.

It records every call (method and arguments, JSON or form) and answers like Slack does
({"ok": true, "ts": ...}). `fail` makes the next call of a method answer with a given status
and headers; `refuse` queues several such refusals (JSON or not, and optionally `landed`: the
message is posted but the answer says otherwise); `lose` makes a chat.postMessage land but its
answer fail (an unknown outcome); `down`, when set, is asked first on every call and answers
with the refusal it returns (an outage that lasts as long as the test's clock says). Each call
keeps what the fake answered (`status`, `response_headers`) and, when it posted a message
members can see, its `ts`.
Every recorded Block Kit payload can be checked against Slack's documented limits.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from adapters.slack import manifest

# Slack's documented Block Kit limits.
MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
SECTION_TEXT = 3000
FIELD_TEXT = 2000
FIELDS = 10
BUTTON_TEXT = 75
ACTION_ID = 255
MODAL_TITLE = 24
CONTEXT_ELEMENTS = 10
ACTIONS_ELEMENTS = 25
SELECT_OPTIONS = 100
OPTION_TEXT = 75
OPTION_VALUE = 150


SPEC = Path("/work/shared/specs/slack/slack_web_openapi_v2.json")
# Methods newer than the stored OpenAPI spec, with their documented required arguments.
NEWER_METHODS = {
    "files.getUploadURLExternal": ("filename", "length"),
    "files.completeUploadExternal": ("files",),
    "apps.connections.open": (),  # Socket Mode; called with the app-level token
}


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    authorization: str = ""
    status: int = 200  # what the fake answered
    response_headers: dict[str, str] = field(default_factory=dict)
    ts: str | None = None  # the message this call posted (members see it), if any
    answered: bool = False  # the fake has answered it (false while a `slow` call waits)


@dataclass(frozen=True)
class Refusal:
    """One scripted answer instead of the real one: a JSON object or a raw text body (a
    proxy's HTML error page …). `landed`: the call took effect before the answer failed."""

    status: int
    body: dict[str, Any] | str = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str = "text/html"  # for a text body
    landed: bool = False

    def response(self) -> Response:
        if isinstance(self.body, str):
            return Response(
                self.body, self.status, headers=self.headers, media_type=self.media_type
            )
        return JSONResponse(self.body, status_code=self.status, headers=self.headers)


@dataclass
class FakeSlack:
    calls: list[Call] = field(default_factory=list)
    failures: dict[str, list[Refusal]] = field(default_factory=dict)
    lost: set[str] = field(default_factory=set)
    slow: dict[str, float] = field(default_factory=dict)  # method -> seconds before answering
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    uploads: dict[str, bytes] = field(default_factory=dict)  # file id -> bytes POSTed
    down: Callable[[str], Refusal | None] | None = None  # method -> the outage's answer, if any
    # The bot token's scopes, answered in auth.test's x-oauth-scopes header (`nippo doctor`):
    # an app installed from slack/manifest.yml; and the channels the bot has not joined
    # (conversations.info's is_member).
    scopes: tuple[str, ...] = field(default_factory=manifest.bot_scopes)
    not_member: set[str] = field(default_factory=set)
    url: str = ""
    socket_url: str = ""  # apps.connections.open's answer (tests/slack/fake_socket.py)
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def fail(self, method: str, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        self.refuse(method, Refusal(status, body, headers))

    def refuse(self, method: str, *refusals: Refusal) -> None:
        """The next calls of `method` get these answers, one each, in order."""
        self.failures.setdefault(method, []).extend(refusals)

    def lose(self, method: str) -> None:
        self.lost.add(method)

    def of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, method: str, count: int = 1, within: float = 10.0) -> list[Call]:
        """Poll until at least `count` calls of `method` arrived (listeners run after ack)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while len(self.of(method)) < count:
            if loop.time() > deadline:
                got = [c.method for c in self.calls]
                raise AssertionError(f"expected {count} {method} calls; got {got}")
            await asyncio.sleep(0.02)
        return self.of(method)

    async def settle(self, quiet: float = 0.3, within: float = 10.0) -> None:
        """Poll until no call has arrived for `quiet` seconds (a listener finished posting)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        seen, since = len(self.calls), loop.time()
        while loop.time() - since < quiet or not self.calls:
            if loop.time() > deadline:
                raise AssertionError("the fake Slack API kept receiving calls")
            await asyncio.sleep(0.02)
            if len(self.calls) != seen:
                seen, since = len(self.calls), loop.time()

    # --- the ASGI app ------------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        method = request.path_params["method"]
        args: dict[str, Any] = dict(request.query_params)
        raw = await request.body()
        if request.headers.get("content-type", "").startswith("application/json"):
            args.update(json.loads(raw or b"{}"))
        else:
            args.update(dict(parse_qsl(raw.decode())))
        for key in ("blocks", "view", "metadata"):
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        call = Call(method, args, request.headers.get("authorization", ""))
        self.calls.append(call)
        if method in self.slow:
            await asyncio.sleep(self.slow[method])
        call.answered = True
        refusal = self.down(method) if self.down is not None else None
        if refusal is None and self.failures.get(method):
            refusal = self.failures[method].pop(0)
        if refusal is not None and not refusal.landed:
            return self._refused(call, refusal)
        body = self.answer(method, args)
        if method == "chat.postMessage":
            call.ts = str(body["ts"])
        if refusal is not None:
            return self._refused(call, refusal)
        if method in self.lost:
            self.lost.discard(method)
            return self._refused(
                call, Refusal(503, {"ok": False, "error": "service_unavailable"}, landed=True)
            )
        if method == "auth.test":
            return JSONResponse(body, headers={"x-oauth-scopes": ",".join(self.scopes)})
        return JSONResponse(body)

    def _refused(self, call: Call, refusal: Refusal) -> Response:
        call.status, call.response_headers = refusal.status, dict(refusal.headers)
        return refusal.response()

    def answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {"ok": True, "user_id": "UBOT", "bot_id": "BBOT", "team_id": "T111"}
        if method == "chat.postMessage":
            ts = f"1700000000.{next(self._ts):06d}"
            channel = str(args.get("channel"))
            self.history.setdefault(channel, []).insert(
                0, {"type": "message", "ts": ts, "metadata": args.get("metadata")}
            )
            return {"ok": True, "channel": channel, "ts": ts, "message": {"ts": ts}}
        if method == "chat.update":
            return {"ok": True, "channel": args.get("channel"), "ts": args.get("ts")}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"1700000000.{next(self._ts):06d}"}
        if method in ("views.open", "views.publish"):
            return {"ok": True, "view": {"id": "V1", **(args.get("view") or {})}}
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(args.get("users"))}}
        if method == "conversations.history":
            return {"ok": True, "messages": self.history.get(str(args.get("channel")), [])}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._ts):04d}"
            upload = self.url.replace("/api/", f"/upload/{file_id}")
            return {"ok": True, "upload_url": upload, "file_id": file_id}
        if method == "files.completeUploadExternal":
            files = json.loads(args["files"]) if isinstance(args.get("files"), str) else []
            return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}
        if method == "conversations.info":
            channel = str(args.get("channel"))
            return {
                "ok": True,
                "channel": {"id": channel, "is_member": channel not in self.not_member},
            }
        if method == "apps.connections.open":  # Socket Mode: where to open the websocket
            if not self.socket_url:
                return {"ok": False, "error": "invalid_auth"}
            return {"ok": True, "url": self.socket_url}
        if method == "users.info":
            return {"ok": True, "user": {"id": args.get("user"), "tz": "Asia/Tokyo"}}
        return {"ok": True}

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/{method}", self.handle, methods=["GET", "POST"]),
                Route("/hooks/{path:path}", self.hook, methods=["POST"]),
                Route("/upload/{file_id}", self.upload, methods=["POST"]),
            ]
        )

    async def upload(self, request: Request) -> PlainTextResponse:
        """The upload URL files.getUploadURLExternal hands out: keeps the raw bytes."""
        self.uploads[request.path_params["file_id"]] = await request.body()
        return PlainTextResponse("OK - uploaded")

    async def hook(self, request: Request) -> JSONResponse:
        """A response_url: recorded as the pseudo-method "response_url"."""
        self.calls.append(Call("response_url", json.loads(await request.body())))
        return JSONResponse({"ok": True})

    # --- limits ------------------------------------------------------------------------

    def check_spec(self) -> None:
        """Each recorded call names a documented method and carries its required arguments."""
        paths = json.loads(SPEC.read_text(encoding="utf-8"))["paths"]
        for call in self.calls:
            if call.method == "response_url":
                continue
            if call.method in NEWER_METHODS:
                for name in NEWER_METHODS[call.method]:
                    assert call.args.get(name) not in (None, ""), (call.method, name)
                continue
            ops = paths.get(f"/{call.method}")
            assert ops, f"{call.method} is not a Slack Web API method"
            params = [p for op in ops.values() for p in op.get("parameters", [])]
            for p in params:
                if not p.get("required"):
                    continue
                if p["name"] == "token":  # the SDK sends it as a bearer header
                    assert call.authorization == "Bearer xoxb-test", call.method
                else:
                    assert call.args.get(p["name"]) not in (None, ""), (call.method, p["name"])

    def check_limits(self) -> None:
        for call in self.calls:
            if isinstance(call.args.get("blocks"), list):
                check_blocks(call.args["blocks"], MESSAGE_BLOCKS, call.method)
            view = call.args.get("view")
            if isinstance(view, dict):
                check_blocks(view.get("blocks") or [], VIEW_BLOCKS, call.method)
                View(**view).validate_json()
                if view.get("type") == "modal":
                    for key in ("title", "submit", "close"):
                        if key in view:
                            assert len(view[key]["text"]) <= MODAL_TITLE, (key, view[key])


def check_blocks(blocks: list[dict[str, Any]], limit: int, where: str) -> None:
    assert 0 < len(blocks) <= limit, f"{where}: {len(blocks)} blocks"
    for b in blocks:
        parsed = Block.parse(b)  # slack_sdk's own model checks the same limits
        assert parsed is not None, b
        parsed.validate_json()
        kind = b["type"]
        if kind == "section":
            assert "text" in b or "fields" in b, b
            if "text" in b:
                assert 0 < len(b["text"]["text"]) <= SECTION_TEXT, (where, len(b["text"]["text"]))
            fields = b.get("fields") or []
            assert len(fields) <= FIELDS, (where, len(fields))
            assert all(0 < len(f["text"]) <= FIELD_TEXT for f in fields), where
        elif kind == "actions":
            assert 0 < len(b["elements"]) <= ACTIONS_ELEMENTS
            ids = [e["action_id"] for e in b["elements"]]
            assert len(ids) == len(set(ids)), ids
            for e in b["elements"]:
                assert len(e["action_id"]) <= ACTION_ID
                if e["type"] == "button":
                    assert 0 < len(e["text"]["text"]) <= BUTTON_TEXT, e["text"]
                else:  # a menu: its options' labels and values
                    assert e["type"] == "static_select", e
                    assert 0 < len(e["options"]) <= SELECT_OPTIONS, e
                    for o in e["options"]:
                        assert 0 < len(o["text"]["text"]) <= OPTION_TEXT, o
                        assert 0 < len(o["value"]) <= OPTION_VALUE, o
        elif kind == "context":
            assert 0 < len(b["elements"]) <= CONTEXT_ELEMENTS
            assert all(0 < len(e["text"]) <= SECTION_TEXT for e in b["elements"])
        elif kind == "input":
            assert len(b["label"]["text"]) <= 2000
        else:
            assert kind in ("divider", "header"), kind


class Served:
    """Runs the fake on 127.0.0.1 with a random port inside the test's event loop."""

    def __init__(self, fake: FakeSlack) -> None:
        config = uvicorn.Config(fake.app(), host="127.0.0.1", port=0, log_level="warning")
        self.server = uvicorn.Server(config)
        self.fake = fake
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> FakeSlack:
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:  # noqa: ASYNC110 (uvicorn exposes only a flag)
            await asyncio.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.fake.url = f"http://127.0.0.1:{port}/api/"
        return self.fake

    async def __aexit__(self, *exc: object) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await self.task


class ServedThread:
    """The same fake on its own thread and loop, for synchronous callers such as the CLI."""

    def __init__(self, fake: FakeSlack) -> None:
        config = uvicorn.Config(fake.app(), host="127.0.0.1", port=0, log_level="warning")
        self.server = uvicorn.Server(config)
        self.fake = fake
        self.thread: threading.Thread | None = None

    def __enter__(self) -> FakeSlack:
        server = self.server
        self.thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
        self.thread.start()
        while not server.started:
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        self.fake.url = f"http://127.0.0.1:{port}/api/"
        return self.fake

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)
