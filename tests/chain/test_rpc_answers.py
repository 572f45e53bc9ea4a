"""``RpcClient`` against malformed JSON-RPC answers: every one is a typed ``ChainError``."""

from __future__ import annotations

from typing import Any

import pytest

from oracle_node.chain.errors import RpcRemoteError, RpcResponseError
from oracle_node.chain.rpc import RpcClient, data, quantity
from oracle_node.errors import ChainError

HASH = "0x" + "11" * 32
LOG = {"address": "0x" + "22" * 20, "topics": [HASH], "data": "0x", "blockNumber": "0x1",
       "blockHash": HASH, "transactionHash": HASH, "logIndex": "0x0"}


def _client(answer: object) -> RpcClient:
    async def transport(payload: dict[str, Any]) -> Any:
        if isinstance(answer, dict) and answer.get("id") == "echo":
            return {**answer, "id": payload["id"]}
        return answer

    return RpcClient(transport, name="test")


def _answer(result: object) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": "echo", "result": result}


@pytest.mark.parametrize("answer", [
    None, [], "0x1", {"jsonrpc": "2.0", "id": 99, "result": "0x1"},
    {"jsonrpc": "2.0", "id": "echo"},
    {"jsonrpc": "2.0", "id": "echo", "error": "boom"},
    {"jsonrpc": "2.0", "id": "echo", "error": {"code": "x"}},
    _answer(None), _answer(7), _answer("0x"), _answer("0x1_0"), _answer(" 0x1"),
    _answer("0x1 "), _answer("0xg"), _answer("1"),
])
async def test_malformed_head_answers_are_typed(answer: object) -> None:
    with pytest.raises(RpcResponseError):
        await _client(answer).block_number()


async def test_remote_error_is_typed_and_well_formed_answer_parses() -> None:
    err = {"jsonrpc": "2.0", "id": "echo", "error": {"code": -32000, "message": "nope"}}
    with pytest.raises(RpcRemoteError):
        await _client(err).block_number()
    assert await _client(_answer("0x1A")).block_number() == 26


@pytest.mark.parametrize("log", [
    "log", {**LOG, "topics": "x"}, {**LOG, "topics": ["0x11"]}, {**LOG, "address": "0x22"},
    {**LOG, "address": None}, {**LOG, "data": "0x0"}, {**LOG, "data": "0x00 11"},
    {**LOG, "blockHash": "0x" + "11" * 31}, {**LOG, "logIndex": None},
])
async def test_malformed_logs_are_typed(log: object) -> None:
    client = _client(_answer([LOG, log]))
    with pytest.raises(ChainError):
        await client.get_logs(address=LOG["address"], topics=[], from_block=1, to_block=1)


async def test_malformed_blocks_and_receipts_are_typed() -> None:
    for block in ("0x1", [], {"number": "0x1"}, {"number": "0x1", "hash": HASH,
                                                 "parentHash": HASH, "timestamp": "t"}):
        with pytest.raises(RpcResponseError):
            await _client(_answer(block)).get_block(1)
    for receipt in ("r", {"logs": {}}, {"transactionHash": HASH, "logs": []}):
        with pytest.raises(RpcResponseError):
            await _client(_answer(receipt)).get_transaction_receipt(b"\x11" * 32)


def test_hex_parsers_are_strict() -> None:
    assert quantity("0xff") == 255
    assert data("0x") == b""
    assert data("0x0aFF") == b"\x0a\xff"
    for bad in ("0x0", "0x00 ", "00", "0xz0"):
        with pytest.raises(RpcResponseError):
            data(bad)


def test_log_removed_flag_must_be_a_json_boolean() -> None:
    from oracle_node.chain.rpc import parse_log

    entry = {"address": "0x" + "11" * 20, "topics": ["0x" + "22" * 32], "data": "0x",
             "blockNumber": "0x1", "blockHash": "0x" + "33" * 32,
             "transactionHash": "0x" + "44" * 32, "logIndex": "0x0", "removed": False}
    assert parse_log(entry).removed is False
    with pytest.raises(RpcResponseError, match="boolean"):
        parse_log({**entry, "removed": "false"})  # bool("false") would be True
