"""Signer sets and key epochs: which set signs which block, with which epoch on which chain.

Not a task: shared state of the node, written only by ``oracle_node.app`` (from chain facts and
rotation events) and read by the signer, the exchange and the aggregator through the
:class:`~oracle_node.pipeline.ports.SchemeBook` port.

**Signer sets (rotation).** Block N is signed by the newest set whose ``activation`` is at or
below ``h(N)``, the L1 block number *of the governance chain* holding that chain's
``BlockProven(N)`` log (as emitted by the watcher, i.e. final under its finality rule; a
re-proof after a revert replaces it). Every node reads the same final log, so every node puts
N in the same set. Until the node has seen ``h(N)`` it cannot decide (``set_for`` is None)
— only while more than one set is known. The first set has activation ``-1``.

**Key epochs (per chain).** Each chain's gate has its own ``epoch()`` and group key; a chain
whose key is not this node's lock's group key is not signed for (``group_key_mismatch``).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

import trio
from eth_abi.abi import decode as abi_decode

from deploy import bindings
from oracle_node.metrics import NodeMetrics
from oracle_node.pipeline.messages import (
    AggregateReady,
    EventRetracted,
    GroupKeyChanged,
    RootConfirmed,
    RootProven,
    RootVerified,
    StepRecorded,
)
from oracle_node.pipeline.ports import SignerSetView, ThresholdScheme
from oracle_node.ports import ChainRpc, Transport
from oracle_node.store.db import NodeStore
from oracle_node.types import BlockNumber, Epoch, MemberIndex, PeerIdStr, RollupChainId

log = logging.getLogger("oracle_node.signer_sets")

MAX_PLACED = 4096
"""Blocks whose governance-chain proof height is remembered (oldest forgotten first)."""
MAX_SETS = 4
"""Signer sets kept (the oldest is dropped once a newer one has been activated)."""


@dataclass(frozen=True)
class ChainKey:
    """A chain gate's current key epoch and group key (None: unknown, assumed ours)."""

    epoch: Epoch
    group_key: bytes | None = None


@dataclass(frozen=True)
class _Set:
    activation: int
    view: SignerSetView


class SignerSets:
    """The node's signer sets by activation block, and each chain's key epoch."""

    def __init__(self, *, scheme: ThresholdScheme, peers: Mapping[PeerIdStr, MemberIndex],
                 can_sign: bool = True, group_key: bytes | None = None,
                 chains: Mapping[RollupChainId, ChainKey] | None = None) -> None:
        """Start with one set (``scheme``/``peers``); ``group_key`` is the lock's (96 B)."""
        self._sets = [_Set(-1, SignerSetView(scheme, dict(peers), can_sign))]
        self._placed: OrderedDict[int, int] = OrderedDict()
        self._allowed: set[PeerIdStr] = set(peers)
        self.group_key = group_key
        self._chains: dict[RollupChainId, ChainKey] = dict(chains or {})
        self._retired = False

    # -- SchemeBook -----------------------------------------------------------------------
    def set_for(self, block_number: BlockNumber) -> SignerSetView | None:
        """The set that signs ``block_number`` (None: its governance proof not seen yet)."""
        if len(self._sets) == 1:
            return self._out(self._sets[0].view)
        height = self._placed.get(int(block_number))
        if height is None:
            return None
        chosen = self._sets[0]
        for entry in self._sets:
            if entry.activation <= height:
                chosen = entry
        return self._out(chosen.view)

    def _out(self, view: SignerSetView) -> SignerSetView:
        return replace(view, can_sign=False) if self._retired else view

    def rank(self, block_number: int) -> tuple[int, int]:
        """(own index, set size) of the block's set, for the confirmation schedulers."""
        view = self.set_for(BlockNumber(block_number)) or self._sets[-1].view
        return int(view.scheme.own_index), len(view.scheme.members)

    def is_member_peer(self, peer: PeerIdStr) -> bool:
        """Whether ``peer`` is in a set partials are accepted from (union during a switch)."""
        return peer in self._allowed

    # -- writers (the app) ----------------------------------------------------------------
    def place(self, block_number: int, governance_height: int) -> None:
        """Record ``h(N)``: the governance chain's L1 block of ``BlockProven(N)``."""
        self._placed[int(block_number)] = governance_height
        self._placed.move_to_end(int(block_number))
        while len(self._placed) > MAX_PLACED:
            self._placed.popitem(last=False)

    def unplace(self, block_number: int) -> None:
        """Forget ``h(N)`` (its ``BlockProven`` was retracted by a reorg)."""
        self._placed.pop(int(block_number), None)

    def add_set(self, activation: int, scheme: ThresholdScheme,
                peers: Mapping[PeerIdStr, MemberIndex], *, can_sign: bool) -> None:
        """A new set signs blocks with ``h(N) >= activation``; partials from both are accepted."""
        self._sets = [s for s in self._sets if s.activation != activation]
        self._sets.append(_Set(activation, SignerSetView(scheme, dict(peers), can_sign)))
        self._sets.sort(key=lambda s: s.activation)
        self._allowed |= set(peers)

    def activated(self, activation: int) -> None:
        """The set of ``activation`` is live: accept only its peers, drop surplus old sets."""
        current = next((s for s in self._sets if s.activation == activation), None)
        if current is None:
            return
        self._allowed = set(current.view.peers)
        while len(self._sets) > MAX_SETS:
            self._sets.pop(0)

    def retire(self) -> None:
        """This node left the signer set: it signs nothing any more."""
        self._retired = True

    def peers_of_sets(self) -> set[PeerIdStr]:
        """Every peer of every known set."""
        return {p for s in self._sets for p in s.view.peers}

    def newest(self) -> SignerSetView:
        """The most recently added set."""
        return self._sets[-1].view

    # -- key epochs -----------------------------------------------------------------------
    def set_chain_key(self, chain: RollupChainId, key: ChainKey) -> None:
        """Record a chain gate's epoch and key (startup read or ``GroupKeyReplaced``)."""
        self._chains[chain] = key

    def chain_key(self, chain: RollupChainId) -> ChainKey | None:
        """The chain's known epoch and key."""
        return self._chains.get(chain)

    def key_matches(self, chain: RollupChainId) -> bool:
        """Whether this node's group key is the chain's current key (unknown counts as yes)."""
        key = self._chains.get(chain)
        return (key is None or key.group_key is None or self.group_key is None
                or key.group_key == self.group_key)

    def signing_epochs(self, chains: Iterable[RollupChainId]
                       ) -> tuple[dict[Epoch, list[RollupChainId]], list[RollupChainId]]:
        """({epoch: chains to sign for with it}, chains refused for ``group_key_mismatch``)."""
        epochs: dict[Epoch, list[RollupChainId]] = {}
        refused: list[RollupChainId] = []
        for chain in chains:
            key = self._chains.get(chain)
            if not self.key_matches(chain):
                refused.append(chain)
                continue
            epochs.setdefault(key.epoch if key is not None else Epoch(1), []).append(chain)
        return epochs, refused


# -- reading a gate's key ------------------------------------------------------------------
EPOCH_CALL = bindings.encode_call("epoch")
GROUP_KEY_CALL = bindings.encode_call("groupKeyCompressed")


async def read_gate_epoch(rpc: ChainRpc, contract: str) -> Epoch | None:
    """The gate's ``epoch()``; None when it cannot be read (RPC error, no such getter)."""
    try:
        return Epoch(int(abi_decode(["uint256"], await rpc.call(to=contract,
                                                                data=EPOCH_CALL))[0]))
    except Exception:  # RPC errors and eth_abi's decoding errors alike
        return None


async def read_chain_key(rpc: ChainRpc, contract: str, default_epoch: Epoch) -> ChainKey:
    """The gate's ``epoch()`` and ``groupKeyCompressed()``.

    A gate that cannot be read (RPC error, a contract without the getters) gives
    ``ChainKey(default_epoch, None)``: the configured epoch, the key assumed ours.
    """
    epoch = await read_gate_epoch(rpc, contract)
    if epoch is None:
        # debug: the first log line of a starting node is ``node_started`` (operators, tests)
        log.debug("gate_epoch_unreadable contract=%s default=%d", contract, default_epoch)
        return ChainKey(default_epoch, None)
    try:
        key = bytes(abi_decode(["bytes"], await rpc.call(to=contract, data=GROUP_KEY_CALL))[0])
    except Exception:  # as above
        key = b""
    return ChainKey(epoch, key if len(key) == 96 else None)


# -- the planner: tasks of oracle_node.app around the shared state --------------------------
class KeyPlanner:
    """Keeps :class:`SignerSets` current from chain facts and rotation events; plans signing.

    * ``observe`` (the app's router calls it for every chain fact): ``GroupKeyChanged`` sets
      the chain's epoch and key (only a higher epoch than known: the watcher's rescan at
      start re-reports old replacements; when the chain now holds this node's key, the
      verified blocks above its last confirmation are planned again); a retracted
      ``GroupKeyReplaced`` re-reads the gate; the governance chain's ``RootProven`` places
      its block (``h(N)``).
    * ``plan``: each ``RootVerified`` becomes one ``RootVerified`` per distinct epoch of the
      chains whose key is this node's; a chain with another key is refused
      (``oracle_drops_total{reason="group_key_mismatch"}``, once per block and chain).
    * ``filter_aggregates``: a chain's scheduler only gets aggregates of that chain's epoch.
    """

    def __init__(self, *, sets: SignerSets, chains: Mapping[RollupChainId, tuple[ChainRpc, str]],
                 steps: trio.MemorySendChannel[StepRecorded], metrics: NodeMetrics,
                 governance: RollupChainId | None = None, default_epoch: Epoch = Epoch(1),
                 store: NodeStore | None = None,
                 replan: trio.MemorySendChannel[RootVerified] | None = None,
                 window: int = 256) -> None:
        """``chains`` maps each chain to (rpc, main contract address).

        ``store``/``replan``: where verified blocks are re-planned when a chain switches to
        this node's key (at most ``window`` blocks above the chain's last confirmation).
        """
        self.sets = sets
        self._chains = dict(chains)
        self._steps = steps
        self._metrics = metrics
        self._governance = governance
        self._default_epoch = default_epoch
        self._store = store
        self._replan = replan
        self._window = window
        self._schedulers: dict[RollupChainId, trio.MemorySendChannel[AggregateReady]] = {}
        self._confirmed: dict[RollupChainId, int] = {}
        """Per chain, the highest block a ``RootConfirmed`` fact showed confirmed (by anyone)."""

    async def load(self) -> None:
        """Read every chain's epoch and key from its gate (startup)."""
        for chain, (rpc, contract) in self._chains.items():
            key = await read_chain_key(rpc, contract, self._default_epoch)
            self.sets.set_chain_key(chain, key)
            log.debug("chain_key chain=%d epoch=%d matches=%s", chain, key.epoch,
                     self.sets.key_matches(chain))

    async def observe(self, fact: object) -> bool:
        """Update the state from one chain fact; False when the verifier need not see it."""
        if isinstance(fact, GroupKeyChanged):
            known = self.sets.chain_key(fact.chain)
            if known is not None and fact.epoch <= known.epoch:
                return False  # a rescan re-reports replacements the startup read includes
            self.sets.set_chain_key(fact.chain, ChainKey(fact.epoch, fact.group_key))
            log.warning("group_key_changed chain=%d epoch=%d matches=%s", fact.chain,
                        fact.epoch, self.sets.key_matches(fact.chain))
            if self.sets.key_matches(fact.chain):
                await self._replan_chain(fact.chain)
            return False
        if isinstance(fact, EventRetracted) and fact.kind == "GroupKeyReplaced":
            if fact.chain in self._chains:
                rpc, contract = self._chains[fact.chain]
                self.sets.set_chain_key(fact.chain, await read_chain_key(
                    rpc, contract, self._default_epoch))
            return False
        if isinstance(fact, RootConfirmed):
            self._confirmed[fact.chain] = max(self._confirmed.get(fact.chain, 0),
                                              int(fact.block_number))
        if isinstance(fact, RootProven) and fact.chain == self._governance:
            self.sets.place(fact.block_number, fact.l1_block_number)
        if isinstance(fact, EventRetracted) and fact.kind == "BlockProven" \
                and fact.chain == self._governance:
            self.sets.unplace(fact.block_number)
        return True

    async def _replan_chain(self, chain: RollupChainId) -> None:
        """The chain now holds this node's key: plan its unconfirmed verified blocks again.

        Blocks whose group signature of the chain's epoch already exists (another chain
        switched first and the cluster signed for it) never aggregate again: that stored
        signature goes to this chain's scheduler directly.
        """
        if self._store is None or self._replan is None:
            return
        last = self._store.last_verified_block()
        # what the chain confirmed, by anyone: a successor cluster that refused every block
        # so far has no submissions of its own, yet must not re-sign the chain's history
        confirmed = max(self._store.last_confirmed().get(int(chain), 0),
                        self._confirmed.get(chain, 0))
        first = max(confirmed + 1, last - self._window + 1)
        for block in range(first, last + 1):
            record = self._store.verified(block)
            if record is not None:
                await self._replan.send(RootVerified(BlockNumber(block), record[0],
                                                     self._default_epoch))
        key = self.sets.chain_key(chain)
        scheduler = self._schedulers.get(chain)
        if key is None or scheduler is None:
            return
        for agg in self._store.aggregates_since(first):
            if agg.epoch == key.epoch:
                await scheduler.send(AggregateReady(
                    BlockNumber(agg.block), agg.final_root, Epoch(agg.epoch), agg.signature,
                    tuple(MemberIndex(m) for m in agg.members)))

    async def plan(self, verified: trio.MemoryReceiveChannel[RootVerified],
                   out: trio.MemorySendChannel[RootVerified]) -> None:
        """Turn each verified root into one signing job per epoch (see the class doc)."""
        async with verified, out:
            async for fact in verified:
                epochs, refused = self.sets.signing_epochs(self._chains)
                for chain in refused:
                    self._metrics.inc(self._metrics.drops, reason="group_key_mismatch")
                    log.warning("signature_refused block=%d chain=%d reason=group_key_mismatch",
                                fact.block_number, chain)
                if not epochs:
                    await self._steps.send(StepRecorded(fact.block_number, "signed", False,
                                                        trio.current_time(),
                                                        "group_key_mismatch"))
                    continue
                for epoch in sorted(epochs):
                    await out.send(RootVerified(fact.block_number, fact.final_root, epoch))

    def is_current(self, chain: RollupChainId, agg: AggregateReady) -> bool:
        """Whether ``agg`` can still confirm on ``chain`` as far as this node has seen: the
        chain's gate holds this node's key at the aggregate's epoch."""
        key = self.sets.chain_key(chain)
        return self.sets.key_matches(chain) and (key is None or key.epoch == agg.epoch)

    async def still_current(self, chain: RollupChainId, agg: AggregateReady) -> bool:
        """:meth:`is_current`, then the gate's ``epoch()`` read now (one ``eth_call``).

        The schedulers ask this right before every attempt: a handover mined after the
        aggregate but before this node's watcher reports it would otherwise cost an
        ``InvalidSignature`` revert. An unreadable gate counts as current (the RPC's trouble
        must not stop confirmations; the transaction itself is the final check).
        """
        if not self.is_current(chain, agg):
            return False
        if chain not in self._chains:
            return True
        rpc, contract = self._chains[chain]
        epoch = await read_gate_epoch(rpc, contract)
        return epoch is None or epoch == agg.epoch

    async def filter_aggregates(self, chain: RollupChainId,
                                aggregates: trio.MemoryReceiveChannel[AggregateReady],
                                out: trio.MemorySendChannel[AggregateReady]) -> None:
        """Forward only aggregates of ``chain``'s current epoch (and key) to its scheduler."""
        async with aggregates, out:
            self._schedulers[chain] = out  # _replan_chain re-delivers stored aggregates here
            try:
                async for agg in aggregates:
                    if not self.is_current(chain, agg):
                        log.info("aggregate_not_for_chain block=%d epoch=%d chain=%d",
                                 agg.block_number, agg.epoch, chain)
                        continue
                    await out.send(agg)
            finally:
                self._schedulers.pop(chain, None)

    def reshare_completed(self, activation: int, scheme: ThresholdScheme,
                          peers: Mapping[PeerIdStr, MemberIndex], *, can_sign: bool,
                          transport: Transport) -> None:
        """A rotation's new set is ready (``ReshareCompleted``, docs/node.md).

        It signs blocks with ``h(N) >= activation``; partials and connections of every
        known set (old ∪ new) are accepted from now on.
        """
        self.sets.add_set(activation, scheme, peers, can_sign=can_sign)
        transport.set_allowed_peers(self.sets.peers_of_sets() - {transport.local_peer})
        log.info("signer_set_ready activation=%d member=%s", activation, can_sign)

    async def set_activated(self, activation: int, *, member: bool, transport: Transport,
                            grace: float) -> None:
        """``SignerSetActivated``: a leaver stops signing; narrow the allow-list after ``grace``.

        Old ∪ new stays allowed for ``grace`` seconds (blocks proved before the activation
        still finish with the old set), then only the new set (returns after that).
        """
        transport.set_allowed_peers(self.sets.peers_of_sets() - {transport.local_peer})
        if not member:
            self.sets.retire()
        log.warning("signer_set_activated activation=%d member=%s", activation, member)
        await self._narrow(transport, activation, grace)

    async def _narrow(self, transport: Transport, activation: int, grace: float) -> None:
        await trio.sleep(grace)
        self.sets.activated(activation)
        transport.set_allowed_peers(self.sets.newest().peers.keys()
                                    - {transport.local_peer})
