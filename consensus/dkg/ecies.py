"""Encryption of secret shares to a member's long-term BLS12-381 G1 encryption key.

ECIES over G1: ephemeral ``E = e*G1``, shared point ``e*PK``, key = SHA-256 of the shared point,
``E``, the recipient key and the associated data; AES-256-GCM from pycryptodome. A deal's
ciphertexts can therefore travel over broadcast. Ciphertext layout: ``E (48) ‖ ct (32) ‖
tag (16)`` = 96 bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from Crypto.Cipher import AES

from consensus.bls import CURVE_ORDER, G1_IDENTITY
from consensus.bls.registry import resolve
from consensus.bls.scheme import BackendArg
from consensus.errors import EncodingError

CIPHERTEXT_SIZE = 48 + 32 + 16
_NONCE = bytes(12)  # each key encrypts exactly one plaintext: the ephemeral scalar is fresh


@dataclass(frozen=True, repr=False)
class EncryptionKeyPair:
    """A member's long-term share-encryption key: scalar ``secret``, public ``secret * G1``."""

    secret: int
    public: bytes

    @classmethod
    def from_seed(cls, seed: bytes, *, backend: BackendArg = None) -> EncryptionKeyPair:
        """Derive a key pair deterministically from at least 32 bytes of secret ``seed``."""
        if len(seed) < 32:
            raise EncodingError("encryption key seed must be at least 32 bytes")
        secret = int.from_bytes(hashlib.sha512(b"dkg-enc-key/" + seed).digest(), "big")
        secret = secret % (CURVE_ORDER - 1) + 1
        return cls(secret, resolve(backend).g1_generator_mul(secret))

    def __repr__(self) -> str:
        return f"EncryptionKeyPair(public={self.public.hex()[:16]}…)"


def _key(shared: bytes, ephemeral: bytes, recipient: bytes, aad: bytes) -> bytes:
    return hashlib.sha256(b"dkg-ecies/v1" + shared + ephemeral + recipient + aad).digest()


def encrypt(recipient: bytes, plaintext: bytes, aad: bytes, ephemeral_secret: int, *,
            backend: BackendArg = None) -> bytes:
    """Encrypt a 32-byte ``plaintext`` to G1 key ``recipient`` (validated by the caller)."""
    impl = resolve(backend)
    scalar = ephemeral_secret % (CURVE_ORDER - 1) + 1
    ephemeral = impl.g1_generator_mul(scalar)
    shared = impl.g1_lincomb([recipient], [scalar])
    cipher = AES.new(_key(shared, ephemeral, recipient, aad), AES.MODE_GCM, nonce=_NONCE)
    cipher.update(aad)
    body, tag = cipher.encrypt_and_digest(plaintext)
    return ephemeral + bytes(body) + bytes(tag)


def decrypt(keys: EncryptionKeyPair, ciphertext: bytes, aad: bytes, *,
            backend: BackendArg = None) -> bytes | None:
    """Decrypt; ``None`` when the ciphertext is malformed or does not authenticate."""
    impl = resolve(backend)
    if len(ciphertext) != CIPHERTEXT_SIZE:
        return None
    ephemeral = bytes(ciphertext[:48])
    try:
        impl.g1_check(ephemeral)
    except EncodingError:
        return None
    if ephemeral == G1_IDENTITY:
        return None
    shared = impl.g1_lincomb([ephemeral], [keys.secret])
    cipher = AES.new(_key(shared, ephemeral, keys.public, aad), AES.MODE_GCM, nonce=_NONCE)
    cipher.update(aad)
    try:
        return bytes(cipher.decrypt_and_verify(ciphertext[48:80], ciphertext[80:]))
    except ValueError:
        return None
