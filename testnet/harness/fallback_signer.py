"""FALLBACK ONLY: the harness itself signs final roots with the dealt key shares.

This is **not** the oracle network. ``oracle-testnet up`` uses it only when it is asked to
(``--signing harness``) or when the node cannot run (``--signing auto`` and ``oracle-node
run`` is unavailable), and it says so loudly in the output, the state file and the summary.
It still refuses what the network must refuse: a block is signed only when every chain
proved the same final_root and replaying the committed pubdata with the rollup core
re-derives that root. The signature is a real t-of-n threshold BLS signature (t partial
signatures from the trusted-dealer shares, each verified, then combined) and the main
contract verifies it on chain.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from eth_abi.abi import decode as abi_decode

from consensus import threshold
from consensus.message import signing_message
from deploy.bindings import encode_confirm_final_root
from deploy.gate_tools import CONFIRM_GAS_LIMIT
from oracle_node.rollup.block import Expected, Replayer
from oracle_node.rollup.state import RollupParams
from testnet.harness.errors import ChainCallError
from testnet.harness.monitor import TOPIC_COMMITTED, TOPIC_PROVEN
from testnet.sequencer.eventlog import EventLog
from testnet.sequencer.evm import EvmClient

FALLBACK_LABEL = "HARNESS FALLBACK SIGNER (trusted-dealer shares held by the harness; not the node)"


def encode_confirm(block_number: int, final_root: bytes, signature_eip2537: bytes) -> bytes:
    """Calldata of ``confirmFinalRoot(uint256, bytes32, bytes)``
    (``deploy.bindings.encode_confirm_final_root``)."""
    return encode_confirm_final_root(block_number, final_root, signature_eip2537)


@dataclass
class FallbackSigner:
    """Watches every chain and confirms blocks whose final_root it re-derived itself."""

    chains: Sequence[tuple[int, str, str]]   # (rollup chain id, rpc url, main address)
    network_id: int
    epoch: int
    threshold_t: int
    shares: Sequence[threshold.KeyShare]
    public_shares: Sequence[threshold.PublicKeyShare]
    submitter_key: str
    params: RollupParams
    log: EventLog
    stop: threading.Event = field(default_factory=threading.Event)
    refused: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._clients = {cid: EvmClient(url) for cid, url, _ in self.chains}
        self._mains = {cid: main for cid, _, main in self.chains}
        self._replayer = Replayer([cid for cid, _, _ in self.chains], self.params)
        self._pending: dict[int, bytes] = {}
        self._accepted: dict[int, set[int]] = {}
        self._next_retry = 0.0

    def _proved(self, cid: int, n: int) -> bytes | None:
        topic_n = n.to_bytes(32, "big")
        logs = self._clients[cid].get_logs(self._mains[cid], [TOPIC_PROVEN, topic_n], 0)
        return logs[-1].data[:32] if logs else None

    def _committed_pubdata(self, cid: int, n: int) -> tuple[bytes, bytes] | None:
        topic_n = n.to_bytes(32, "big")
        logs = self._clients[cid].get_logs(self._mains[cid], [TOPIC_COMMITTED, topic_n], 0)
        if not logs:
            return None
        _c, sync, _root, pubdata, _hashes = abi_decode(
            ["bytes32", "bytes32", "bytes32", "bytes", "bytes32[]"], logs[-1].data)
        return bytes(pubdata), bytes(sync)

    def step(self) -> None:
        """Retry pending confirmations, then try to sign the next block."""
        if self._pending:
            if time.monotonic() >= self._next_retry:
                self._next_retry = time.monotonic() + 2.0
                self.submit_pending()
            if self._pending:
                return
        n = self._replayer.block_number + 1
        roots = {cid: self._proved(cid, n) for cid in self._clients}
        if any(r is None for r in roots.values()):
            return
        if len(set(roots.values())) != 1:
            if self.refused.get(n) != "roots_differ":
                self.refused[n] = "roots_differ"
                self.log.emit("refused", block=n, reason="roots_differ",
                              roots={c: r.hex() for c, r in roots.items() if r})
            return
        root = next(iter(roots.values()))
        assert root is not None
        first = min(self._clients)
        committed = self._committed_pubdata(first, n)
        if committed is None:
            return
        pubdata, _sync = committed
        try:
            self._replayer.apply_block(n, pubdata, Expected(sync_hash=root))
        except Exception as err:  # a replay mismatch is a refusal, never a crash
            if self.refused.get(n) != "replay_mismatch":
                self.refused[n] = "replay_mismatch"
                self.log.emit("refused", block=n, reason="replay_mismatch", detail=str(err)[:200])
            return
        msg = signing_message(network_id=self.network_id, epoch=self.epoch, block_number=n,
                              final_root=root)
        partials = []
        for share, pub in zip(self.shares[:self.threshold_t],
                              self.public_shares[:self.threshold_t], strict=True):
            partial = threshold.partial_sign(share, msg)
            if not threshold.verify_partial(pub, msg, partial):
                raise ChainCallError(f"partial signature of member {share.index} does not verify")
            partials.append(partial)
        signature = threshold.combine(partials, self.threshold_t)
        self._pending[n] = encode_confirm(n, root, signature.to_eip2537())
        self.submit_pending()

    def submit_pending(self) -> None:
        """(Re)send every signed confirmation to each chain that has not accepted it yet."""
        for n, data in sorted(self._pending.items()):
            for cid, client in self._clients.items():
                if cid in self._accepted.setdefault(n, set()):
                    continue
                try:
                    tx = client.send(self.submitter_key, to=self._mains[cid], data=data,
                                     gas=CONFIRM_GAS_LIMIT)
                except ChainCallError as err:
                    self.log.emit("fallback_confirm_failed", block=n, chain=cid,
                                  error=str(err)[:200])
                    continue
                self._accepted[n].add(cid)
                self.log.emit("fallback_confirmed", block=n, chain=cid, gas=tx.gas_used)
            if self._accepted[n] == set(self._clients):
                del self._pending[n]

    def run(self) -> None:
        """Loop until :attr:`stop` is set (run it in a thread)."""
        try:
            while not self.stop.is_set():
                try:
                    self.step()
                except ChainCallError as err:
                    self.log.emit("error", where="fallback_signer", error=str(err)[:200])
                self.stop.wait(0.3)
        finally:
            for client in self._clients.values():
                client.close()

    def members(self) -> list[int]:
        """The member indices whose shares sign."""
        return [s.index for s in self.shares[:self.threshold_t]]


