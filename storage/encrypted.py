"""Column types that encrypt on the way in and decrypt on the way out (see storage/crypto.py).

The keyring belongs to the engine, not to the process: `Database` attaches the one it was
given (by default the environment's) to each of its engines' dialect, and these types look it
up on the dialect they are handed. An engine without one (Alembic's) writes plaintext and
reads plaintext only. The services and the pure core see decrypted values only.

Text, int and float values are stored as text; evidence bytes stay binary. JSON values stay
JSON: encrypted, a value becomes `{"nippo_enc": "enc:v1:…"}`, plus the top-level keys named in
`clear`, kept readable for SQL (the inbox's sender, `source`, by which the LINE inbox pass
orders its work). No SQL filters, orders or aggregates on an encrypted column.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import JSON, LargeBinary, Text, TypeDecorator
from sqlalchemy.engine import Dialect

from storage.crypto import PLAINTEXT, Keyring

_ATTRIBUTE = "nippo_keyring"
ENVELOPE = "nippo_enc"


def attach(dialect: Dialect, keyring: Keyring) -> None:
    """Give an engine's dialect the keyring its encrypted columns use."""
    setattr(dialect, _ATTRIBUTE, keyring)


def keyring_of(dialect: Dialect) -> Keyring:
    keyring = getattr(dialect, _ATTRIBUTE, None)
    return keyring if isinstance(keyring, Keyring) else PLAINTEXT


class EncryptedText(TypeDecorator[str]):
    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else keyring_of(dialect).encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else keyring_of(dialect).decrypt(value)


class EncryptedInt(TypeDecorator[int]):
    impl = Text
    cache_ok = True

    def process_bind_param(self, value: int | None, dialect: Dialect) -> str | None:
        return None if value is None else keyring_of(dialect).encrypt(str(int(value)))

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        return int(keyring_of(dialect).decrypt(value) if isinstance(value, str) else value)


class EncryptedFloat(TypeDecorator[float]):
    impl = Text
    cache_ok = True

    def process_bind_param(self, value: float | None, dialect: Dialect) -> str | None:
        return None if value is None else keyring_of(dialect).encrypt(repr(float(value)))

    def process_result_value(self, value: Any, dialect: Dialect) -> float | None:
        if value is None:
            return None
        return float(keyring_of(dialect).decrypt(value) if isinstance(value, str) else value)


class EncryptedBytes(TypeDecorator[bytes]):
    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: bytes | None, dialect: Dialect) -> bytes | None:
        return None if value is None else keyring_of(dialect).encrypt_bytes(bytes(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> bytes | None:
        return None if value is None else keyring_of(dialect).decrypt_bytes(bytes(value))


def seal_json(keyring: Keyring, value: Any, clear: tuple[str, ...] = ()) -> Any:
    """The stored JSON of `value`: itself without a current key, else the envelope."""
    if not keyring.enabled:
        return value
    sealed: dict[str, Any] = {ENVELOPE: keyring.encrypt(json.dumps(value, ensure_ascii=False))}
    if clear and isinstance(value, dict):
        sealed.update((k, value[k]) for k in clear if k in value)
    return sealed


def open_json(keyring: Keyring, stored: Any) -> Any:
    if isinstance(stored, dict) and isinstance(stored.get(ENVELOPE), str):
        return json.loads(keyring.decrypt(stored[ENVELOPE]))
    return stored


def is_sealed_with_current(keyring: Keyring, stored: Any) -> bool:
    """`stored` JSON is in the form the current key writes."""
    if isinstance(stored, dict) and isinstance(stored.get(ENVELOPE), str):
        return keyring.enabled and keyring.is_current(stored[ENVELOPE])
    return not keyring.enabled


class EncryptedJSON(TypeDecorator[Any]):
    """JSON stored as the envelope; `clear`: top-level keys also kept readable."""

    impl = JSON
    cache_ok = True

    def __init__(self, clear: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.clear = tuple(clear)

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else seal_json(keyring_of(dialect), value, self.clear)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else open_json(keyring_of(dialect), value)
