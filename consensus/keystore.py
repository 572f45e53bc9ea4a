"""EIP-2335 keystores (version 4) for secret key shares.

KDF scrypt or PBKDF2-HMAC-SHA256, checksum SHA-256, cipher AES-128-CTR. Passwords are NFKD
normalised with control codes stripped, as the EIP requires. A wrong password is detected by
the checksum and raises :class:`~consensus.errors.WrongPasswordError`.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import unicodedata
import uuid
from typing import Any

from Crypto.Cipher import AES
from Crypto.Util import Counter

from consensus.errors import KeystoreError, WrongPasswordError

SCRYPT_DEFAULTS = {"n": 262144, "r": 8, "p": 1}
PBKDF2_DEFAULT_ROUNDS = 262144
_MAX_SCRYPT_MEMORY = 1 << 30


def _password_bytes(password: str) -> bytes:
    normalised = unicodedata.normalize("NFKD", password)
    stripped = "".join(c for c in normalised
                       if not (ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F))
    return stripped.encode("utf-8")


_MAX_SCRYPT_P = 16
_MAX_PBKDF2_ROUNDS = 10_000_000
"""Upper bounds on work factors a keystore file may ask for (EIP-2335 defaults: p = 1,
c = 262,144): beyond them decryption would take minutes to hours."""


def _derive(kdf: dict[str, Any], password: str) -> bytes:
    params = kdf["params"]
    salt = bytes.fromhex(params["salt"])
    dklen = int(params["dklen"])
    if dklen != 32:
        raise KeystoreError("only dklen 32 is supported")
    if kdf["function"] == "scrypt":
        n, r, p = int(params["n"]), int(params["r"]), int(params["p"])
        if n < 2 or n & (n - 1) or n * r * 128 * 2 > _MAX_SCRYPT_MEMORY \
                or not 1 <= r <= 64 or not 1 <= p <= _MAX_SCRYPT_P:
            raise KeystoreError("unsupported scrypt parameters")
        return hashlib.scrypt(_password_bytes(password), salt=salt, n=n, r=r, p=p, dklen=dklen,
                              maxmem=_MAX_SCRYPT_MEMORY)
    if kdf["function"] == "pbkdf2":
        if params.get("prf") != "hmac-sha256":
            raise KeystoreError("only hmac-sha256 is supported for pbkdf2")
        rounds = int(params["c"])
        if not 1 <= rounds <= _MAX_PBKDF2_ROUNDS:  # a hostile file must not cost hours
            raise KeystoreError("unsupported pbkdf2 iteration count")
        return hashlib.pbkdf2_hmac("sha256", _password_bytes(password), salt, rounds, dklen)
    raise KeystoreError(f"unsupported kdf {kdf['function']!r}")


def _aes_ctr(key: bytes, iv: bytes, data: bytes) -> bytes:
    counter = Counter.new(128, initial_value=int.from_bytes(iv, "big"))
    return bytes(AES.new(key, AES.MODE_CTR, counter=counter).encrypt(data))


def encrypt_keystore(secret: bytes, password: str, *, kdf: str = "scrypt",
                     pubkey: bytes = b"", path: str = "", description: str = "",
                     salt: bytes | None = None, iv: bytes | None = None,
                     scrypt_n: int = SCRYPT_DEFAULTS["n"],
                     pbkdf2_rounds: int = PBKDF2_DEFAULT_ROUNDS) -> dict[str, Any]:
    """Encrypt ``secret`` (a 32-byte share) into an EIP-2335 keystore document."""
    salt = secrets.token_bytes(32) if salt is None else salt
    iv = secrets.token_bytes(16) if iv is None else iv
    if kdf == "scrypt":
        params: dict[str, Any] = {"dklen": 32, "n": scrypt_n, "r": 8, "p": 1, "salt": salt.hex()}
    elif kdf == "pbkdf2":
        params = {"dklen": 32, "c": pbkdf2_rounds, "prf": "hmac-sha256", "salt": salt.hex()}
    else:
        raise KeystoreError(f"unsupported kdf {kdf!r}")
    kdf_doc = {"function": kdf, "params": params, "message": ""}
    key = _derive(kdf_doc, password)
    cipher_message = _aes_ctr(key[:16], iv, secret)
    return {
        "crypto": {
            "kdf": kdf_doc,
            "checksum": {"function": "sha256", "params": {},
                         "message": hashlib.sha256(key[16:32] + cipher_message).hexdigest()},
            "cipher": {"function": "aes-128-ctr", "params": {"iv": iv.hex()},
                       "message": cipher_message.hex()},
        },
        "description": description,
        "pubkey": pubkey.hex(),
        "path": path,
        "uuid": str(uuid.uuid4()),
        "version": 4,
    }


def decrypt_keystore(keystore: dict[str, Any] | str, password: str) -> bytes:
    """Decrypt an EIP-2335 keystore (dict or JSON text).

    Raises ``WrongPasswordError`` on a checksum mismatch and ``KeystoreError`` for a malformed
    or unsupported document.
    """
    try:
        doc = json.loads(keystore) if isinstance(keystore, str) else keystore
        if doc["version"] != 4:
            raise KeystoreError("only keystore version 4 is supported")
        crypto = doc["crypto"]
        if crypto["checksum"]["function"] != "sha256" \
                or crypto["cipher"]["function"] != "aes-128-ctr":
            raise KeystoreError("unsupported checksum or cipher")
        key = _derive(crypto["kdf"], password)
        cipher_message = bytes.fromhex(crypto["cipher"]["message"])
        iv = bytes.fromhex(crypto["cipher"]["params"]["iv"])
        expected = bytes.fromhex(crypto["checksum"]["message"])
    except KeystoreError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise KeystoreError(f"malformed keystore: {type(err).__name__}: {err}") from err
    if len(iv) != 16:
        raise KeystoreError("iv must be 16 bytes")
    if hashlib.sha256(key[16:32] + cipher_message).digest() != expected:
        raise WrongPasswordError("keystore checksum mismatch: wrong password")
    return _aes_ctr(key[:16], iv, cipher_message)
