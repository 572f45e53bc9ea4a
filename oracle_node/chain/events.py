"""The main contract's watched events (docs/protocol.md §5): topics, decoding, encoding.

``decode_log`` turns one log into a fact of ``oracle_node.pipeline.messages`` or returns a
stable drop reason (a malformed log is a counted value, never an exception).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from oracle_node.pipeline.messages import (
    BlockCommitted,
    BlocksReverted,
    EventRetracted,
    GroupKeyChanged,
    PriorityRequestQueued,
    RootConfirmed,
    RootProven,
)
from oracle_node.ports import LogEntry
from oracle_node.types import BlockNumber, Epoch, RollupChainId

ChainFact = (RootProven | BlockCommitted | PriorityRequestQueued | RootConfirmed | EventRetracted
             | GroupKeyChanged | BlocksReverted)
"""Everything a watcher sends on its output channel."""


@dataclass(frozen=True)
class EventAbi:
    """One event: its canonical signature, indexed argument types and data argument types."""

    name: str
    signature: str
    indexed: tuple[str, ...]
    data: tuple[str, ...]

    @property
    def topic(self) -> bytes:
        """topic0 = keccak(signature)."""
        return keccak(text=self.signature)


EVENTS: dict[str, EventAbi] = {
    e.name: e for e in (
        EventAbi("DepositQueued", "DepositQueued(uint64,address,uint16,uint128,uint256)",
                 ("uint64", "address"), ("uint16", "uint128", "uint256")),
        EventAbi("FullExitQueued", "FullExitQueued(uint64,address,uint32,uint16,uint256)",
                 ("uint64", "address"), ("uint32", "uint16", "uint256")),
        EventAbi("BlockCommitted",
                 "BlockCommitted(uint256,bytes32,bytes32,bytes32,bytes,bytes32[])",
                 ("uint256",), ("bytes32", "bytes32", "bytes32", "bytes", "bytes32[]")),
        EventAbi("BlockProven", "BlockProven(uint256,bytes32,bytes32)",
                 ("uint256",), ("bytes32", "bytes32")),
        EventAbi("FinalRootConfirmed", "FinalRootConfirmed(uint256,bytes32,uint256,address)",
                 ("uint256", "address"), ("bytes32", "uint256")),
        EventAbi("GroupKeyReplaced", "GroupKeyReplaced(uint256,bytes)", ("uint256",),
                 ("bytes",)),
        EventAbi("BlocksReverted", "BlocksReverted(uint256,uint256)", (),
                 ("uint256", "uint256")),
    )
}
TOPICS: dict[bytes, str] = {e.topic: e.name for e in EVENTS.values()}
TOPIC_OF: dict[str, bytes] = {name: topic for topic, name in TOPICS.items()}


def encode_event(name: str, indexed: tuple[object, ...], values: tuple[object, ...]
                 ) -> tuple[list[bytes], bytes]:
    """(topics, data) of event ``name`` (for fake contracts and tests)."""
    abi = EVENTS[name]
    topics = [TOPIC_OF[name]] + [abi_encode([t], [v]) for t, v in zip(abi.indexed, indexed,
                                                                      strict=True)]
    return topics, abi_encode(list(abi.data), list(values))


def decode_log(chain: RollupChainId, log: LogEntry
               ) -> tuple[str, ChainFact, int] | str:
    """(event name, fact, ident) for a watched log, or a drop reason.

    ``ident`` is the rollup block number for block events, the serial id for priority
    requests, the new epoch for ``GroupKeyReplaced`` and the first reverted block for
    ``BlocksReverted`` (it is what an ``EventRetracted`` names). A ``GroupKeyReplaced``
    whose key is not 96 bytes is ``malformed_log``.
    """
    if not log.topics or log.topics[0] not in TOPICS:
        return "unknown_event"
    name = TOPICS[log.topics[0]]
    abi = EVENTS[name]
    if len(log.topics) != 1 + len(abi.indexed):
        return "malformed_log"
    try:
        idx = [abi_decode([t], topic)[0] for t, topic in zip(abi.indexed, log.topics[1:],
                                                             strict=True)]
        vals = abi_decode(list(abi.data), log.data, strict=True)
    except Exception:  # eth_abi raises several unrelated types on bad input
        return "malformed_log"
    if name == "GroupKeyReplaced" and len(vals[0]) != 96:
        return "malformed_log"
    return _build(chain, name, idx, list(vals), log)


def _build(chain: RollupChainId, name: str, idx: list[Any], vals: list[Any],
           log: LogEntry) -> tuple[str, ChainFact, int]:
    height, block_hash = log.block_number, log.block_hash
    if name in ("DepositQueued", "FullExitQueued"):
        serial, owner = int(idx[0]), bytes.fromhex(str(idx[1])[2:])
        deposit = name == "DepositQueued"
        fact = PriorityRequestQueued(
            chain=chain, serial_id=serial, kind="deposit" if deposit else "full_exit",
            owner=owner, token=int(vals[0 if deposit else 1]),
            amount=int(vals[1]) if deposit else 0,
            account_id=0 if deposit else int(vals[0]),
            l1_block_number=height)
        return name, fact, serial
    if name == "GroupKeyReplaced":
        epoch = int(idx[0])
        return name, GroupKeyChanged(chain, Epoch(epoch), bytes(vals[0]), height), epoch
    if name == "BlocksReverted":
        first, last = BlockNumber(int(vals[0])), BlockNumber(int(vals[1]))
        return name, BlocksReverted(chain, first, last, height), first
    number = BlockNumber(int(idx[0]))
    if name == "BlockProven":
        return name, RootProven(chain, number, bytes(vals[0]),
                                bytes(vals[1]), height, block_hash), number
    if name == "BlockCommitted":
        return name, BlockCommitted(
            chain, number, bytes(vals[0]), bytes(vals[1]),
            bytes(vals[2]), bytes(vals[3]),
            tuple(bytes(h) for h in vals[4]),
            height, block_hash), number
    submitter = bytes.fromhex(str(idx[1])[2:])
    return name, RootConfirmed(chain, number, bytes(vals[0]),
                               Epoch(int(vals[1])), submitter, height), number
