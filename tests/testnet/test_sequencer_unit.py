"""Fast tests of the testnet sequencer's pure parts (no chains)."""

from __future__ import annotations

from pathlib import Path

import pytest

from oracle_node.rollup import hashes
from oracle_node.rollup.block import build_block
from oracle_node.rollup.pubdata import Deposit, FullExit, Op, Transfer, Withdraw
from oracle_node.rollup.state import RollupParams, State
from testnet.harness.errors import SequencerError
from testnet.sequencer.config import ChainSpec, SequencerConfig
from testnet.sequencer.core import Sequencer
from testnet.sequencer.eventlog import EventLog, EventTail, read_events
from testnet.sequencer.mainchain import PriorityRequest
from testnet.sequencer.traffic import L2Mirror, TrafficGenerator

OWNERS = [bytes([i]) * 20 for i in range(1, 5)]


def _deposit(mirror: L2Mirror, chain: int, owner: bytes, token: int, serial: int) -> Deposit:
    return Deposit(chain_id=chain, account_id=mirror.account_for(owner), token=token,
                   amount=10**18, owner=owner, serial_id=serial)


def test_generated_traffic_is_accepted_by_the_rollup_core() -> None:
    """Twenty blocks of generated transfers/withdrawals all apply; the mirror tracks the state."""
    state = State(RollupParams(depth=8, capacity=4))
    mirror = L2Mirror()
    traffic = TrafficGenerator([1, 2], seed=3)
    sync = hashes.ZERO_HASH
    kinds: set[str] = set()
    for n in range(1, 21):
        ops: list[Op] = [_deposit(mirror, 1 + n % 2, OWNERS[n % 4], 1 + n % 2, n)] if n < 5 else []
        ops += traffic.l2_ops(mirror, 4 - len(ops), n)
        result = build_block(state, ops, n, sync, [1, 2])
        for op in result.ops:
            mirror.apply(op)
            kinds.add(type(op).__name__)
        sync = result.sync_hash
        for account_id, acc in mirror.accounts.items():
            assert state.account(account_id).nonce == acc.nonce
            assert list(state.account(account_id).balances) == [acc.balances.get(1, 0),
                                                                 acc.balances.get(2, 0)]
    assert {"Deposit", "Transfer", "Withdraw"} <= kinds


def test_withdrawals_target_more_than_one_chain() -> None:
    mirror = L2Mirror()
    for i, owner in enumerate(OWNERS):
        mirror.apply(_deposit(mirror, 1, owner, 1, i))
    traffic = TrafficGenerator([1, 2, 3], seed=1)
    targets = {op.chain_id for n in range(1, 30, 2) for op in traffic.l2_ops(mirror, 4, n)
               if isinstance(op, Withdraw)}
    assert len(targets) >= 2
    transfers = [op for n in range(2, 30, 2) for op in traffic.l2_ops(mirror, 4, n)
                 if isinstance(op, Transfer)]
    assert transfers
    assert all(op.from_account != op.to_account for op in transfers)


def test_config_roundtrip_and_bad_mode(tmp_path: Path) -> None:
    cfg = SequencerConfig(chains=(ChainSpec(2, "http://x", "0x" + "11" * 20, "0x" + "22" * 20),
                                  ChainSpec(1, "http://y", "0x" + "33" * 20, "0x" + "44" * 20)),
                          validator_key="0x01", user_keys=("0x02",), depth=8, capacity=2,
                          mode="lie-ops")
    cfg.save(tmp_path / "s.json")
    again = SequencerConfig.load(tmp_path / "s.json")
    assert again == cfg
    assert again.chain_ids == [1, 2]
    assert again.target_chain == 2
    with pytest.raises(SequencerError):
        SequencerConfig(chains=cfg.chains, validator_key="0x01", user_keys=(), depth=8,
                        capacity=2, mode="sneaky")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(SequencerError):
        SequencerConfig.load(tmp_path / "bad.json")


def test_event_log_counts_and_skips_torn_lines(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "e.jsonl")
    log.emit("built", block=1, root=b"\x01" * 2)
    log.emit("built", block=2)
    with (tmp_path / "e.jsonl").open("a") as out:
        out.write('{"torn": ')
    events = read_events(tmp_path / "e.jsonl")
    assert [e["block"] for e in events] == [1, 2]
    assert events[0]["root"] == "0x0101"
    assert log.counts == {"built": 2}


def _offline_sequencer(capacity: int = 4) -> Sequencer:
    chains = tuple(ChainSpec(c, "http://127.0.0.1:1", "0x" + "11" * 20, "0x" + "22" * 20)
                   for c in (1, 2))
    config = SequencerConfig(chains=chains, validator_key="0x" + "01" * 32,
                             user_keys=("0x" + "02" * 32,), depth=8, capacity=capacity)
    return Sequencer(config, lambda _state, _result: b"", EventLog(None))


def test_blocks_from_queued_requests_stay_valid_with_exits_in_the_same_block() -> None:
    """A deposit and a full exit of the same account in one block: the exit takes the balance
    left at that point, so the rollup core accepts the block; L2 ops come after."""
    seq = _offline_sequencer()
    owner = OWNERS[0]
    seq.pending[1].append(PriorityRequest(1, 0, "deposit", owner, 1, 10**18, 0))
    seq.pending[2].append(PriorityRequest(2, 0, "deposit", OWNERS[1], 2, 5, 0))
    _before, first = seq.build(seq.next_ops())
    assert [type(op).__name__ for op in first.ops][:2] == ["Deposit", "Deposit"]
    left = seq.mirror.accounts[1].balances[1]  # after block 1's deposits and traffic
    seq.pending[1].append(PriorityRequest(1, 1, "deposit", owner, 1, 7, 0))
    seq.pending[2].append(PriorityRequest(2, 1, "full_exit", owner, 1, 0, 1))
    _before, second = seq.build(seq.next_ops())
    exits = [op for op in second.ops if isinstance(op, FullExit)]
    assert exits == [FullExit(chain_id=2, account_id=1, token=1, amount=left + 7, owner=owner,
                              serial_id=1)]
    for account_id, acc in seq.mirror.accounts.items():  # the mirror tracks the real state
        assert list(seq.state.account(account_id).balances) == [acc.balances.get(1, 0),
                                                                acc.balances.get(2, 0)]
    assert second.prev_sync_hash == first.sync_hash


def test_event_tail_returns_only_new_complete_lines(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "e.jsonl")
    tail = EventTail(tmp_path / "e.jsonl")
    assert tail.new_events() == []
    log.emit("built", block=1)
    assert [e["block"] for e in tail.new_events()] == [1]
    with (tmp_path / "e.jsonl").open("a") as out:
        out.write('{"event": "built", "block": 2')
    assert tail.new_events() == []  # torn line: wait for the rest
    with (tmp_path / "e.jsonl").open("a") as out:
        out.write(', "t": 0}\n')
    log.emit("built", block=3)
    assert [e["block"] for e in tail.new_events()] == [2, 3]
