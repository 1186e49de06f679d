"""Validate request bodies against LINE's official OpenAPI spec (messaging-api.yml).

Plain JSON Schema ignores OpenAPI discriminators, so a body with a mistyped message would
pass as a bare `Message`. `check_body` follows each discriminator to the concrete schema
(TextMessage, FlexMessage, FlexBox, PostbackAction …), validates there too, and refuses
properties the spec does not define, so a typo like `displaytext` fails.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from openapi_schema_validator import OAS30Validator

SPEC = Path("/work/shared/specs/line/messaging-api.yml")


@cache
def _spec() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    return data


def _schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = _spec()["components"]["schemas"]
    return schemas


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _props(schema: dict[str, Any]) -> dict[str, Any]:
    """Properties of a schema including its allOf parts (resolved)."""
    out: dict[str, Any] = {}
    if "$ref" in schema:
        return _props(_schemas()[_ref_name(schema["$ref"])])
    for part in schema.get("allOf", []):
        out.update(_props(part))
    out.update(schema.get("properties", {}))
    return out


def _validate(instance: Any, name: str) -> None:
    root = {"$ref": f"#/components/schemas/{name}", "components": _spec()["components"]}
    OAS30Validator(root).validate(instance)


def check(instance: Any, name: str, path: str = "$") -> None:
    schema = _schemas()[name]
    _validate(instance, name)
    disc = schema.get("discriminator")
    if disc and isinstance(instance, dict):
        tag = instance.get(disc["propertyName"])
        target = disc.get("mapping", {}).get(tag)
        assert target, f"{path}: unknown {name} type {tag!r}"
        if _ref_name(target) != name:
            check(instance, _ref_name(target), path)
            return
    if not isinstance(instance, dict):
        return
    props = _props(schema)
    extra = set(instance) - set(props)
    assert not extra, f"{path}: {name} has no properties {sorted(extra)}"
    for key, pschema in props.items():
        if key not in instance:
            continue
        value = instance[key]
        if "$ref" in pschema:
            check(value, _ref_name(pschema["$ref"]), f"{path}.{key}")
        elif pschema.get("type") == "array" and "$ref" in pschema.get("items", {}):
            for i, item in enumerate(value):
                check(item, _ref_name(pschema["items"]["$ref"]), f"{path}.{key}[{i}]")


def check_body(body: dict[str, Any], path: str) -> None:
    """A recorded reply, push or loading-animation body against its request schema."""
    name = {
        "/v2/bot/message/reply": "ReplyMessageRequest",
        "/v2/bot/message/push": "PushMessageRequest",
        "/v2/bot/chat/loading/start": "ShowLoadingAnimationRequest",
    }[path]
    check(body, name)
