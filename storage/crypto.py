"""Encryption at rest for health answers, notes, free text and evidence (APPI 要配慮個人情報).

AES-256-GCM with a random 96-bit nonce per value. The key lives outside the database, in the
environment: `NIPPO_DATA_KEY` (base64 of 32 random bytes; `nippo data key` prints a new one)
and `NIPPO_DATA_KEYS_OLD` (comma-separated older keys, only read, during a rotation).

A stored value is the text `enc:v1:<key id>:<base64(nonce + ciphertext + tag)>` (bytes: the
same prefix, then nonce + ciphertext + tag raw), the key id being the first 8 hex digits of the
key's SHA-256. No associated data is bound: a ciphertext copied into another column by someone
who can write the database decrypts there too; what this protects against is a copy of the
file, a dump or a backup being read, not a writer of the database.

With no key configured values are stored as plaintext, as before; a value without the prefix
is always read as plaintext, so encryption can be switched on with no downtime and existing
rows encrypted afterwards (`nippo data encrypt --apply`). A plaintext value that happens to
begin with `enc:` is stored behind `enc:plain:` so that it is never mistaken for a ciphertext.

Errors name the key id or the environment variable, never a value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_ENV = "NIPPO_DATA_KEY"
OLD_KEYS_ENV = "NIPPO_DATA_KEYS_OLD"
PREFIX = "enc:v1:"
ESCAPE = "enc:plain:"  # a plaintext that begins with "enc:" is stored behind this
PREFIX_BYTES = PREFIX.encode()
ESCAPE_BYTES = ESCAPE.encode()
NONCE_BYTES = 12
KEY_BYTES = 32


class DataKeyError(Exception):
    """A key is malformed, missing or unknown (the message never holds a value)."""


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def new_key() -> str:
    """A new random key, as `NIPPO_DATA_KEY` takes it."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def parse_key(text: str, name: str = KEY_ENV) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise DataKeyError(f"{name} must be the base64 of 32 random bytes (see `nippo data key`)")
    return key


@dataclass(frozen=True)
class Keyring:
    """The current key (None: write plaintext) and every key that may be read."""

    current: bytes | None = None
    old: tuple[bytes, ...] = ()
    _ciphers: dict[str, AESGCM] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for key in (*self.old, *([self.current] if self.current else [])):
            self._ciphers[key_id(key)] = AESGCM(key)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Keyring:
        """The keys in `NIPPO_DATA_KEY` / `NIPPO_DATA_KEYS_OLD`; a malformed one raises."""
        env = os.environ if environ is None else environ
        current_text = env.get(KEY_ENV, "").strip()
        current = parse_key(current_text) if current_text else None
        old = tuple(
            parse_key(part, OLD_KEYS_ENV)
            for part in env.get(OLD_KEYS_ENV, "").split(",")
            if part.strip()
        )
        return cls(current, old)

    @property
    def enabled(self) -> bool:
        """New values are encrypted."""
        return self.current is not None

    @property
    def current_id(self) -> str | None:
        return key_id(self.current) if self.current is not None else None

    def _cipher(self, kid: str) -> AESGCM:
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise DataKeyError(
                f"a value is encrypted with key {kid}, which is neither {KEY_ENV} nor in "
                f"{OLD_KEYS_ENV}"
            )
        return cipher

    # --- text --------------------------------------------------------------------------

    def encrypt(self, text: str) -> str:
        """The stored form of `text`: encrypted with the current key, or plaintext."""
        if self.current is None:
            return ESCAPE + text if text.startswith("enc:") else text
        kid = key_id(self.current)
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._ciphers[kid].encrypt(nonce, text.encode(), None)
        return f"{PREFIX}{kid}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, stored: str) -> str:
        if stored.startswith(ESCAPE):
            return stored[len(ESCAPE) :]
        if not stored.startswith(PREFIX):
            return stored
        kid, _, b64 = stored[len(PREFIX) :].partition(":")
        try:
            blob = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise DataKeyError(f"a value encrypted with key {kid} is damaged") from exc
        return self._open(kid, blob).decode()

    # --- bytes -------------------------------------------------------------------------

    def encrypt_bytes(self, data: bytes) -> bytes:
        if self.current is None:
            return ESCAPE_BYTES + data if data.startswith(b"enc:") else data
        kid = key_id(self.current)
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._ciphers[kid].encrypt(nonce, data, None)
        return PREFIX_BYTES + kid.encode() + b":" + nonce + sealed

    def decrypt_bytes(self, stored: bytes) -> bytes:
        if stored.startswith(ESCAPE_BYTES):
            return stored[len(ESCAPE_BYTES) :]
        if not stored.startswith(PREFIX_BYTES):
            return stored
        head = len(PREFIX_BYTES)
        kid = stored[head : head + 8].decode("ascii", "replace")
        return self._open(kid, stored[head + 9 :])

    def _open(self, kid: str, blob: bytes) -> bytes:
        cipher = self._cipher(kid)
        try:
            return cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], None)
        except InvalidTag as exc:
            raise DataKeyError(f"a value encrypted with key {kid} is damaged") from exc

    # --- what a rewrite must touch -----------------------------------------------------

    def is_current(self, stored: str | bytes | None) -> bool:
        """`stored` is already in the form the current key writes (None counts as done)."""
        if stored is None:
            return True
        if isinstance(stored, bytes):
            stored = stored[: len(PREFIX_BYTES) + 8].decode("ascii", "replace")
        if self.current is None:
            return not stored.startswith(PREFIX)
        return stored.startswith(f"{PREFIX}{key_id(self.current)}")


PLAINTEXT = Keyring()
