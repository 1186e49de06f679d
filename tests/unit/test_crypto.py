"""storage/crypto.py: the stored form of encrypted values (issue #23)."""

from __future__ import annotations

import base64

import pytest

from storage.crypto import PREFIX, DataKeyError, Keyring, key_id, new_key, parse_key


def _ring(*old: bytes) -> tuple[bytes, Keyring]:
    key = parse_key(new_key())
    return key, Keyring(key, old)


def test_a_value_is_encrypted_with_a_fresh_nonce_and_named_by_its_key() -> None:
    key, ring = _ring()
    one, two = ring.encrypt("体調2 つらい"), ring.encrypt("体調2 つらい")
    assert one != two and one.startswith(f"{PREFIX}{key_id(key)}:")
    assert "つらい" not in one
    blob = base64.b64decode(one.split(":", 3)[3])
    assert len(blob) == 12 + len("体調2 つらい".encode()) + 16  # nonce + ciphertext + tag
    assert ring.decrypt(one) == ring.decrypt(two) == "体調2 つらい"
    assert ring.decrypt_bytes(ring.encrypt_bytes(b"\x00jpeg")) == b"\x00jpeg"
    assert b"jpeg" not in ring.encrypt_bytes(b"\x00jpeg")


def test_plaintext_reads_as_itself_and_is_never_mistaken_for_a_ciphertext() -> None:
    _, ring = _ring()
    plain = Keyring()
    assert ring.decrypt("眠れない") == "眠れない"
    assert plain.encrypt("眠れない") == "眠れない"
    tricky = "enc:v1:deadbeef:これは本文"
    assert plain.decrypt(plain.encrypt(tricky)) == tricky
    assert ring.decrypt(plain.encrypt(tricky)) == tricky
    assert plain.decrypt_bytes(plain.encrypt_bytes(b"enc:v1:x")) == b"enc:v1:x"


def test_old_keys_read_and_unknown_or_damaged_values_fail_clearly() -> None:
    old_key, old = _ring()
    stored = old.encrypt("秘密")
    _, rotated = _ring(old_key)
    assert rotated.decrypt(stored) == "秘密" and not rotated.is_current(stored)
    assert rotated.is_current(rotated.encrypt("秘密"))
    _, stranger = _ring()
    with pytest.raises(DataKeyError, match=key_id(old_key)) as caught:
        stranger.decrypt(stored)
    assert "秘密" not in str(caught.value)
    damaged = stored[:-4] + ("AAAA" if not stored.endswith("AAAA") else "BBBB")
    with pytest.raises(DataKeyError, match="damaged"):
        old.decrypt(damaged)


def test_keys_come_from_the_environment_and_malformed_ones_are_refused() -> None:
    a, b = new_key(), new_key()
    ring = Keyring.from_env({"NIPPO_DATA_KEY": a, "NIPPO_DATA_KEYS_OLD": f" {b} ,"})
    assert ring.current_id == key_id(parse_key(a)) and len(ring.old) == 1
    assert not Keyring.from_env({}).enabled
    for bad in ("short", base64.b64encode(b"x" * 16).decode(), "!!!"):
        with pytest.raises(DataKeyError, match="NIPPO_DATA_KEY must be"):
            Keyring.from_env({"NIPPO_DATA_KEY": bad})
