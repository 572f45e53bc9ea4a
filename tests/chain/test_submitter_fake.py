"""Submitter against the in-memory fake chain (MockClock): nonces, idempotency, bumps, cancels."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import trio
from eth_account import Account

from oracle_node.chain.fake import ContractResult, FakeChain, FakeRevert
from oracle_node.chain.ledger import NonceLedger
from oracle_node.chain.submitter import FeePolicy, SubmissionOutcome, Submitter, WorkItem
from oracle_node.metrics import CountingMetrics

KEY = "0x" + "42" * 32
TARGET = "0x" + "7a" * 20
GWEI = 10**9


class Recorder:
    """A fake contract: calldata ``n`` (32 bytes) records n; a second record of n reverts."""

    def __init__(self) -> None:
        self.calls: Counter[int] = Counter()

    def __call__(self, sender: str, calldata: bytes, value: int) -> ContractResult:
        n = int.from_bytes(calldata[:32], "big")
        if self.calls[n]:
            raise FakeRevert(b"dup")
        self.calls[n] += 1
        return ContractResult()


def item(n: int, recorder: Recorder | None = None) -> WorkItem:
    async def done() -> bool:
        return recorder is not None and recorder.calls[n] > 0
    return WorkItem(key=("confirm", n), to=TARGET, data=n.to_bytes(32, "big"), gas_limit=90_000,
                    is_done=done if recorder is not None else None)


def make(chain: FakeChain, path: Path, fees: FeePolicy = FeePolicy(inclusion_deadline=10.0),
         metrics: CountingMetrics | None = None, chain_id: int | None = None
         ) -> tuple[Submitter, trio.MemorySendChannel[WorkItem],
                    trio.MemoryReceiveChannel[SubmissionOutcome], NonceLedger]:
    account = Account.from_key(KEY)
    ledger = NonceLedger(path, account=account.address, chain_id=chain.evm_chain_id)
    work_send, work_recv = trio.open_memory_channel[WorkItem](10)
    out_send, out_recv = trio.open_memory_channel[SubmissionOutcome](10)
    sub = Submitter(rpc=chain, account=account, chain_id=chain_id or chain.evm_chain_id,
                    ledger=ledger, work=work_recv, results=out_send, fees=fees,
                    metrics=metrics or CountingMetrics())
    return sub, work_send, out_recv, ledger


def sender() -> str:
    return str(Account.from_key(KEY).address)


async def test_items_land_once_with_contiguous_nonces(autojump_clock: trio.abc.Clock,
                                                      tmp_path: Path) -> None:
    chain = FakeChain()
    rec = Recorder()
    chain.register_contract(TARGET, rec)
    sub, work, outcomes, ledger = make(chain, tmp_path / "l.db")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(chain.run_miner, 2.0)
        await nursery.start(sub.run)
        results = []
        for n in (1, 2, 3, 2):
            await work.send(item(n))
            results.append(await outcomes.receive())
        nursery.cancel_scope.cancel()
    assert [r.status for r in results] == ["confirmed"] * 4
    assert results[3].tx_hash == results[1].tx_hash  # same key: no second transaction
    assert [tx.nonce for tx in chain.included_txs(sender())] == [0, 1, 2]
    assert rec.calls == Counter({1: 1, 2: 1, 3: 1})
    ledger.close()


async def test_done_elsewhere_before_sending_uses_no_nonce(autojump_clock: trio.abc.Clock,
                                                           tmp_path: Path) -> None:
    chain = FakeChain()
    rec = Recorder()
    rec.calls[5] = 1
    chain.register_contract(TARGET, rec)
    sub, _work, _out, ledger = make(chain, tmp_path / "l.db")
    await sub.reconcile()
    outcome = await sub.submit(item(5, rec))
    assert outcome.status == "already_done"
    assert outcome.tx_hash is None
    assert ledger.highest_nonce() is None
    assert chain.pool == {}
    ledger.close()


async def test_fee_bump_gets_a_stuck_transaction_included(autojump_clock: trio.abc.Clock,
                                                          tmp_path: Path) -> None:
    chain = FakeChain(base_fee=1 * GWEI)
    chain.register_contract(TARGET, Recorder())
    metrics = CountingMetrics()
    sub, _work, _out, ledger = make(chain, tmp_path / "l.db", metrics=metrics)
    await sub.reconcile()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(chain.run_miner, 2.0)
        chain.set_base_fee(1 * GWEI)
        async def raise_base_fee_after_signing() -> None:
            while not chain.pool:
                await trio.sleep(0.1)
            chain.set_base_fee(20 * GWEI)  # the first attempt (max fee 3 gwei) is stuck
        nursery.start_soon(raise_base_fee_after_signing)
        outcome = await sub.submit(item(1))
        nursery.cancel_scope.cancel()
    assert outcome.status == "confirmed"
    attempts = ledger.attempts(0)
    assert len(attempts) >= 2
    assert attempts[0].max_fee < 20 * GWEI <= attempts[-1].max_fee
    assert outcome.tx_hash == attempts[-1].tx_hash
    assert metrics.counts[("submitter_bump", "work")] >= 1
    ledger.close()


async def test_pending_work_is_cancelled_when_another_submission_lands(
        autojump_clock: trio.abc.Clock, tmp_path: Path) -> None:
    chain = FakeChain(base_fee=1 * GWEI)
    rec = Recorder()
    chain.register_contract(TARGET, rec)
    sub, _work, _out, ledger = make(chain, tmp_path / "l.db")
    await sub.reconcile()
    async with trio.open_nursery() as nursery:
        async def someone_else_lands() -> None:
            while not chain.pool:
                await trio.sleep(0.1)
            chain.set_base_fee(50 * GWEI)  # ours is stuck
            rec.calls[1] = 1  # another node's confirmation landed
            await trio.sleep(5)
            chain.set_base_fee(1 * GWEI)
            chain.mine()
        nursery.start_soon(someone_else_lands)
        outcome = await sub.submit(item(1, rec))
    assert outcome.status == "already_done"
    txs = chain.included_txs(sender())
    assert len(txs) == 1
    assert txs[0].to == sender().lower()
    assert txs[0].value == 0
    assert rec.calls[1] == 1
    ledger.close()


async def test_restart_mid_flight_adopts_without_gap_or_duplicate(
        autojump_clock: trio.abc.Clock, tmp_path: Path) -> None:
    chain = FakeChain()
    rec = Recorder()
    chain.register_contract(TARGET, rec)
    sub, _work, _out, ledger = make(chain, tmp_path / "l.db")
    await sub.reconcile()
    with trio.move_on_after(3):  # the process dies while waiting (nothing is mined)
        await sub.submit(item(1))
    ledger.close()
    assert len(chain.pool) == 1
    chain.pool.clear()  # and the endpoint lost the transaction as well
    sub, _work, _out, ledger = make(chain, tmp_path / "l.db")
    await sub.reconcile()
    assert len(chain.pool) == 1
    assert sub.next_nonce == 1
    async with trio.open_nursery() as nursery:
        nursery.start_soon(chain.run_miner, 2.0)
        outcomes = [await sub.submit(item(n)) for n in (1, 2)]
        nursery.cancel_scope.cancel()
    assert [o.status for o in outcomes] == ["confirmed", "confirmed"]
    assert [tx.nonce for tx in chain.included_txs(sender())] == [0, 1]
    assert rec.calls == Counter({1: 1, 2: 1})
    ledger.close()


async def test_rejected_send_releases_the_nonce(autojump_clock: trio.abc.Clock,
                                                tmp_path: Path) -> None:
    chain = FakeChain()
    sub, _work, _out, ledger = make(chain, tmp_path / "l.db", chain_id=999)
    await sub.reconcile()
    outcome = await sub.submit(item(1))
    assert outcome.status == "failed"
    assert "rejected" in outcome.detail
    assert ledger.highest_nonce() is None
    assert sub.next_nonce == 0
    ledger.close()


async def test_direct_use_needs_no_channels(autojump_clock: trio.abc.Clock,
                                            tmp_path: Path) -> None:
    """The node drives the submitter directly: no work/results channels, same guarantees."""
    chain = FakeChain()
    rec = Recorder()
    chain.register_contract(TARGET, rec)
    account = Account.from_key(KEY)
    ledger = NonceLedger(tmp_path / "l.db", account=account.address,
                         chain_id=chain.evm_chain_id)
    sub = Submitter(rpc=chain, account=account, chain_id=chain.evm_chain_id, ledger=ledger,
                    fees=FeePolicy(inclusion_deadline=10.0))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(chain.run_miner, 2.0)
        await sub.reconcile()
        first = await sub.submit(item(1, rec))
        again = await sub.submit(item(1, rec))
        nursery.cancel_scope.cancel()
    assert first.status == "confirmed"
    assert again.tx_hash == first.tx_hash  # the settled key is reported, not re-sent
    assert rec.calls[1] == 1
    assert chain.nonce_of(sender()) == 1
    with pytest.raises(ValueError, match=r"reconcile\(\) and submit\(\)"):
        await sub.run()
