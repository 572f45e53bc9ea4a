"""Deploy-time self-test of a chain's EIP-2537 (BLS12-381) precompiles.

The oracle gate verifies BLS signatures through the precompiles 0x0b-0x11. A chain without
them would accept the deployment and then reject every confirmation, so the deployer refuses
it up front. Each check calls a precompile with a known input and compares the whole answer
with the value computed by py_ecc; a failed call, a short or a different answer means
"unsupported" (docs/protocol.md, DESIGN.md: treat a failed or short return as invalid).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from py_ecc.bls.hash_to_curve import clear_cofactor_G1, map_to_curve_G1
from py_ecc.fields import optimized_bls12_381_FQ as FQ
from py_ecc.optimized_bls12_381.optimized_curve import G1, G2, add, neg, normalize

from deploy.errors import ChainUnsupportedError

RpcCall = Callable[[str, list[Any]], Any]
"""A blocking JSON-RPC call ``(method, params) -> result`` (``deploy.rpc.BlockingRpc.call``)."""

G1ADD = "0x000000000000000000000000000000000000000b"
PAIRING_CHECK = "0x000000000000000000000000000000000000000f"
MAP_FP_TO_G1 = "0x0000000000000000000000000000000000000010"


def _fp(value: int) -> bytes:
    return value.to_bytes(64, "big")  # EIP-2537: 16 zero bytes then the 48-byte element


def _g1(point: Any) -> bytes:
    x, y = normalize(point)
    return _fp(int(x)) + _fp(int(y))


def _g2(point: Any) -> bytes:
    x, y = normalize(point)  # EIP-2537 Fp2 order: c0 then c1
    return _fp(int(x.coeffs[0])) + _fp(int(x.coeffs[1])) + _fp(int(y.coeffs[0])) + _fp(
        int(y.coeffs[1]))


def _vectors() -> list[tuple[str, str, bytes, bytes]]:
    """(name, address, input, expected output) of every check."""
    two_g = add(G1, G1)
    u = 0x1234567890ABCDEF
    mapped = clear_cofactor_G1(map_to_curve_G1(FQ(u)))
    return [
        ("BLS12_G1ADD", G1ADD, _g1(G1) + _g1(G1), _g1(two_g)),
        ("BLS12_PAIRING_CHECK", PAIRING_CHECK, _g1(G1) + _g2(G2) + _g1(neg(G1)) + _g2(G2),
         (1).to_bytes(32, "big")),
        ("BLS12_PAIRING_CHECK(false)", PAIRING_CHECK, _g1(G1) + _g2(G2), bytes(32)),
        ("BLS12_MAP_FP_TO_G1", MAP_FP_TO_G1, _fp(u), _g1(mapped)),
    ]


def check_bls_precompiles(rpc: RpcCall, *, chain: str = "chain") -> None:
    """Raise ChainUnsupportedError unless every EIP-2537 check answers the expected bytes."""
    for name, address, data, expected in _vectors():
        try:
            result = rpc("eth_call", [{"to": address, "data": "0x" + data.hex()}, "latest"])
            answer = bytes.fromhex(str(result).removeprefix("0x"))
        except Exception as err:  # any RPC failure of a precompile call means "unsupported"
            raise ChainUnsupportedError(
                f"{chain}: EIP-2537 precompile {name} ({address}) failed: {err}") from err
        if answer != expected:
            kind = "a short" if len(answer) < len(expected) else "a wrong"
            raise ChainUnsupportedError(
                f"{chain}: EIP-2537 precompile {name} ({address}) gave {kind} answer "
                f"({len(answer)} bytes); the chain lacks BLS12-381 support (EIP-2537, Prague)")
