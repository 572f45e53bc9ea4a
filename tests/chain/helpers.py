"""Shared helpers for the chain tests (fake chain under trio's MockClock)."""

from __future__ import annotations

from oracle_node.chain.events import encode_event
from oracle_node.chain.fake import FakeChain

CONTRACT = "0x" + "c0" * 20
OWNER = "0x" + "ab" * 20


def emit_proven(chain: FakeChain, number: int, root_byte: int = 1) -> None:
    """Queue a BlockProven(number) log for the next mined block."""
    topics, data = encode_event("BlockProven", (number,),
                                (bytes([root_byte]) * 32, bytes([root_byte + 1]) * 32))
    chain.emit(CONTRACT, topics, data)


def emit_deposit(chain: FakeChain, serial: int, amount: int = 10**18) -> None:
    """Queue a DepositQueued(serial) log for the next mined block."""
    topics, data = encode_event("DepositQueued", (serial, OWNER), (1, amount, 1000))
    chain.emit(CONTRACT, topics, data)
