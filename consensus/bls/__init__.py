"""BLS12-381 min-sig (signatures in G1, keys in G2) with two interchangeable backends.

Public API: the types :class:`SecretKey`, :class:`PublicKey`, :class:`Signature`; the scheme
functions; ``get_backend("arkworks" | "py_ecc")``; ``hash_to_field_g1`` for debugging the
on-chain hash-to-curve.
"""

from consensus.bls.backend import G1_IDENTITY, G2_IDENTITY, Backend
from consensus.bls.params import (
    CURVE_ORDER,
    DST_POP,
    DST_SIGNATURE,
    FIELD_MODULUS,
    expand_message_xmd,
    hash_to_field_g1,
)
from consensus.bls.registry import BACKEND_NAMES, DEFAULT_BACKEND, get_backend
from consensus.bls.scheme import (
    aggregate_public_keys,
    aggregate_signatures,
    batch_verify_same_message,
    hash_to_g1,
    keygen,
    pop_prove,
    pop_verify,
    public_key,
    random_secret_key,
    sign,
    verify,
    verify_bytes,
)
from consensus.bls.types import PublicKey, SecretKey, Signature

__all__ = [
    "BACKEND_NAMES",
    "CURVE_ORDER",
    "DEFAULT_BACKEND",
    "DST_POP",
    "DST_SIGNATURE",
    "FIELD_MODULUS",
    "G1_IDENTITY",
    "G2_IDENTITY",
    "Backend",
    "PublicKey",
    "SecretKey",
    "Signature",
    "aggregate_public_keys",
    "aggregate_signatures",
    "batch_verify_same_message",
    "expand_message_xmd",
    "get_backend",
    "hash_to_field_g1",
    "hash_to_g1",
    "keygen",
    "pop_prove",
    "pop_verify",
    "public_key",
    "random_secret_key",
    "sign",
    "verify",
    "verify_bytes",
]
