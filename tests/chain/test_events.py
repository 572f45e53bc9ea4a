"""Event ABI: topics equal the Vyper-compiled events; encode/decode round trips; bad logs."""

from __future__ import annotations

from eth_utils.crypto import keccak

from deploy.bindings import EVENT_TOPICS
from oracle_node.chain.events import EVENTS, TOPICS, decode_log, encode_event
from oracle_node.pipeline.messages import BlocksReverted, GroupKeyChanged, RootProven
from oracle_node.ports import LogEntry
from oracle_node.types import BlockNumber, Epoch, RollupChainId

from .anvil_kit import event_source


def _signature(entry: dict[str, object]) -> str:
    inputs = entry["inputs"]
    assert isinstance(inputs, list)
    return f"{entry['name']}({','.join(str(i['type']) for i in inputs)})"


def test_topics_match_the_compiled_contract() -> None:
    compiled = {e["name"]: keccak(text=_signature(e)) for e in event_source().abi
                if e["type"] == "event"}
    # events the test contract does not emit are checked against the real contract's ABI
    real_only = ("GroupKeyReplaced", "BlocksReverted")
    assert compiled == {name: abi.topic for name, abi in EVENTS.items() if name not in real_only}
    for name in real_only:
        assert EVENTS[name].topic == EVENT_TOPICS[name]
    assert set(TOPICS) == {*compiled.values(), *(EVENT_TOPICS[n] for n in real_only)}
    for name, abi in EVENTS.items():
        assert abi.topic == EVENT_TOPICS[name]


def _log(topics: list[bytes], data: bytes) -> LogEntry:
    return LogEntry("0x" + "11" * 20, tuple(topics), data, 5, b"\x05" * 32, b"\x06" * 32, 0)


def test_blocks_reverted_is_decoded_into_a_fact() -> None:
    topics, data = encode_event("BlocksReverted", (), (4, 6))
    assert decode_log(RollupChainId(2), _log(topics, data)) == (
        "BlocksReverted", BlocksReverted(RollupChainId(2), BlockNumber(4), BlockNumber(6), 5), 4)
    assert decode_log(RollupChainId(2), _log(topics, data[:32])) == "malformed_log"


def test_decode_roundtrip_and_bad_logs() -> None:
    topics, data = encode_event("BlockProven", (9,), (b"\x01" * 32, b"\x02" * 32))
    decoded = decode_log(RollupChainId(3), _log(topics, data))
    assert decoded == ("BlockProven", RootProven(RollupChainId(3), BlockNumber(9), b"\x01" * 32,
                                                 b"\x02" * 32, 5, b"\x05" * 32), 9)
    assert decode_log(RollupChainId(3), _log(topics, data[:40])) == "malformed_log"
    assert decode_log(RollupChainId(3), _log(topics[:1], data)) == "malformed_log"
    assert decode_log(RollupChainId(3), _log([b"\x00" * 32], data)) == "unknown_event"
    assert decode_log(RollupChainId(3), _log([], data)) == "unknown_event"


def test_group_key_replaced_decodes_and_bad_key_is_dropped() -> None:
    key = b"\x11" * 96
    decoded = decode_log(RollupChainId(2), _log(*encode_event("GroupKeyReplaced", (3,), (key,))))
    assert not isinstance(decoded, str)
    name, fact, ident = decoded
    assert (name, ident) == ("GroupKeyReplaced", 3)
    assert fact == GroupKeyChanged(RollupChainId(2), Epoch(3), key, 5)
    short = _log(*encode_event("GroupKeyReplaced", (3,), (b"\x11" * 95,)))
    assert decode_log(RollupChainId(2), short) == "malformed_log"
