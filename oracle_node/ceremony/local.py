"""Create a local cluster for a DKG: node folders with identity keystores and a definition."""

from __future__ import annotations

from pathlib import Path

from oracle_node.ceremony.definition import ClusterDefinition, member_entry
from oracle_node.ceremony.errors import DefinitionError
from oracle_node.keys import IDENTITY_FILE, read_keystore, write_keystore
from oracle_node.p2p.identity import generate_identity, identity_from_bytes, identity_to_bytes

DEFINITION_FILE = "cluster-definition.json"


def default_threshold(n: int) -> int:
    """ceil(2n/3): the usual BFT-style threshold."""
    return -(-2 * n // 3)


def create_local_cluster(out: Path, *, nodes: int, threshold: int | None = None,
                         network_id: int = 1, base_port: int = 9000, host: str = "127.0.0.1",
                         name: str = "local", password: str, ports: list[int] | None = None,
                         chains: tuple[dict[str, object], ...] = ()) -> Path:
    """Write ``out/node<i>/keys/p2p-identity.json`` (kept if present) and the definition.

    Member i listens on ``ports[i-1]`` or ``base_port + i - 1``. Returns the definition path.
    """
    if ports is not None and len(ports) != nodes:
        raise DefinitionError("one port per node")
    members = []
    for i in range(1, nodes + 1):
        key_file = out / f"node{i}" / "keys" / IDENTITY_FILE
        if key_file.exists():
            identity = identity_from_bytes(read_keystore(key_file, password))
        else:
            identity = generate_identity()
            write_keystore(key_file, identity_to_bytes(identity), password,
                           description="libp2p identity (protobuf private key)")
        port = ports[i - 1] if ports is not None else base_port + i - 1
        members.append(member_entry(identity, i, f"/ip4/{host}/tcp/{port}"))
    definition = ClusterDefinition(name, network_id, threshold or default_threshold(nodes),
                                   tuple(members), chains)
    path = out / DEFINITION_FILE
    path.write_text(definition.to_json())
    return path
