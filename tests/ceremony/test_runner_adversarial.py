"""The runner under bad input: forged, unsigned and garbage requests; failure with evidence."""

from __future__ import annotations

from pathlib import Path

import cbor2
import trio

from consensus.dkg import Response, encode_message
from oracle_node.ceremony.dkg import run_dkg_member
from oracle_node.ceremony.errors import CeremonyFailed
from oracle_node.ceremony.runner import CeremonyRunner, ceremony_protocol
from oracle_node.p2p import wire
from oracle_node.p2p.fake import open_fake_network
from oracle_node.p2p.identity import sign_with_identity
from oracle_node.types import MemberIndex
from tests.ceremony.helpers import FAST, PASSWORD, TEST_SCRYPT_N, definition_for, identities


async def test_forged_and_garbage_requests_are_rejected_and_counted(
        tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    ids = identities(4)
    definition = definition_for(ids, 3)
    cid = definition.ceremony_id()
    protocol = ceremony_protocol(definition.network_id)
    peers = [m.peer_id for m in definition.members]
    answers: list[dict[str, str]] = []
    async with open_fake_network() as net, trio.open_nursery() as nursery:
        trs = [net.add_node(p, allowed=[q for q in peers if q != p]) for p in peers]
        net.crash(peers[3])  # member 4 stays silent so the deal phase waits for a while
        runner: CeremonyRunner = await nursery.start(lambda task_status: run_dkg_member(
            definition=definition, identity=ids[0], node_dir=tmp_path, transport=trs[0],
            password=PASSWORD, timeouts=FAST, scrypt_n=TEST_SCRYPT_N, task_status=task_status))
        # member 2 claims to be recipient 3 (properly signed by member 2's identity)
        spoof = wire.sign_ceremony(wire.CeremonyMessage(
            MemberIndex(2), cid, "response", encode_message(Response(cid, 3, ()))),
            lambda d: sign_with_identity(ids[1], d))
        # member 2's envelope signed by member 3's key
        unsigned = wire.sign_ceremony(wire.CeremonyMessage(
            MemberIndex(2), cid, "response", encode_message(Response(cid, 2, ()))),
            lambda d: sign_with_identity(ids[2], d))
        other = wire.sign_ceremony(wire.CeremonyMessage(
            MemberIndex(2), b"\x07" * 32, "response", b"x"),
            lambda d: sign_with_identity(ids[1], d))
        for data in (b"\xff garbage", wire.encode(spoof), wire.encode(unsigned),
                     wire.encode(other)):
            answers.append(cbor2.loads(await trs[1].request(peers[0], protocol, data)))
        nursery.cancel_scope.cancel()
    assert [a["s"] for a in answers] == ["rejected", "rejected", "rejected", "retry"]
    assert answers[0]["r"].startswith("wire:")
    assert answers[1]["r"] == "sender_is_not_the_peer"
    assert answers[2]["r"] == "bad_envelope_signature"
    assert runner.stats.rejected["sender_is_not_the_peer"] == 1
    assert runner.participant.phase.value == "deal"  # nothing forged got in


async def test_failure_names_the_member_and_what_it_did(tmp_path: Path,
                                                       autojump_clock: trio.abc.Clock) -> None:
    ids = identities(3)
    definition = definition_for(ids, 3)
    peers = [m.peer_id for m in definition.members]
    errors: list[CeremonyFailed] = []

    async def member(i: int, tr: object) -> None:
        try:
            await run_dkg_member(definition=definition, identity=ids[i],
                                 node_dir=tmp_path / f"n{i}", transport=tr,  # type: ignore[arg-type]
                                 password=PASSWORD, timeouts=FAST, scrypt_n=TEST_SCRYPT_N)
        except CeremonyFailed as err:
            errors.append(err)

    async with open_fake_network() as net, trio.open_nursery() as nursery:
        trs = [net.add_node(p, allowed=[q for q in peers if q != p]) for p in peers]
        net.crash(peers[2])
        for i in range(2):
            nursery.start_soon(member, i, trs[i])
    assert len(errors) == 2
    for err in errors:
        assert err.evidence == ((3, "missing_deal", ""),)
        assert "only 2 qualified dealers, need 3" in str(err)
        assert "dealer 3: missing_deal" in str(err)
