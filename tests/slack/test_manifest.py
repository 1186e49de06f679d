"""slack/manifest.yml: valid for Slack, and exactly what the code uses.

Valid: against Slack's own manifest schema (vendored in slack/schema/). What the code uses:
its bot scopes are the scopes Slack requires for the Web API methods the code calls (read from
the stored OpenAPI spec, `security`), for the events it subscribes to (the stored AsyncAPI
spec, `x-scopes-required`) and for the slash command; the list of methods is checked against
the calls in the source; its events and slash command are the ones bolt registers.
"""

from __future__ import annotations

import ast
import copy
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from adapters.slack import commands
from adapters.slack import manifest as slack_manifest
from bot.app import doctor

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "slack" / "schema" / "manifest.schema.1.0.0.json"
SPECS = Path("/work/shared/specs/slack")
WEB_SPEC = SPECS / "slack_web_openapi_v2.json"
EVENTS_SPEC = SPECS / "slack_events_api_async_v1.json"

# The Web API methods the code calls with the bot token, and the kinds of conversation it
# calls each on (the conversations.* methods need a scope per kind).
CALLED: dict[str, tuple[str, ...]] = {
    "auth.test": (),  # nippo doctor
    "chat.postMessage": (),
    "chat.postEphemeral": (),
    "chat.update": (),
    "conversations.open": ("im",),  # DMs with members, and managers' exports
    # after a lost answer: the alert channel (public or private) or a member's DM
    "conversations.history": ("channels", "groups", "im"),
    "conversations.info": ("channels", "groups"),  # nippo doctor: the alert channel
    "files.upload_v2": (),  # the SDK's helper; see SDK_HELPERS
    "views.open": (),
    "views.publish": (),
    "views.update": (),
}
# Called with the app-level token (Socket Mode; the SDK, and nippo doctor), whose scope is
# given when the token is made, not in the manifest (https://api.slack.com/methods/apps.connections.open).
APP_TOKEN_METHODS = {"apps.connections.open": "connections:write"}
# SDK helpers: the Web API methods each one calls.
SDK_HELPERS = {"files.upload_v2": ("files.getUploadURLExternal", "files.completeUploadExternal")}
# Newer than the stored spec, with the scope Slack's method pages name
# (https://api.slack.com/methods/files.getUploadURLExternal, …completeUploadExternal).
NEWER_METHODS = {
    "files.getUploadURLExternal": ("files:write",),
    "files.completeUploadExternal": ("files:write",),
}
# The stored spec predates granular bot scopes: chat:write replaced chat:write:bot
# (https://api.slack.com/scopes/chat:write).
GRANULAR = {"chat:write:bot": "chat:write"}
# A slash command needs `commands` (https://api.slack.com/scopes/commands); app_home_opened,
# newer than the stored events spec, needs no scope (https://api.slack.com/events/app_home_opened).
COMMAND_SCOPE = "commands"
NEWER_EVENTS: dict[str, tuple[str, ...]] = {"app_home_opened": ()}
# Scope names Slack documents that the stored spec's list lacks.
NEWER_SCOPES = {"commands", "files:write", "connections:write"}


@cache
def web_spec() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(WEB_SPEC.read_text(encoding="utf-8"))
    return data


@cache
def schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return data


def manifest() -> dict[str, Any]:
    return slack_manifest.load()


def expand(methods: dict[str, tuple[str, ...]]) -> list[str]:
    """The Web API methods reached, SDK helpers replaced by what they call."""
    return [m for name in methods for m in SDK_HELPERS.get(name, (name,))]


def method_scopes(method: str, kinds: tuple[str, ...]) -> set[str]:
    """The bot scopes Slack requires for `method` on these kinds of conversation."""
    if method in NEWER_METHODS:
        return set(NEWER_METHODS[method])
    ops = web_spec()["paths"][f"/{method}"]
    (op,) = ops.values()
    (security,) = op["security"]
    named = [s for s in security["slackAuth"] if s != "none"]
    if not named:
        return set()
    if kinds:  # one scope per kind of conversation: channels:…, groups:…, im:…, mpim:…
        chosen = {s for s in named if s.split(":")[0] in kinds}
        assert len(chosen) == len(kinds), (method, named, kinds)
        return chosen
    bot = [GRANULAR.get(s, s) for s in named if not s.endswith(":user")]
    assert len(bot) == 1, (method, named)
    return set(bot)


def event_scopes(event: str) -> set[str]:
    if event in NEWER_EVENTS:
        return set(NEWER_EVENTS[event])
    topics = json.loads(EVENTS_SPEC.read_text(encoding="utf-8"))["topics"]
    return set(topics[event]["subscribe"]["x-scopes-required"])


def required_scopes(data: dict[str, Any]) -> set[str]:
    needed = {s for m in expand(CALLED) for s in method_scopes(m, _kinds(m))}
    for event in data["settings"]["event_subscriptions"]["bot_events"]:
        needed |= event_scopes(event)
    if data["features"].get("slash_commands"):
        needed.add(COMMAND_SCOPE)
    return needed


def _kinds(method: str) -> tuple[str, ...]:
    return CALLED.get(method, ())


def schema_errors(data: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(schema())
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(data)]


def scope_problems(data: dict[str, Any]) -> list[str]:
    scopes = data["oauth_config"]["scopes"]["bot"]
    known = set(web_spec()["securityDefinitions"]["slackAuth"]["scopes"]) | NEWER_SCOPES
    problems = [f"unknown scope {s}" for s in scopes if s not in known]
    if len(scopes) != len(set(scopes)):
        problems.append("a scope is listed twice")
    needed = required_scopes(data)
    problems += [f"missing {s}" for s in sorted(needed - set(scopes))]
    problems += [f"not needed {s}" for s in sorted(set(scopes) - needed)]
    return problems


# --- the manifest is valid ----------------------------------------------------------------


def test_the_vendored_schema_is_a_draft_7_schema() -> None:
    jsonschema.Draft7Validator.check_schema(schema())
    assert schema()["$schema"] == "http://json-schema.org/draft-07/schema#"


def test_the_manifest_validates_against_slacks_schema() -> None:
    assert schema_errors(manifest()) == []


def _mutated(path: list[str | int], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(manifest())
    node: Any = data
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (["display_information", "name"], _DELETE),
        (["display_information"], _DELETE),
        (["features", "bot_user", "display_name"], "N" * 81),
        (["features", "slash_commands", 0, "url"], "ftp://HOST/slack/events"),
        (["oauth_config", "scopes", "bot", 0], "chat:write" * 6),
        (["settings", "event_subscriptions", "bot_events"], ["message.im", "message.im"]),
        (["settings", "socket_mode_enabled"], "yes"),
        (["settings", "interactivity", "colour"], "blue"),
    ],
    ids=lambda v: "-".join(map(str, v)) if isinstance(v, list) else None,
)
def test_a_broken_manifest_fails_the_schema(path: list[str | int], value: Any) -> None:
    assert schema_errors(_mutated(path, value)) != []


# --- the scopes are the ones the code needs -----------------------------------------------


def test_the_bot_scopes_are_exactly_what_the_called_methods_and_events_need() -> None:
    assert scope_problems(manifest()) == []
    assert "users:read" not in manifest()["oauth_config"]["scopes"]["bot"]  # nothing calls users.*


@pytest.mark.parametrize(
    "scopes",
    [
        ["chat:writes", "commands"],  # a misspelt scope
        ["chat:write", "commands", "im:history", "im:write", "files:write"],  # missing ones
    ],
)
def test_wrong_scopes_are_found(scopes: list[str]) -> None:
    extra = [*manifest()["oauth_config"]["scopes"]["bot"], "users:read"]
    for bad in (scopes, extra):
        assert scope_problems(_mutated(["oauth_config", "scopes", "bot"], bad)) != []


def test_the_doctor_asks_for_the_manifests_scopes() -> None:
    assert tuple(manifest()["oauth_config"]["scopes"]["bot"]) == doctor.SLACK_SCOPES


FAMILIES = (
    "admin|api|apps|auth|bookmarks|bots|chat|conversations|dialog|dnd|emoji|files|oauth"
    "|pins|reactions|reminders|search|team|usergroups|users|views"
)
# Attribute calls that are Web API methods in slack_sdk's naming (chat_postMessage …), and
# the doctor's plain HTTP calls (f"{base}/auth.test").
SDK_METHOD = re.compile(rf"^({FAMILIES})_([A-Za-z0-9_]+)$")
HTTP_METHOD = re.compile(rf"^/(({FAMILIES})\.[A-Za-z.]+)$")


def called_in_source() -> set[str]:
    """Every Web API method named in a call in the shipped code."""
    found: set[str] = set()
    for path in [*(ROOT / "adapters").rglob("*.py"), *(ROOT / "bot").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            if isinstance(node.func, ast.Attribute):
                m = SDK_METHOD.match(node.func.attr)
                if m is not None:
                    found.add(f"{m[1]}.{m[2]}")
            for arg in node.args[:1]:
                if isinstance(arg, ast.JoinedStr):
                    for part in arg.values:
                        if isinstance(part, ast.Constant) and isinstance(part.value, str):
                            h = HTTP_METHOD.match(part.value)
                            if h is not None:
                                found.add(h[1])
    return found


def test_the_list_of_called_methods_is_what_the_code_calls() -> None:
    assert called_in_source() == set(CALLED) | set(APP_TOKEN_METHODS)


def test_every_called_method_is_a_documented_web_api_method() -> None:
    paths = web_spec()["paths"]
    for method in expand(CALLED):
        assert f"/{method}" in paths or method in NEWER_METHODS, method


# --- events, the slash command, App Home --------------------------------------------------


def registered(kind: str) -> set[str]:
    """The names bolt listens to: `@bolt.event("…")` / `@bolt.command("…")` in adapters/slack."""
    names: set[str] = set()
    for path in (ROOT / "adapters" / "slack").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == kind
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "bolt"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                names.add(str(node.args[0].value))
    return names


def test_the_events_are_the_ones_bolt_listens_to() -> None:
    events = manifest()["settings"]["event_subscriptions"]["bot_events"]
    # members write in the bot's DM only: of the message events, message.im
    assert [e for e in events if e.startswith("message")] == ["message.im"]
    assert (
        {e.split(".")[0] for e in events}
        == registered("event")
        == {
            "message",
            "app_home_opened",
        }
    )


def test_the_slash_command_and_its_usage_hint_are_the_codes() -> None:
    (command,) = manifest()["features"]["slash_commands"]
    assert {command["command"]} == registered("command") == {"/nippo"}
    words = set(re.findall(r"[a-z]+", command["usage_hint"]))
    verbs = _verbs() | set(commands.RECORD_VERBS)
    assert verbs and verbs <= words, verbs - words
    assert len(command["description"]) <= 100


def _verbs() -> set[str]:
    """The `verb == "…"` comparisons in commands.run: the subcommands /nippo answers."""
    tree = ast.parse((ROOT / "adapters" / "slack" / "commands.py").read_text(encoding="utf-8"))
    run = next(n for n in ast.walk(tree) if isinstance(n, ast.AsyncFunctionDef) and n.name == "run")
    return {
        str(n.comparators[0].value)
        for n in ast.walk(run)
        if isinstance(n, ast.Compare)
        and isinstance(n.left, ast.Name)
        and n.left.id == "verb"
        and isinstance(n.comparators[0], ast.Constant)
    }


def test_app_home_and_the_request_urls() -> None:
    data = manifest()
    home = data["features"]["app_home"]
    assert home["home_tab_enabled"] and home["messages_tab_enabled"]  # App Home; members' DMs
    assert home["messages_tab_read_only_enabled"] is False  # members write there
    urls = [
        data["features"]["slash_commands"][0]["url"],
        data["settings"]["event_subscriptions"]["request_url"],
        data["settings"]["interactivity"]["request_url"],
    ]
    assert urls == ["https://HOST/slack/events"] * 3  # bolt's one route (adapters/slack/app.py)
    assert '@app.post("/slack/events"' in (ROOT / "adapters/slack/app.py").read_text("utf-8")
    assert data["settings"]["interactivity"]["is_enabled"] is True
    assert data["settings"]["socket_mode_enabled"] is False  # docs/slack.md: how to turn it on


def test_the_go_live_page_shows_this_manifest() -> None:
    page = (ROOT / "docs" / "go-live.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", page, flags=re.S)
    assert any(yaml.safe_load(b) == manifest() for b in blocks)
