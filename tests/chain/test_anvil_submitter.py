"""Submitter against real anvil: kill -9 mid-flight then restart, and a fee bump."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import trio
from eth_account import Account

from oracle_node.chain.ledger import NonceLedger
from oracle_node.chain.rpc import HttpTransport, RpcClient
from oracle_node.chain.submitter import FeePolicy, SubmissionOutcome, Submitter, WorkItem
from testnet.anvil import DEV_PRIVATE_KEYS, anvil_chain

from .anvil_kit import calldata, deploy
from .submitter_proc import confirm_call

pytestmark = pytest.mark.system
SCRIPT = Path(__file__).resolve().parent / "submitter_proc.py"
GWEI = 10**9


def test_kill_9_mid_flight_then_restart_has_no_gap_and_no_duplicate(tmp_path: Path) -> None:
    key = DEV_PRIVATE_KEYS[3]
    address = Account.from_key(key).address
    with anvil_chain(chain_id=1201, block_time=1) as chain:
        contract = deploy(chain)
        args = [sys.executable, str(SCRIPT), chain.rpc_url, str(tmp_path / "ledger.db"),
                contract, "6", key, str(chain.chain_id)]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        sends = 0
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("metric submitter_send work"):
                sends += 1
                if sends == 3:  # the third transaction was just broadcast: kill -9 now
                    proc.kill()
                    break
        proc.wait(timeout=10)
        proc.stdout.close()
        assert sends == 3
        done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True)
        outcomes = [line.split() for line in done.stdout.splitlines()
                    if line.startswith("outcome")]
        latest = int(str(chain.rpc("eth_getTransactionCount", [address, "latest"])), 16)
        pending = int(str(chain.rpc("eth_getTransactionCount", [address, "pending"])), 16)
        counts = [int(str(chain.rpc("eth_call", [{"to": contract, "data": "0x" + calldata(
            "confirm_count(uint256)", ["uint256"], [n]).hex()}, "latest"])), 16)
            for n in range(1, 7)]
    assert [(o[1], o[2]) for o in outcomes] == [(str(n), "confirmed") for n in range(1, 7)]
    assert latest == pending == 6  # six items, six nonces: no gap, no duplicate, none stuck
    assert counts == [1] * 6


async def test_fee_bump_gets_a_stuck_transaction_included(tmp_path: Path) -> None:
    account = Account.from_key(DEV_PRIVATE_KEYS[4])
    with anvil_chain(chain_id=1202, extra_args=["--no-mining"]) as chain:
        contract = await trio.to_thread.run_sync(lambda: deploy(chain, mine=True))
        transport = HttpTransport(chain.rpc_url)
        rpc = RpcClient(transport, name="anvil")
        ledger = NonceLedger(tmp_path / "ledger.db", account=account.address,
                             chain_id=chain.chain_id)
        _ws, work_recv = trio.open_memory_channel[WorkItem](1)
        out_send, _or = trio.open_memory_channel[SubmissionOutcome](1)
        submitter = Submitter(rpc=rpc, account=account, chain_id=chain.chain_id, ledger=ledger,
                              work=work_recv, results=out_send,
                              fees=FeePolicy(inclusion_deadline=3.0, receipt_poll=0.3))

        async def miner_with_high_base_fee() -> None:
            while not ledger.attempts(0):  # start once the first attempt is signed
                await trio.sleep(0.05)
            high_fee: list[object] = [hex(100 * GWEI)]
            while True:
                await trio.to_thread.run_sync(
                    chain.rpc, "anvil_setNextBlockBaseFeePerGas", high_fee)
                await trio.to_thread.run_sync(chain.rpc, "evm_mine")
                await trio.sleep(1)

        await submitter.reconcile()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(miner_with_high_base_fee)
            with trio.fail_after(60):
                outcome = await submitter.submit(
                    WorkItem(("confirm", 1), contract, confirm_call(1), 200_000))
            nursery.cancel_scope.cancel()
        attempts = ledger.attempts(0)
        first_receipt = await rpc.get_transaction_receipt(attempts[0].tx_hash)
        await transport.aclose()
        ledger.close()
    assert outcome.status == "confirmed"
    assert len(attempts) >= 2
    assert attempts[0].max_fee < 100 * GWEI <= attempts[-1].max_fee
    assert first_receipt is None
    assert outcome.receipt is not None
    assert outcome.receipt.effective_gas_price >= 100 * GWEI
    assert outcome.tx_hash == attempts[-1].tx_hash
