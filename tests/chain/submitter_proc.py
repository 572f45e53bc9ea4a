"""A submitter in its own process (for the kill -9 test): lands confirmFinalRoot(1..N).

Usage: python submitter_proc.py RPC_URL LEDGER CONTRACT N PRIVATE_KEY EVM_CHAIN_ID
Prints one ``metric NAME REASON`` line per counted event and ``outcome N STATUS TXHASH``.
"""

from __future__ import annotations

import sys

import trio
from eth_abi.abi import encode
from eth_account import Account
from eth_utils.crypto import keccak

from oracle_node.chain.ledger import NonceLedger
from oracle_node.chain.rpc import HttpTransport, RpcClient
from oracle_node.chain.submitter import FeePolicy, SubmissionOutcome, Submitter, WorkItem


def confirm_call(number: int) -> bytes:
    """Calldata of EventSource.confirmFinalRoot(number, root)."""
    return keccak(text="confirmFinalRoot(uint256,bytes32)")[:4] + encode(
        ["uint256", "bytes32"], [number, number.to_bytes(32, "big")])


def metrics(name: str, reason: str, amount: int = 1) -> None:
    """Print counted events so that the parent can time its kill."""
    print(f"metric {name} {reason}", flush=True)


async def main(url: str, ledger_path: str, contract: str, count: int, key: str,
               chain_id: int) -> None:
    """Land every item and print the outcomes."""
    transport = HttpTransport(url)
    account = Account.from_key(key)
    ledger = NonceLedger(ledger_path, account=account.address, chain_id=chain_id)
    work_send, work_recv = trio.open_memory_channel[WorkItem](count)
    out_send, out_recv = trio.open_memory_channel[SubmissionOutcome](count)
    submitter = Submitter(rpc=RpcClient(transport, name="anvil"), account=account,
                          chain_id=chain_id, ledger=ledger, work=work_recv, results=out_send,
                          fees=FeePolicy(inclusion_deadline=5.0, receipt_poll=0.2),
                          metrics=metrics)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(submitter.run)
        for number in range(1, count + 1):
            await work_send.send(WorkItem(("confirm", number), contract, confirm_call(number),
                                          200_000))
        for _ in range(count):
            outcome = await out_recv.receive()
            tx = outcome.tx_hash.hex() if outcome.tx_hash else "-"
            print(f"outcome {outcome.key[1]} {outcome.status} {tx}", flush=True)
        nursery.cancel_scope.cancel()
    await transport.aclose()
    ledger.close()


if __name__ == "__main__":
    url, ledger_path, contract, count, key, chain_id = sys.argv[1:7]
    trio.run(main, url, ledger_path, contract, int(count), key, int(chain_id))
