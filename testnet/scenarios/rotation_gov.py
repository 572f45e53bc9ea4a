"""Chain side of the ``rotation`` scenario: gate reads and governance transactions.

Reads each chain's gate key and epoch, the ``BlockProven`` heights on the governance chain,
and sends the signer-set proposal through the real ``oracle-gov propose-signer-set`` (a
subprocess, as an operator would). Scenario steps and checks live in
``testnet/scenarios/rotation.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from testnet.harness import nodes as node_setup
from testnet.harness.cluster import DEPLOYER_KEY, Cluster
from testnet.harness.monitor import TOPIC_PROVEN, gate_key_and_epoch
from testnet.scenarios.base import gov_commands
from testnet.sequencer.evm import EvmClient

GOVERNANCE_CHAIN = 1
"""The rollup chain whose ``signer_sets`` contract governs the rotation."""


@contextmanager
def evm_client(rpc_url: str) -> Iterator[EvmClient]:
    """An :class:`EvmClient` closed on exit."""
    client = EvmClient(rpc_url)
    try:
        yield client
    finally:
        client.close()


def gate_keys(cluster: Cluster) -> dict[int, tuple[str, int]]:
    """Each chain's (``groupKeyCompressed()`` hex, ``epoch()``), read from its main contract."""
    out = {}
    for chain in cluster.state.chains:
        with evm_client(chain["rpc_url"]) as client:
            key, epoch = gate_key_and_epoch(client, chain["main"])
        out[int(chain["rollup_chain_id"])] = ("0x" + key.hex(), epoch)
    return out


def governance_chain(cluster: Cluster) -> dict[str, Any]:
    """The governance chain's entry in the cluster state."""
    return next(c for c in cluster.state.chains if c["rollup_chain_id"] == GOVERNANCE_CHAIN)


def governance_keys(cluster: Cluster, grace: float) -> dict[str, object]:
    """The ``[network]`` keys enabling rotation on the governance chain."""
    doc = json.loads((cluster.run_dir / "deployments.json").read_text())
    record = doc["chains"][f"chain-{GOVERNANCE_CHAIN}"]["contracts"]["signer_sets"]
    return {"governance_chain": GOVERNANCE_CHAIN, "signer_sets": str(record["address"]),
            "signer_sets_from_block": int(record["deploy_block"]),
            "rotation_grace": grace}


def governance_height(cluster: Cluster) -> int:
    """The governance chain's current block number."""
    with evm_client(governance_chain(cluster)["rpc_url"]) as client:
        return client.block_number()


def fund_everywhere(cluster: Cluster, addresses: Sequence[str]) -> None:
    """Give each address a node's funds on every chain (``anvil_setBalance``)."""
    for chain in cluster.state.chains:
        with evm_client(chain["rpc_url"]) as client:
            for address in addresses:
                client.rpc("anvil_setBalance", [address, hex(node_setup.NODE_FUNDS_WEI)])


def mine_governance_to(cluster: Cluster, block: int) -> int:
    """Mine the governance chain up to ``block`` (``anvil_mine``); returns the blocks mined."""
    with evm_client(governance_chain(cluster)["rpc_url"]) as client:
        missing = block - client.block_number()
        if missing > 0:
            client.rpc("anvil_mine", [hex(missing)])
    return max(missing, 0)


def member_keys(cluster: Cluster, indices: Sequence[int]) -> list[dict[str, str]]:
    """``propose-signer-set --members`` entries of nodes ``indices``: peer id, the ceremony
    key's G2 public key and its proof of possession (read from each node's identity)."""
    from consensus import bls
    from oracle_node.ceremony.definition import ceremony_secret
    from oracle_node.keys import IDENTITY_FILE, read_keystore
    from oracle_node.p2p.identity import identity_from_bytes

    members = []
    for index in indices:
        node_dir = cluster.run_dir / "nodes" / f"node-{index}"
        password = (node_dir / "password").read_text().splitlines()[0]
        identity = identity_from_bytes(read_keystore(node_dir / "data" / "keys" /
                                                     IDENTITY_FILE, password))
        secret = ceremony_secret(identity)
        members.append({"peer_id": next(n.peer_id for n in cluster.nodes
                                        if n.index == index),
                        "public_key": "0x" + bls.public_key(secret).to_bytes().hex(),
                        "pop": "0x" + bls.pop_prove(secret).to_bytes().hex()})
    return members


def propose_signer_set(cluster: Cluster, members_path: Path, *, signer_sets: str,
                       threshold: int, activation: int) -> str:
    """Run ``oracle-gov propose-signer-set`` as the governor; returns its output
    (``HarnessError`` if it fails)."""
    (out,) = gov_commands(
        ["propose-signer-set", "--rpc", governance_chain(cluster)["rpc_url"],
         "--signer-sets", signer_sets, "--members", str(members_path),
         "--threshold", str(threshold), "--activation-block", str(activation)],
        key=DEPLOYER_KEY)
    return out


def proven_blocks(cluster: Cluster) -> dict[int, int]:
    """Rollup block -> governance-chain block of its (latest) ``BlockProven`` there."""
    chain = governance_chain(cluster)
    with evm_client(chain["rpc_url"]) as client:
        logs = client.get_logs(chain["main"], [TOPIC_PROVEN], 0, client.block_number())
    return {int.from_bytes(log.topics[1], "big"): log.block_number for log in logs}
