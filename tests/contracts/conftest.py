"""Fixtures: the square circuit, a trusted-dealer oracle committee and a three-chain network
of real anvil chains with the contracts deployed by ``deploy.deployer`` (tests isolate
themselves with evm snapshots)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account

from deploy import deployer
from deploy.bindings import StoredBlock
from deploy.deployer import ChainSpec, NetworkSpec
from deploy.rpc import BlockingRpc
from testnet.anvil import DEV_PRIVATE_KEYS, anvil_chain

from .kit import Committee, Main, SquareCircuit, root, square_circuit

K = 4
CHAIN_IDS = [1, 2, 3]
EVM_CHAIN_IDS = [41001, 41002, 41003]
NETWORK_ID = 77
EXPIRY_PERIOD = 50
GOVERNOR_KEY = DEV_PRIVATE_KEYS[0]
VALIDATOR_KEY = DEV_PRIVATE_KEYS[1]
USER_KEYS = DEV_PRIVATE_KEYS[2:6]
EMERGENCY_DELAY = 600
COMMITTEE = Committee.make(3, 4, b"contracts-tests-committee-seed-1")
"""The oracle group of the test network (3-of-4, trusted dealer: TEST ONLY)."""


@dataclass
class Network:
    """Three deployed main contracts (rollup chain ids 1, 2, 3) and the circuit."""

    mains: list[Main]
    circuit: SquareCircuit
    deployments_file: Path
    spec: NetworkSpec
    committee: Committee = COMMITTEE


@pytest.fixture(scope="session")
def circuit() -> SquareCircuit:
    """The square circuit for capacity K (setup cached on disk)."""
    return square_circuit(K)


def network_spec(urls: list[str], verifier_source: str) -> NetworkSpec:
    """The test network description."""
    validator = Account.from_key(VALIDATOR_KEY).address
    return NetworkSpec(
        network_id=NETWORK_ID, block_capacity=K, genesis_state_root=root(0),
        verifier_source=verifier_source, expiry_period=EXPIRY_PERIOD,
        group_key=COMMITTEE.group_key.to_bytes(), emergency_delay=EMERGENCY_DELAY,
        chains=tuple(ChainSpec(f"chain{c}", url, c, GOVERNOR_KEY, validator=validator)
                     for c, url in zip(CHAIN_IDS, urls, strict=True)))


@pytest.fixture(scope="session")
def network(circuit: SquareCircuit, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Network]:
    """Three anvil chains with the contracts deployed (torn down at the end)."""
    with ExitStack() as stack:
        chains = [stack.enter_context(anvil_chain(chain_id=e)) for e in EVM_CHAIN_IDS]
        spec = network_spec([c.rpc_url for c in chains], circuit.verifier_source())
        path = tmp_path_factory.mktemp("deploy") / "deployments.json"
        deployed = deployer.deploy_network(spec, path)
        mains = []
        for c in CHAIN_IDS:
            dep = deployed[f"chain{c}"]
            mains.append(Main(dep.name, BlockingRpc(dep.rpc_url), dep.main.address, c,
                              dep.test_token.address, [StoredBlock.genesis(root(0))]))
        yield Network(mains, circuit, path, spec)


@pytest.fixture
def net(network: Network) -> Iterator[Network]:
    """The network, restored to its deployed state after the test."""
    snapshots = [m.snapshot() for m in network.mains]
    yield network
    for main, snap in zip(network.mains, snapshots, strict=True):
        main.restore(snap)
        main.records = [StoredBlock.genesis(root(0))]
