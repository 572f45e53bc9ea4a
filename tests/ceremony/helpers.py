"""Builders shared by the ceremony tests: identities, definitions, a FakeNetwork cluster."""

from __future__ import annotations

from libp2p.crypto.keys import KeyPair

from oracle_node.ceremony.definition import ClusterDefinition, member_entry
from oracle_node.ceremony.runner import PhaseTimeouts
from oracle_node.p2p.identity import generate_identity

FAST = PhaseTimeouts(deal=20.0, response=20.0, justification=20.0, linger=5.0)
PASSWORD = "test-password-123"
TEST_SCRYPT_N = 2**4


def identities(n: int) -> list[KeyPair]:
    """``n`` fresh libp2p identities."""
    return [generate_identity() for _ in range(n)]


def definition_for(ids: list[KeyPair], threshold: int, *, network_id: int = 7,
                   ports: list[int] | None = None) -> ClusterDefinition:
    """A definition of the members with ``ids`` (loopback multiaddrs)."""
    ports = ports or [0] * len(ids)
    return ClusterDefinition(
        "test", network_id, threshold,
        tuple(member_entry(k, i, f"/ip4/127.0.0.1/tcp/{p}")
              for i, (k, p) in enumerate(zip(ids, ports, strict=True), 1)),
        ({"id": 1, "name": "chain1", "evm_chain_id": 31337},))
