"""``ConfirmationSender`` over a ``ChainRpc``: sends ``confirmFinalRoot`` to the gate.

An adapter, not a component (only ``oracle_node.app`` and the simulator import it). One
transaction at a time per (node, chain) under a lock: nonce from ``pending``, EIP-1559 fees
from the RPC's suggestion, a fixed gas limit (``eth_estimateGas`` is unreliable for calls
that swallow precompile failures, see docs/gate.md), then the receipt is polled. The gate
returns ``false`` without an event when the block is already confirmed, so a successful
receipt without ``FinalRootConfirmed`` is ``already_confirmed``.
"""

from __future__ import annotations

from typing import Any

import trio
from eth_abi.abi import decode as abi_decode
from eth_utils.address import to_checksum_address

from consensus.bls import Signature
from consensus.errors import ConsensusError
from deploy import bindings
from deploy.errors import DeployError
from oracle_node.chain.submitter import Submitter, WorkItem
from oracle_node.errors import OracleNodeError
from oracle_node.pipeline.messages import ConfirmationSubmitted
from oracle_node.ports import ChainRpc
from oracle_node.types import BlockNumber, Epoch, RollupChainId

FINAL_ROOT_CONFIRMED_TOPIC = bindings.EVENT_TOPICS["FinalRootConfirmed"]
CONFIRM_GAS_LIMIT = 250_000
"""Matches ``deploy.gate_tools.CONFIRM_GAS_LIMIT`` (a valid confirmation uses ~150k)."""
FRESH_FOR = 0.1
"""Seconds a "not confirmed" answer stands in for the Submitter's first ``is_done`` check."""
FRESH_KEEP = 64
"""At most this many remembered answers per sender."""


def encode_confirm(block_number: int, final_root: bytes, signature_eip2537: bytes) -> bytes:
    """Calldata of ``confirmFinalRoot`` (``deploy.bindings.encode_confirm_final_root``).

    The gate takes the 128-byte EIP-2537 signature; any other length raises
    ``deploy.bindings.BindingError``.
    """
    return bindings.encode_confirm_final_root(block_number, final_root, signature_eip2537)


def emits_confirmation(receipt: Any) -> bool:
    """True when a receipt carries the gate's ``FinalRootConfirmed`` event (a successful
    ``confirmFinalRoot`` without it found the block already confirmed)."""
    return any(log.topics and log.topics[0] == FINAL_ROOT_CONFIRMED_TOPIC
               for log in receipt.logs)


class RpcConfirmationSender:
    """Submits confirmations on one chain from this node's transaction key."""

    def __init__(self, *, chain: RollupChainId, rpc: ChainRpc, contract: str, account: Any,
                 evm_chain_id: int, gas_limit: int = CONFIRM_GAS_LIMIT,
                 receipt_timeout: float = 120.0, receipt_poll: float = 1.0) -> None:
        """``account`` is an ``eth_account`` ``LocalAccount`` (the transaction key)."""
        self._chain = chain
        self._rpc = rpc
        self._contract = to_checksum_address(contract)
        self._account = account
        self._evm_chain_id = evm_chain_id
        self._gas_limit = gas_limit
        self._receipt_timeout = receipt_timeout
        self._receipt_poll = receipt_poll
        self._lock = trio.Lock()

    @property
    def chain(self) -> RollupChainId:
        """The rollup chain id."""
        return self._chain

    async def is_confirmed(self, block_number: BlockNumber, final_root: bytes) -> bool:
        """``isConfirmed(block, root)`` by ``eth_call`` (False when the call fails)."""
        try:
            raw = await self._rpc.call(
                to=self._contract, data=bindings.encode_is_confirmed(block_number, final_root))
            return bool(abi_decode(["bool"], raw)[0])
        # RPC and binding errors, and eth_abi's own decoding errors on a short answer
        except Exception:
            return False

    async def submit(self, *, block_number: BlockNumber, final_root: bytes, epoch: Epoch,
                     signature: bytes) -> ConfirmationSubmitted:
        """Send one ``confirmFinalRoot`` and wait for its receipt."""
        try:
            data = encode_confirm(block_number, final_root,
                                  Signature.from_bytes(signature).to_eip2537())
        except (ConsensusError, DeployError) as err:
            return self._outcome(block_number, "failed", detail=f"bad signature: {err}")
        async with self._lock:
            try:
                return await self._send(block_number, data)
            except OracleNodeError as err:
                return self._outcome(block_number, "failed", detail=f"rpc: {err}")

    async def _send(self, block_number: BlockNumber, data: bytes) -> ConfirmationSubmitted:
        address = self._account.address
        nonce = await self._rpc.get_transaction_count(address, "pending")
        max_fee, priority = await self._rpc.fee_suggestion()
        tx = {"type": 2, "chainId": self._evm_chain_id, "nonce": nonce, "to": self._contract,
              "value": 0, "data": data, "gas": self._gas_limit, "maxFeePerGas": max_fee,
              "maxPriorityFeePerGas": priority}
        signed = self._account.sign_transaction(tx)
        tx_hash = await self._rpc.send_raw_transaction(bytes(signed.raw_transaction))
        with trio.move_on_after(self._receipt_timeout):
            while True:
                receipt = await self._rpc.get_transaction_receipt(tx_hash)
                if receipt is not None:
                    break
                await trio.sleep(self._receipt_poll)
        if receipt is None:
            return self._outcome(block_number, "failed", tx_hash, detail="receipt timeout")
        if receipt.status != 1:
            return self._outcome(block_number, "failed", tx_hash, receipt.gas_used,
                                 detail="reverted")
        return self._outcome(block_number,
                             "confirmed" if emits_confirmation(receipt) else "already_confirmed",
                             tx_hash, receipt.gas_used)

    def _outcome(self, block_number: BlockNumber, status: str, tx_hash: bytes | None = None,
                 gas_used: int | None = None, detail: str = "") -> ConfirmationSubmitted:
        return ConfirmationSubmitted(self._chain, block_number, status, tx_hash, gas_used,
                                     detail)


class SubmitterConfirmationSender:
    """``ConfirmationSender`` over the chain :class:`Submitter` (nonce ledger, fee bumps).

    The work key is ``("confirm", block)``, so a restart adopts an open transaction instead
    of sending a second one; ``is_done`` asks ``isConfirmed`` so a pending transaction is
    cancelled (replaced by a self-transfer) when another member's confirmation landed first.
    Call :meth:`start` once before use (reconciles the ledger with the chain).

    The scheduler asks :meth:`is_confirmed` right before :meth:`submit`, and the Submitter's
    first ``is_done`` would ask the same ``eth_call`` again a few milliseconds later: a
    "not confirmed" answer younger than ``fresh_for`` seconds answers that first check (one
    round trip less on the submission path; a confirmation landing in that window costs one
    duplicate the gate rejects without effect). Later ``is_done`` checks always ask the chain.
    """

    def __init__(self, *, chain: RollupChainId, rpc: ChainRpc, contract: str,
                 submitter: Submitter, gas_limit: int = CONFIRM_GAS_LIMIT,
                 fresh_for: float = FRESH_FOR) -> None:
        """Wrap an already-built Submitter of this chain."""
        self._query = RpcConfirmationSender(chain=chain, rpc=rpc, contract=contract,
                                            account=submitter.account, evm_chain_id=0)
        self._chain = chain
        self._contract = to_checksum_address(contract)
        self._submitter = submitter
        self._gas_limit = gas_limit
        self._lock = trio.Lock()
        self._fresh_for = fresh_for
        self._not_confirmed_at: dict[tuple[int, bytes], float] = {}

    @property
    def chain(self) -> RollupChainId:
        """The rollup chain id."""
        return self._chain

    async def start(self) -> None:
        """Reconcile the nonce ledger against the chain."""
        async with self._lock:
            await self._submitter.reconcile()

    async def is_confirmed(self, block_number: BlockNumber, final_root: bytes) -> bool:
        """``isConfirmed`` by ``eth_call`` (a False answer is remembered for ``fresh_for``)."""
        confirmed = await self._query.is_confirmed(block_number, final_root)
        key = (int(block_number), bytes(final_root))
        self._not_confirmed_at.pop(key, None)
        if not confirmed:
            self._not_confirmed_at[key] = trio.current_time()
            if len(self._not_confirmed_at) > FRESH_KEEP:  # bounded: drop the oldest answer
                del self._not_confirmed_at[next(iter(self._not_confirmed_at))]
        return confirmed

    def _fresh_no(self, block_number: BlockNumber, final_root: bytes) -> bool:
        """True once if a "not confirmed" answer for (block, root) is younger than
        ``fresh_for`` (consumed, so the Submitter's later checks ask the chain)."""
        at = self._not_confirmed_at.pop((int(block_number), bytes(final_root)), None)
        return at is not None and trio.current_time() - at < self._fresh_for

    async def submit(self, *, block_number: BlockNumber, final_root: bytes, epoch: Epoch,
                     signature: bytes) -> ConfirmationSubmitted:
        """Land one confirmation through the Submitter (one at a time per chain)."""
        try:
            data = encode_confirm(block_number, final_root,
                                  Signature.from_bytes(signature).to_eip2537())
        except (ConsensusError, DeployError) as err:
            return ConfirmationSubmitted(self._chain, block_number, "failed",
                                         detail=f"bad signature: {err}")

        async def done() -> bool:
            if self._fresh_no(block_number, final_root):
                return False
            return await self.is_confirmed(block_number, final_root)

        item = WorkItem(key=("confirm", int(block_number)), to=self._contract,
                        data=data,
                        gas_limit=self._gas_limit, is_done=done)
        async with self._lock:
            outcome = await self._submitter.submit(item)
        receipt = outcome.receipt
        gas = receipt.gas_used if receipt is not None else None
        if outcome.status == "confirmed":
            emitted = receipt is not None and emits_confirmation(receipt)
            status = "confirmed" if emitted else "already_confirmed"
        elif outcome.status == "already_done":
            status = "already_confirmed"
        else:
            status = "failed"
        return ConfirmationSubmitted(self._chain, block_number, status, outcome.tx_hash, gas,
                                     outcome.detail)
