"""The min-sig BLS scheme: keygen, sign, verify, proofs of possession, aggregation.

Every function takes an optional ``backend`` (a :class:`Backend` or its name); the default is
arkworks. Results are byte-identical across backends.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

from consensus.bls.backend import Backend
from consensus.bls.params import CURVE_ORDER, DST_POP, DST_SIGNATURE
from consensus.bls.registry import resolve
from consensus.bls.types import PublicKey, SecretKey, Signature
from consensus.errors import ConsensusError, EncodingError, InvalidLengthError

_KEYGEN_SALT = b"BLS-SIG-KEYGEN-SALT-"

BackendArg = Backend | str | None


def _hkdf_expand(prk: bytes, info: bytes, length: int) -> bytes:
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
        counter += 1
    return okm[:length]


def keygen(ikm: bytes, key_info: bytes = b"") -> SecretKey:
    """KeyGen of draft-irtf-cfrg-bls-signature-05 §2.3 (HKDF-SHA256, ``ikm`` >= 32 bytes)."""
    if not isinstance(ikm, bytes | bytearray) or len(ikm) < 32:
        raise InvalidLengthError("keygen needs at least 32 bytes of input keying material")
    salt = _KEYGEN_SALT
    value = 0
    while value == 0:
        salt = hashlib.sha256(salt).digest()
        prk = hmac.new(salt, bytes(ikm) + b"\x00", hashlib.sha256).digest()
        okm = _hkdf_expand(prk, key_info + (48).to_bytes(2, "big"), 48)
        value = int.from_bytes(okm, "big") % CURVE_ORDER
    return SecretKey(value)


def random_secret_key() -> SecretKey:
    """A fresh secret key from the OS CSPRNG."""
    return keygen(secrets.token_bytes(32))


def public_key(sk: SecretKey, *, backend: BackendArg = None) -> PublicKey:
    """``sk * G2``."""
    return PublicKey(resolve(backend).g2_generator_mul(sk.value))


def hash_to_g1(msg: bytes, *, dst: bytes = DST_SIGNATURE, backend: BackendArg = None) -> Signature:
    """RFC 9380 hash_to_curve to G1 (returned in the G1 ``Signature`` type)."""
    return Signature(resolve(backend).hash_to_g1(bytes(msg), dst))


def sign(sk: SecretKey, msg: bytes, *, backend: BackendArg = None) -> Signature:
    """``sk * H(msg)`` with the signature DST."""
    impl = resolve(backend)
    return Signature(impl.g1_lincomb([impl.hash_to_g1(bytes(msg), DST_SIGNATURE)], [sk.value]))


def verify(pk: PublicKey, msg: bytes, sig: Signature, *, backend: BackendArg = None) -> bool:
    """Whether ``sig`` is a valid signature on ``msg`` under ``pk`` (pk/sig already decoded)."""
    return resolve(backend).verify(pk.data, bytes(msg), DST_SIGNATURE, sig.data)


def verify_bytes(pk: bytes, msg: bytes, sig: bytes, *, backend: BackendArg = None) -> bool:
    """Strictly decode ``pk`` and ``sig`` and verify; any decoding failure gives ``False``."""
    try:
        return verify(PublicKey.from_bytes(pk, backend=backend), msg,
                      Signature.from_bytes(sig, backend=backend), backend=backend)
    except EncodingError:
        return False


def pop_prove(sk: SecretKey, *, backend: BackendArg = None) -> Signature:
    """Proof of possession: ``sk * H_pop(pk)`` under the POP DST."""
    impl = resolve(backend)
    pk = impl.g2_generator_mul(sk.value)
    return Signature(impl.g1_lincomb([impl.hash_to_g1(pk, DST_POP)], [sk.value]))


def pop_verify(pk: PublicKey, proof: Signature, *, backend: BackendArg = None) -> bool:
    """Whether ``proof`` is a valid proof of possession of ``pk``."""
    return resolve(backend).verify(pk.data, pk.data, DST_POP, proof.data)


def aggregate_signatures(sigs: Sequence[Signature], *, backend: BackendArg = None) -> Signature:
    """Sum of signatures (raises ``ConsensusError`` for an empty list)."""
    if not sigs:
        raise ConsensusError("cannot aggregate zero signatures")
    return Signature(resolve(backend).g1_lincomb([s.data for s in sigs], [1] * len(sigs)))


def aggregate_public_keys(pks: Sequence[PublicKey], *, backend: BackendArg = None) -> PublicKey:
    """Sum of public keys (raises ``ConsensusError`` for an empty list)."""
    if not pks:
        raise ConsensusError("cannot aggregate zero public keys")
    return PublicKey(resolve(backend).g2_lincomb([p.data for p in pks], [1] * len(pks)))


def batch_verify_same_message(pairs: Sequence[tuple[PublicKey, Signature]], msg: bytes, *,
                              backend: BackendArg = None) -> bool:
    """Verify many signatures on one message with one two-pairing check.

    Random linear combination: with fresh 64-bit ``r_i``, checks
    ``e(sum r_i sig_i, -G2) * e(H(msg), sum r_i pk_i) == 1``; a batch with any invalid member
    passes with probability <= 2^-64. Callers fall back to one-by-one verification on failure.
    """
    if not pairs:
        return True
    impl = resolve(backend)
    weights = [secrets.randbits(64) | 1 for _ in pairs]
    sig = impl.g1_lincomb([s.data for _, s in pairs], weights)
    pk = impl.g2_lincomb([p.data for p, _ in pairs], weights)
    return impl.verify(pk, bytes(msg), DST_SIGNATURE, sig)
