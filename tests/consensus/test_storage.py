"""EIP-2335 keystores (official vectors) and the cluster lock."""

from __future__ import annotations

import json

import pytest

from consensus import bls
from consensus.errors import ClusterLockError, KeystoreError, WrongPasswordError
from consensus.keystore import decrypt_keystore, encrypt_keystore
from consensus.lock import ClusterLock
from consensus.threshold import KeyShare
from tests.consensus.locks import dkg_lock

PASSWORD = "𝔱𝔢𝔰𝔱𝔭𝔞𝔰𝔰𝔴𝔬𝔯𝔡🔑"  # the EIP-2335 test password
SECRET = bytes.fromhex("000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f")
SALT = bytes.fromhex("d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3")
IV = bytes.fromhex("264daa3f303d7259501c93d997d84fe6")


def test_eip2335_pbkdf2_official_vector() -> None:
    keystore = encrypt_keystore(SECRET, PASSWORD, kdf="pbkdf2", salt=SALT, iv=IV)
    assert keystore["crypto"]["checksum"]["message"] == \
        "8a9f5d9912ed7e75ea794bc5a89bca5f193721d30868ade6f73043c6ea6febf1"
    assert keystore["crypto"]["cipher"]["message"] == \
        "cee03fde2af33149775b7223e7845e4fb2c8ae1792e5f99fe9ecf474cc8c16ad"
    assert decrypt_keystore(json.dumps(keystore), PASSWORD) == SECRET


@pytest.mark.slow
def test_eip2335_scrypt_official_vector() -> None:  # n = 2^18 needs 256 MiB
    keystore = encrypt_keystore(SECRET, PASSWORD, kdf="scrypt", salt=SALT, iv=IV)
    assert keystore["crypto"]["checksum"]["message"] == \
        "d2217fe5f3e9a1e34581ef8a78f7c9928e436d36dacc5e846690a5581e8ea484"
    assert keystore["crypto"]["cipher"]["message"] == \
        "06ae90d55fe0a6e9c5c3bc5b170827b2e5cce3929ed3f116c2811e6366dfe20f"


def test_scrypt_round_trip_and_wrong_password() -> None:
    share = bls.keygen(b"\x03" * 32)
    keystore = encrypt_keystore(share.to_bytes(), "pw", kdf="scrypt", scrypt_n=1 << 10,
                                pubkey=bls.public_key(share).to_bytes())
    assert bls.SecretKey.from_bytes(decrypt_keystore(keystore, "pw")) == share
    with pytest.raises(WrongPasswordError):
        decrypt_keystore(keystore, "pW")


@pytest.mark.parametrize("mutate", [
    lambda d: d.pop("crypto"),
    lambda d: d["crypto"]["kdf"].update(function="argon2"),
    lambda d: d["crypto"]["cipher"]["params"].update(iv="00"),
    lambda d: d.update(version=3),
    lambda d: d["crypto"]["kdf"]["params"].update(n=3),
    lambda d: d["crypto"]["kdf"]["params"].update(p=1 << 20),  # hours of work
    lambda d: d["crypto"]["kdf"]["params"].update(r=1 << 10),
])
def test_malformed_keystores(mutate: object) -> None:
    keystore = encrypt_keystore(b"\x01" * 32, "pw", kdf="scrypt", scrypt_n=1 << 4)
    assert callable(mutate)
    mutate(keystore)
    with pytest.raises(KeystoreError):
        decrypt_keystore(keystore, "pw")


def _lock() -> tuple[ClusterLock, list[KeyShare]]:
    return dkg_lock(b"\x05" * 32)


def test_pbkdf2_work_factor_is_bounded() -> None:
    keystore = encrypt_keystore(b"\x01" * 32, "pw", kdf="pbkdf2")
    keystore["crypto"]["kdf"]["params"]["c"] = 10**9
    with pytest.raises(KeystoreError, match="iteration count"):
        decrypt_keystore(keystore, "pw")


def test_lock_round_trip_and_share_check() -> None:
    lock, shares = _lock()
    text = lock.to_json()
    again = ClusterLock.from_json(text)
    assert again == lock
    assert again.canonical_hash() == lock.canonical_hash()
    assert all(again.verify_share(s) for s in shares)
    assert not again.verify_share(KeyShare(1, shares[1].secret))


def test_lock_tampering_detected() -> None:
    lock, _ = _lock()
    doc = json.loads(lock.to_json())
    doc["epoch"] = 2
    with pytest.raises(ClusterLockError, match="hash"):
        ClusterLock.from_json(json.dumps(doc))
    doc = json.loads(lock.to_json())
    doc["public_shares"][0], doc["public_shares"][1] = (
        {"index": 1, "public_key": doc["public_shares"][1]["public_key"]},
        {"index": 2, "public_key": doc["public_shares"][0]["public_key"]})
    with pytest.raises(ClusterLockError):
        ClusterLock.from_json(json.dumps(doc))
    for text in ("", "[]", "{}", lock.to_json().replace("0x", "0y", 1)):
        with pytest.raises(ClusterLockError):
            ClusterLock.from_json(text)
