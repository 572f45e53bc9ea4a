"""DKG over the in-memory FakeNetwork under MockClock: honest, one offline, kill + restart."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import trio
from libp2p.crypto.keys import KeyPair

from consensus import bls, threshold
from consensus.keystore import decrypt_keystore
from consensus.lock import ClusterLock
from consensus.message import signing_message
from oracle_node.ceremony.definition import ClusterDefinition
from oracle_node.ceremony.dkg import (
    LOCK_FILE,
    SHARE_FILE,
    DkgOutcome,
    run_dkg_member,
    state_path,
)
from oracle_node.ceremony.runner import Progress
from oracle_node.errors import ConfigError
from oracle_node.p2p.fake import FakeNetwork, FakeTransport, open_fake_network
from tests.ceremony.helpers import FAST, PASSWORD, TEST_SCRYPT_N, definition_for, identities


def _transports(net: FakeNetwork, definition: ClusterDefinition) -> list[FakeTransport]:
    peers = [m.peer_id for m in definition.members]
    return [net.add_node(p, allowed=[q for q in peers if q != p]) for p in peers]


def _share(outcome: DkgOutcome) -> threshold.KeyShare:
    secret = decrypt_keystore(json.loads(outcome.share_path.read_text()), PASSWORD)
    return threshold.KeyShare(outcome.index, bls.SecretKey.from_bytes(secret))


def _assert_signs(lock: ClusterLock, shares: list[threshold.KeyShare]) -> None:
    msg = signing_message(network_id=7, epoch=1, block_number=5, final_root=b"\x11" * 32)
    partials = [threshold.partial_sign(s, msg) for s in shares]
    for p in partials:
        pub = next(x for x in lock.public_shares if x.index == p.index)
        assert threshold.verify_partial(pub, msg, p)
    group = threshold.combine(partials[: lock.threshold], lock.threshold)
    assert bls.verify(lock.group_public_key, msg, group)


async def _member(definition: ClusterDefinition, ids: list[KeyPair], i: int,
                  tr: FakeTransport, root: Path, out: dict[int, DkgOutcome],
                  progress: Callable[[Progress], None] | None = None) -> None:
    out[i] = await run_dkg_member(definition=definition, identity=ids[i], node_dir=root / f"n{i}",
                                  transport=tr, password=PASSWORD, timeouts=FAST,
                                  progress=progress, scrypt_n=TEST_SCRYPT_N)


async def test_dkg_four_members_agree_and_sign(tmp_path: Path, autojump_clock: trio.abc.Clock
                                               ) -> None:
    ids = identities(4)
    definition = definition_for(ids, 3)
    out: dict[int, DkgOutcome] = {}
    phases: list[str] = []
    async with open_fake_network() as net:
        trs = _transports(net, definition)
        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            for i, tr in enumerate(trs):
                nursery.start_soon(_member, definition, ids, i, tr, tmp_path, out,
                                   (lambda p: phases.append(p.phase)) if i == 0 else None)
        # every phase ended early (all messages in), not on its timeout
        assert trio.current_time() - start < FAST.deal
    locks = {o.lock.to_json() for o in out.values()}
    assert len(locks) == 1
    lock = out[0].lock
    assert [m.name for m in lock.members] == [m.peer_id for m in definition.members]
    assert phases == ["deal", "response", "justification", "finished"]
    _assert_signs(lock, [_share(o) for o in out.values()])
    # the sealed state is wiped once the outputs exist
    assert not state_path(tmp_path / "n0", definition.ceremony_id()).exists()
    assert ClusterLock.from_json(out[0].lock_path.read_text()) == lock


async def test_dkg_one_member_offline_is_left_out(tmp_path: Path,
                                                  autojump_clock: trio.abc.Clock) -> None:
    ids = identities(5)
    definition = definition_for(ids, 3)
    out: dict[int, DkgOutcome] = {}
    async with open_fake_network() as net:
        trs = _transports(net, definition)
        net.crash(trs[4].local_peer)
        async with trio.open_nursery() as nursery:
            for i in range(4):
                nursery.start_soon(_member, definition, ids, i, trs[i], tmp_path, out)
    assert len({o.lock.to_json() for o in out.values()}) == 1
    lock = out[0].lock
    assert len(lock.public_shares) == 5  # the offline member keeps its place in the lock
    stats = out[0].stats
    assert stats is not None
    assert stats.retries > 0
    _assert_signs(lock, [_share(o) for o in out.values()])


async def test_member_killed_mid_dkg_resumes_from_its_state(
        tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    ids = identities(4)
    definition = definition_for(ids, 3)
    out: dict[int, DkgOutcome] = {}
    victim = 2
    seen: list[str] = []
    async with open_fake_network() as net:
        trs = _transports(net, definition)
        async with trio.open_nursery() as nursery:
            for i in range(4):
                if i != victim:
                    nursery.start_soon(_member, definition, ids, i, trs[i], tmp_path, out)
            with trio.CancelScope() as scope:
                def kill_after_deal(p: Progress) -> None:
                    seen.append(p.phase)
                    if p.phase == "response":
                        scope.cancel()  # "killed" right after persisting the deal phase
                await _member(definition, ids, victim, trs[victim], tmp_path, out,
                              kill_after_deal)
            assert victim not in out
            assert state_path(tmp_path / f"n{victim}", definition.ceremony_id()).exists()
            net.crash(trs[victim].local_peer)
            await trio.sleep(3.0)
            net.restart(trs[victim].local_peer)
            await _member(definition, ids, victim, trs[victim], tmp_path, out,
                          lambda p: seen.append(p.phase))
    assert seen[:2] == ["deal", "response"]
    assert "resumed" in seen
    assert seen[-1] == "finished"
    assert len({o.lock.to_json() for o in out.values()}) == 1
    assert out[victim].lock.public_shares[victim].index == victim + 1
    _assert_signs(out[0].lock, [_share(o) for o in out.values()])


async def test_a_corrupted_lock_left_in_the_node_dir_is_a_config_error(tmp_path: Path) -> None:
    ids = identities(4)
    definition = definition_for(ids, 3)
    node_dir = tmp_path / "n0"
    (node_dir / SHARE_FILE).parent.mkdir(parents=True)
    (node_dir / SHARE_FILE).write_text("{}")
    (node_dir / LOCK_FILE).write_text('{"version": 1')
    async with open_fake_network() as net:
        with pytest.raises(ConfigError, match="not a valid lock"):
            await run_dkg_member(definition=definition, identity=ids[0], node_dir=node_dir,
                                 transport=_transports(net, definition)[0], password=PASSWORD,
                                 timeouts=FAST, scrypt_n=TEST_SCRYPT_N)
