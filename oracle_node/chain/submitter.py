"""Submitter component: one per chain; signs and lands generic work items exactly once.

* Nonces come from the persistent :class:`NonceLedger`; each signed transaction is recorded
  before it is broadcast and ``reconcile`` (run at start) settles what a crash left open
  against ``eth_getTransactionCount(latest)`` and the receipts of every recorded attempt.
* A work item is keyed (e.g. ``("confirm", 17)``): a key already mined or cancelled is not
  sent again, an open one is adopted (waited on / bumped) instead of getting a new nonce.
* Before signing, the caller's ``is_done()`` is asked; while waiting it is asked again and if
  someone else's submission landed, the pending transaction is **replaced by a 0-value
  self-transfer at the same nonce** (21 000 gas, cheaper and more predictable than letting
  the contract reject a duplicate, and it frees the nonce at once).
* Not included within ``inclusion_deadline``: fees bump geometrically (``bump_factor``,
  at least the 10 % a replacement needs) or to the current suggestion if higher, capped at
  ``max_fee_cap``; at the cap the last attempt is re-broadcast.
Items are processed one at a time (one nonce in flight per chain).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from oracle_node.chain.errors import RpcRemoteError
from oracle_node.chain.ledger import Attempt, LedgerEntry, NonceLedger
from oracle_node.errors import ChainError
from oracle_node.ports import ChainRpc, MetricsSink, Receipt, discard_metrics

if TYPE_CHECKING:  # mypy 2.4 does not see trio's re-export of TaskStatus
    from trio import TaskStatus


_NONCE_LOST = "nonce consumed by a foreign transaction"


@dataclass(frozen=True)
class WorkItem:
    """One call to land: ``key`` makes it idempotent (e.g. ``("confirm", block_number)``)."""

    key: tuple[str | int, ...]
    to: str
    data: bytes
    gas_limit: int
    value: int = 0
    is_done: Callable[[], Awaitable[bool]] | None = None

    @property
    def key_text(self) -> str:
        """The key as stored in the ledger."""
        return "/".join(str(part) for part in self.key)


@dataclass(frozen=True)
class SubmissionOutcome:
    """What happened to a work item; ``status`` is ``confirmed``, ``already_done``,
    ``reverted`` or ``failed``."""

    key: tuple[str | int, ...]
    status: str
    tx_hash: bytes | None = None
    receipt: Receipt | None = None
    detail: str = ""


@dataclass(frozen=True)
class FeePolicy:
    """Fee bumping: factor per step, hard cap, seconds before a bump, receipt poll period."""

    bump_factor: float = 1.125
    max_fee_cap: int = 500 * 10**9
    inclusion_deadline: float = 30.0
    receipt_poll: float = 1.0


class Submitter:
    """Lands work items on one chain; see the module docstring."""

    def __init__(self, *, rpc: ChainRpc, account: LocalAccount, chain_id: int,
                 ledger: NonceLedger,
                 work: trio.MemoryReceiveChannel[WorkItem] | None = None,
                 results: trio.MemorySendChannel[SubmissionOutcome] | None = None,
                 fees: FeePolicy = FeePolicy(), metrics: MetricsSink = discard_metrics) -> None:
        """Bind the submitter to one chain and account.

        ``work``/``results`` are only needed for :meth:`run` (the channel-driven component);
        callers that drive it directly call :meth:`reconcile` once, then :meth:`submit`.
        """
        if fees.bump_factor < 1.1:
            raise ValueError("bump_factor below 1.1 cannot replace a pending transaction")
        self.rpc = rpc
        self.account = account
        self.address = str(account.address)
        self.chain_id = chain_id
        self.ledger = ledger
        self.work = work
        self.results = results
        self.fees = fees
        self.metrics = metrics
        self.next_nonce = 0

    async def run(self, *, task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Reconcile the ledger, then land work items in arrival order until the input closes.

        Raises ``ValueError`` when the submitter was built without ``work``/``results``.
        """
        if self.work is None or self.results is None:
            raise ValueError("Submitter.run needs the work and results channels; "
                             "without them call reconcile() and submit() directly")
        await self.reconcile()
        task_status.started()
        async with self.work:
            async for item in self.work:
                await self.results.send(await self.submit(item))

    async def reconcile(self) -> None:
        """Settle open ledger entries against the chain and choose the next nonce."""
        latest = await self.rpc.get_transaction_count(self.address, "latest")
        for entry in self.ledger.open_entries():
            if await self._settle_from_receipts(entry.nonce) is not None:
                continue
            if entry.nonce < latest:
                self.ledger.set_state(entry.nonce, "lost")
                self.metrics("submitter_nonce", "lost")
                continue
            await self._broadcast(self.ledger.attempts(entry.nonce)[-1])
        highest = self.ledger.highest_nonce()
        self.next_nonce = max(latest, -1 if highest is None else highest + 1)

    async def submit(self, item: WorkItem) -> SubmissionOutcome:
        """Land ``item`` (or find it done) and report the outcome; never raises ChainError."""
        try:
            for _ in range(3):  # a nonce taken by a foreign transaction costs one more round
                outcome = await self._submit(item)
                if outcome.detail != _NONCE_LOST:
                    return outcome
            return outcome
        except ChainError as err:
            self.metrics("submitter_outcome", "failed")
            return SubmissionOutcome(item.key, "failed", detail=f"{type(err).__name__}: {err}")

    async def _submit(self, item: WorkItem) -> SubmissionOutcome:
        entry = self.ledger.entry_for_key(item.key_text)
        if entry is not None and entry.state != "open":
            return await self._outcome_of_settled(item, entry)
        if entry is None:
            if item.is_done is not None and await item.is_done():
                return self._done(item, "already_done", detail="done before sending")
            nonce = self.next_nonce
            max_fee, prio = await self.rpc.fee_suggestion()
            max_fee = min(max_fee, self.fees.max_fee_cap)
            attempt = self._sign(nonce, item.to, item.data, item.value, item.gas_limit,
                                 max_fee, min(prio, max_fee), "work")
            self.ledger.reserve(work_key=item.key_text, to=item.to, data=item.data,
                                value=item.value, gas=item.gas_limit, attempt=attempt)
            self.next_nonce = nonce + 1
            verdict = await self._broadcast(attempt)
            if verdict == "rejected":
                self.ledger.release(nonce)
                self.next_nonce = nonce
                return self._done(item, "failed", detail="rejected by every endpoint")
            entry = self.ledger.entry(nonce)
            assert entry is not None
        return await self._wait(item, entry.nonce)

    async def _outcome_of_settled(self, item: WorkItem, entry: LedgerEntry) -> SubmissionOutcome:
        if entry.state == "cancelled" or entry.mined_hash is None:
            return self._done(item, "already_done", entry.mined_hash)
        receipt = await self.rpc.get_transaction_receipt(entry.mined_hash)
        status = "confirmed" if receipt is None or receipt.status == 1 else "reverted"
        return self._done(item, status, entry.mined_hash, receipt)

    async def _wait(self, item: WorkItem, nonce: int) -> SubmissionOutcome:
        deadline = trio.current_time() + self.fees.inclusion_deadline
        while True:
            settled = await self._settle_from_receipts(nonce)
            if settled is not None:
                attempt, receipt = settled
                if attempt.kind == "cancel":
                    return self._done(item, "already_done", attempt.tx_hash, receipt,
                                      "pending work cancelled: someone else's landed")
                if receipt.status == 1:
                    return self._done(item, "confirmed", attempt.tx_hash, receipt)
                done = item.is_done is not None and await item.is_done()
                return self._done(item, "already_done" if done else "reverted",
                                  attempt.tx_hash, receipt)
            chain_nonce = await self.rpc.get_transaction_count(self.address, "latest")
            if chain_nonce > nonce:
                if await self._settle_from_receipts(nonce) is None:
                    self.ledger.set_state(nonce, "lost")
                    self.metrics("submitter_nonce", "lost")
                    self.next_nonce = max(self.next_nonce, chain_nonce)
                    return self._done(item, "failed", detail=_NONCE_LOST)
                continue
            last = self.ledger.attempts(nonce)[-1]
            if (last.kind == "work" and item.is_done is not None and await item.is_done()):
                await self._replace(last, cancel=True)
                self.metrics("submitter_cancel", "done_elsewhere")
                deadline = trio.current_time() + self.fees.inclusion_deadline
            elif trio.current_time() >= deadline:
                await self._replace(last, cancel=False)
                deadline = trio.current_time() + self.fees.inclusion_deadline
            await trio.sleep(self.fees.receipt_poll)

    async def _replace(self, last: Attempt, *, cancel: bool) -> None:
        """Sign and send a fee-bumped replacement (the work again, or a self-transfer)."""
        suggested_max, suggested_prio = await self.rpc.fee_suggestion()
        cap = self.fees.max_fee_cap
        max_fee = min(cap, max(math.ceil(last.max_fee * self.fees.bump_factor), suggested_max))
        prio = min(max_fee, max(math.ceil(last.priority_fee * self.fees.bump_factor),
                                suggested_prio))
        if max_fee < last.max_fee * 1.1 or prio < last.priority_fee * 1.1:
            self.metrics("submitter_bump", "at_cap")
            await self._broadcast(last)  # cannot replace any more: keep it in the pools
            return
        entry = self.ledger.entry(last.nonce)
        assert entry is not None
        if cancel or last.kind == "cancel":
            attempt = self._sign(last.nonce, self.address, b"", 0, 21_000, max_fee, prio,
                                 "cancel")
        else:
            attempt = self._sign(last.nonce, entry.to, entry.data, entry.value, entry.gas,
                                 max_fee, prio, "work")
        self.ledger.add_attempt(attempt)
        self.metrics("submitter_bump", attempt.kind)
        await self._broadcast(attempt)

    async def _settle_from_receipts(self, nonce: int) -> tuple[Attempt, Receipt] | None:
        for attempt in self.ledger.attempts(nonce):
            receipt = await self.rpc.get_transaction_receipt(attempt.tx_hash)
            if receipt is not None:
                state = "cancelled" if attempt.kind == "cancel" else "mined"
                self.ledger.set_state(nonce, state, attempt.tx_hash)
                return attempt, receipt
        return None

    async def _broadcast(self, attempt: Attempt) -> str:
        """``sent``, ``known`` (already in a pool or mined), ``unknown`` or ``rejected``."""
        try:
            await self.rpc.send_raw_transaction(attempt.raw)
        except RpcRemoteError as err:
            text = err.message.lower()
            if "known" in text or "nonce too low" in text or "underpriced" in text:
                return "known"
            self.metrics("submitter_send", "rejected")
            return "rejected"
        except ChainError:
            self.metrics("submitter_send", "unknown")
            return "unknown"  # may have reached a pool: keep the nonce, re-broadcast later
        self.metrics("submitter_send", attempt.kind)
        return "sent"

    def _sign(self, nonce: int, to: str, data: bytes, value: int, gas: int, max_fee: int,
              prio: int, kind: str) -> Attempt:
        tx: dict[str, Any] = {"type": 2, "chainId": self.chain_id, "nonce": nonce,
              "to": to_checksum_address(to), "value": value, "data": data, "gas": gas,
              "maxFeePerGas": max_fee, "maxPriorityFeePerGas": prio}
        raw = bytes(self.account.sign_transaction(tx).raw_transaction)
        return Attempt(nonce, keccak(raw), raw, max_fee, prio, kind)

    def _done(self, item: WorkItem, status: str, tx_hash: bytes | None = None,
              receipt: Receipt | None = None, detail: str = "") -> SubmissionOutcome:
        self.metrics("submitter_outcome", status)
        return SubmissionOutcome(item.key, status, tx_hash, receipt, detail)
