"""Feldman checks of a DKG deal (pure functions used by ``consensus.dkg.machine``).

A deal publishes commitments ``C_k = a_k * G2`` to the dealer's polynomial; a share ``s_j``
for recipient ``j`` is valid when ``s_j * G2 == sum_k j^k C_k``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from consensus.bls import CURVE_ORDER, G2_IDENTITY
from consensus.bls.backend import Backend
from consensus.dkg.config import CeremonyConfig
from consensus.dkg.messages import Deal
from consensus.errors import EncodingError


def deal_problem(config: CeremonyConfig, impl: Backend, deal: Deal) -> str | None:
    """Why ``deal``'s public part is invalid for ``config`` (commitment count and points,
    recipients covered, resharing constant term), or None when it is well-formed."""
    if len(deal.commitments) != config.threshold:
        return f"{len(deal.commitments)} commitments for threshold {config.threshold}"
    if tuple(i for i, _ in deal.encrypted_shares) != tuple(m.index for m in config.recipients):
        return "encrypted shares do not cover exactly the recipients"
    for commitment in deal.commitments:
        try:
            impl.g2_check(commitment)
        except EncodingError as err:
            return f"invalid commitment: {err}"
        if commitment == G2_IDENTITY:
            return "identity commitment"
    old = config.old_public_share(deal.dealer)
    if old is not None and deal.commitments[0] != old.to_bytes():
        return "constant commitment is not the dealer's old public share"
    return None


def share_matches(impl: Backend, deal: Deal, index: int, value: int) -> bool:
    """Feldman check ``value * G2 == sum_k index^k C_k`` as one multi-exponentiation."""
    if not 0 < value < CURVE_ORDER:
        return False
    powers = [pow(index, k, CURVE_ORDER) for k in range(len(deal.commitments))]
    combined = impl.g2_lincomb([*deal.commitments, impl.g2_generator_mul(1)], [*powers, -value])
    return combined == G2_IDENTITY


def failing_shares(impl: Backend, index: int, shares: Mapping[int, int],
                   deals: Mapping[int, Deal], seed: bytes) -> list[int]:
    """The dealers whose share ``shares[dealer]`` for recipient ``index`` fails the Feldman
    check against ``deals[dealer]``, ascending.

    One multi-exponentiation checks all of them at once with weights derived from the secret
    ``seed`` (``sum w_d (sum_k j^k C_dk - s_d G2) == 0``); only on failure each is checked alone.
    """
    if not shares:
        return []
    dealers = sorted(shares)
    weights = [int.from_bytes(hashlib.sha256(seed + d.to_bytes(4, "big")).digest()[:8],
                              "big") | 1 for d in dealers]
    points: list[bytes] = []
    scalars: list[int] = []
    for weight, dealer in zip(weights, dealers, strict=True):
        commitments = deals[dealer].commitments
        points += commitments
        scalars += [weight * pow(index, k, CURVE_ORDER) % CURVE_ORDER
                    for k in range(len(commitments))]
    points.append(impl.g2_generator_mul(1))
    scalars.append(-sum(w * shares[d] for w, d in zip(weights, dealers, strict=True)))
    if impl.g2_lincomb(points, scalars) == G2_IDENTITY:
        return []
    return [d for d in dealers if not share_matches(impl, deals[d], index, shares[d])]
