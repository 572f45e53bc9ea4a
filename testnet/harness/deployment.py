"""Prover keys and contract deployment for a local cluster (uses ``deploy.deployer``)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from consensus.bls import PublicKey
from deploy.deployer import ChainSpec, NetworkSpec, compile_main, deploy_network
from oracle_node.errors import ProverError
from oracle_node.prover.keys import (
    TESTNET_SETUP_WARNING,
    load_or_setup,
    load_verifying_key,
    vyper_verifier_source,
)
from oracle_node.rollup import hashes
from oracle_node.rollup.state import RollupParams, State
from testnet.sequencer.evm import EvmClient
from testnet.sequencer.mainchain import MainChain

USER_TOKEN_FUNDS = 10**24


def setup_cache_dir() -> Path:
    """Where prover keys are cached (``oracle_node.prover`` default: ``.cache/prover``)."""
    from oracle_node.prover.keys import default_cache_dir

    return default_cache_dir()


def verifier_source(depth: int, capacity: int) -> str:
    """The Vyper verifier for the circuit; reads only ``vk.bin`` when the setup is cached.

    Loading the proving key of d16/k4 takes ~20 s on a loaded 2-core machine and the harness
    needs only the verifying key (the sequencer loads the proving key in its own process).
    """
    try:
        keys = load_verifying_key(depth, capacity, setup_cache_dir())
    except ProverError:  # not cached yet: set up once (cached for the sequencer and later runs)
        keys = load_or_setup(depth, capacity)
    return vyper_verifier_source(keys)


def precompile(circuit: tuple[int, int], n_chains: int) -> float:
    """Compile token, verifier and main now (cached in memory by source for
    :func:`deploy_all`), e.g. while the DKG processes run; return the seconds it took."""
    from deploy.compile import compile_file
    from deploy.deployer import compile_verifier

    t0 = time.monotonic()
    depth, capacity = circuit
    compile_file("test_token.vy")
    compile_verifier(verifier_source(depth, capacity), capacity)
    compile_main(capacity, n_chains, depth)
    return time.monotonic() - t0


@dataclass
class Deployed:
    """Addresses per rollup chain id and what deploying took."""

    mains: dict[int, str]
    tokens: dict[int, str]
    deployments_file: Path
    genesis_root: bytes
    timings: dict[str, float] = field(default_factory=dict)
    has_gate: bool = True


def deploy_all(*, run_dir: Path, chains: list[tuple[int, str]], network_id: int,
               circuit: tuple[int, int], group_key: PublicKey, deployer_key: str,
               validator_key: str, console: Console) -> Deployed:
    """Set up (or load) the prover keys, then deploy token, verifier and main on every chain."""
    from eth_account import Account

    depth, capacity = circuit
    t0 = time.monotonic()
    console.print(f"prover keys for d={depth}, k={capacity} (cached under {setup_cache_dir()}; "
                  "a cold setup takes a while) ...")
    source = verifier_source(depth, capacity)
    console.print(f"[yellow]{TESTNET_SETUP_WARNING}")
    t_keys = time.monotonic() - t0
    genesis = hashes.root_to_bytes(State(RollupParams(depth=depth, capacity=capacity)).root)
    validator = str(Account.from_key(validator_key).address)
    spec = NetworkSpec(
        network_id=network_id, block_capacity=capacity, genesis_state_root=genesis,
        verifier_source=source,
        chains=tuple(ChainSpec(f"chain-{c}", url, c, deployer_key, validator=validator)
                     for c, url in chains),
        expiry_period=100_000, deployments_file=run_dir / "deployments.json",
        group_key=group_key.to_bytes(), account_tree_depth=depth)
    console.print(f"deploying contracts on {len(chains)} chains ...")
    result = deploy_network(spec)
    by_id = {d.rollup_chain_id: d for d in result.values()}
    main_abi = compile_main(capacity, len(chains), depth).abi  # cached: same params as deploy
    has_gate = any(item.get("name") == "confirmFinalRoot" for item in main_abi)
    return Deployed(has_gate=has_gate, mains={c: by_id[c].main.address for c, _ in chains},
                    tokens={c: by_id[c].test_token.address for c, _ in chains},
                    deployments_file=run_dir / "deployments.json", genesis_root=genesis,
                    timings={"prover_keys_s": t_keys, "deploy_s": time.monotonic() - t0 - t_keys})


def fund_users(deployed: Deployed, chains: list[tuple[int, str]], *, minter_key: str,
               user_keys: list[str]) -> None:
    """Give every traffic user test tokens on every chain (approved for the main contract)."""
    for c, url in chains:
        client = EvmClient(url)
        try:
            chain = MainChain(c, client, deployed.mains[c], deployed.tokens[c])
            for key in user_keys:
                chain.fund_user(minter_key, key, USER_TOKEN_FUNDS)
        finally:
            client.close()
