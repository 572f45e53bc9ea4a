"""Measure the main contract's gas per call on real anvil chains (not a test; no pass/fail).

Run: ``.venv/bin/python -m tests.contracts.measure_gas [K ...]`` from the repository root.
Prints a markdown table (receipt gasUsed) for each capacity K on the deployed contract (gate
included); proofs are real Groth16 proofs of the square circuit, whose verifier has the
rollup verifier's shape (3 + 2K inputs), so prove gas equals the real circuit's for the same
K; confirmations are real 3-of-4 threshold BLS signatures.
"""

from __future__ import annotations

import sys
import tempfile
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

from eth_account import Account

from deploy import bindings, deployer
from deploy.rpc import BlockingRpc
from oracle_node.rollup.pubdata import Deposit, Noop, Op, Withdraw
from testnet.anvil import DEV_PRIVATE_KEYS, anvil_chain

from .conftest import CHAIN_IDS, COMMITTEE, NETWORK_ID, network_spec
from .kit import Main, commit, commit_input, confirm, prove, root, square_circuit

VAL, USER = DEV_PRIVATE_KEYS[1], DEV_PRIVATE_KEYS[2]


def _gas(receipt: dict[str, object]) -> int:
    return int(str(receipt["gasUsed"]), 16)


def measure(k: int) -> list[tuple[str, int]]:
    """(label, gas) rows for capacity ``k``."""
    circuit = square_circuit(k)
    rows: list[tuple[str, int]] = []
    user = Account.from_key(USER).address
    user_b = bytes.fromhex(user[2:])
    with ExitStack() as stack:
        chains = [stack.enter_context(anvil_chain(chain_id=42000 + c)) for c in CHAIN_IDS]
        spec = replace(network_spec([c.rpc_url for c in chains], circuit.verifier_source()),
                       block_capacity=k)
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        dep = deployer.deploy_network(spec, folder / "d.json")["chain1"]
        m = Main("chain1", BlockingRpc(dep.rpc_url), dep.main.address, 1, dep.test_token.address,
                 [bindings.StoredBlock.genesis(root(0))])
        rows.append(("deploy main contract", _gas(m.rpc.call("eth_getTransactionReceipt",
                                                             [dep.main.tx_hash]))))
        for _ in range(k):
            r = m.send(USER, bindings.encode_deposit_eth(user), value=10**15)
        rows.append(("depositETH", _gas(r)))
        r = m.send(USER, bindings.encode_request_full_exit(7, 1))
        rows.append(("requestFullExit", _gas(r)))
        deposits: list[Op] = [Deposit(1, 7, 1, 10**15, user_b, i) for i in range(k)]
        withdraws: list[Op] = [Withdraw(1, 7, 1, 10**14, user_b, i) for i in range(k)]
        blocks = [commit_input(1, root(1), deposits, k, CHAIN_IDS),
                  commit_input(2, root(2), withdraws, k, CHAIN_IDS),
                  commit_input(3, root(3), [Noop()], k, CHAIN_IDS)]
        rows.append((f"commitBlocks, 1 block, {k} deposits of this chain",
                     _gas(commit(m, VAL, blocks[:1]))))
        rows.append((f"commitBlocks, 1 block, {k} withdrawals", _gas(commit(m, VAL, blocks[1:2]))))
        rows.append(("commitBlocks, 1 empty block", _gas(commit(m, VAL, blocks[2:]))))
        batch = [commit_input(n, root(n), [Noop()], k, CHAIN_IDS) for n in range(4, 8)]
        rows.append(("commitBlocks, 4 empty blocks (per block)",
                     _gas(commit(m, VAL, batch)) // 4))
        pubdatas = [b.pubdata for b in blocks + batch]
        rows.append(("proveBlocks, 1 block", _gas(prove(m, USER, circuit, [1], pubdatas[:1]))))
        rows.append(("proveBlocks, 4 blocks (per block)",
                     _gas(prove(m, USER, circuit, [2, 3, 4, 5], pubdatas[1:5])) // 4))
        rows.append(("confirmFinalRoot, 1 block", _gas(confirm(m, USER, COMMITTEE,
                                                               NETWORK_ID, 1))))
        rows.append(("confirmFinalRoot, block 5 after 1 (confirms 2..5)",
                     _gas(confirm(m, USER, COMMITTEE, NETWORK_ID, 5))))
        for n, label in ((1, "deposits"), (2, "withdrawals")):
            r = m.send(USER, bindings.encode_execute_blocks([(m.records[n], pubdatas[n - 1])]))
            rows.append((f"executeBlocks, 1 block, {k} {label}", _gas(r)))
        r = m.send(USER, bindings.encode_execute_blocks([(m.records[n], pubdatas[n - 1])
                                                         for n in (3, 4, 5)]))
        rows.append(("executeBlocks, 3 empty blocks (per block)", _gas(r) // 3))
        rows.append(("withdrawPendingBalance (ETH)",
                     _gas(m.send(USER, bindings.encode_withdraw_pending_balance(1, 10**14)))))
    return rows


if __name__ == "__main__":
    for k in [int(a) for a in sys.argv[1:]] or [4, 16]:
        print(f"\n| K={k}: call | gas |\n|---|---:|")
        for label, gas in measure(k):
            print(f"| {label} | {gas:,} |")
