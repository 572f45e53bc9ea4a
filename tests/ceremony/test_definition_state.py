"""Definition format, local-cluster tool, sealed state file, SignerSetProposed decoding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from libp2p.peer.id import ID

from consensus import bls
from consensus.dkg import CeremonyConfig, Participant
from oracle_node.ceremony.definition import (
    ClusterDefinition,
    ceremony_secret,
    encryption_key_matches,
    encryption_keys,
)
from oracle_node.ceremony.errors import CeremonyStateError, DefinitionError, ProposalError
from oracle_node.ceremony.local import create_local_cluster
from oracle_node.ceremony.proposal import decode_signer_set_proposed, encode_signer_set_proposed
from oracle_node.ceremony.state import StateFile
from oracle_node.keys import IDENTITY_FILE
from oracle_node.p2p.identity import peer_id_of
from oracle_node.ports import LogEntry
from tests.ceremony.helpers import PASSWORD, definition_for, identities


def test_definition_round_trip_and_hash() -> None:
    definition = definition_for(identities(4), 3)
    text = definition.to_json()
    assert ClusterDefinition.from_json(text) == definition
    doc = json.loads(text)
    doc["threshold"] = 2
    with pytest.raises(DefinitionError, match="definition_hash"):
        ClusterDefinition.from_json(json.dumps(doc))
    del doc["definition_hash"]
    assert ClusterDefinition.from_json(json.dumps(doc)).ceremony_id() != definition.ceremony_id()


@pytest.mark.parametrize(("field", "value", "message"), [
    ("threshold", 5, "threshold"),
    ("version", 2, "version"),
    ("extra", 1, "unexpected"),
    ("members", [{"index": 1}], "malformed"),
])
def test_definition_rejects_bad_documents(field: str, value: object, message: str) -> None:
    doc = json.loads(definition_for(identities(4), 3).to_json())
    del doc["definition_hash"]
    doc[field] = value
    with pytest.raises(DefinitionError, match=message):
        ClusterDefinition.from_json(json.dumps(doc))


def test_local_cluster_tool_writes_identities_and_definition(tmp_path: Path) -> None:
    path = create_local_cluster(tmp_path, nodes=4, password=PASSWORD, base_port=9100)
    definition = ClusterDefinition.load(path)
    assert definition.threshold == 3
    assert [m.multiaddr for m in definition.members][-1] == "/ip4/127.0.0.1/tcp/9103"
    assert (tmp_path / "node2" / "keys" / IDENTITY_FILE).exists()
    # re-running keeps the identities (same peer ids)
    again = ClusterDefinition.load(create_local_cluster(tmp_path, nodes=4, password=PASSWORD,
                                                        base_port=9100))
    assert again == definition


def test_ceremony_key_binds_encryption_key_to_member_key() -> None:
    a, b = (ceremony_secret(k) for k in identities(2))
    assert encryption_key_matches(encryption_keys(a).public, bls.public_key(a))
    assert not encryption_key_matches(encryption_keys(a).public, bls.public_key(b))
    assert not encryption_key_matches(b"\x00" * 48, bls.public_key(a))


def test_state_file_is_sealed_and_typed_on_damage(tmp_path: Path) -> None:
    definition = definition_for(identities(3), 2)
    keys = encryption_keys(bls.keygen(b"k" * 32))
    config = CeremonyConfig.for_dkg(definition.ceremony_id(), [
        *definition.dkg_members()[:2], type(definition.dkg_members()[0])(3, keys.public)], 2)
    participant = Participant(config, seed=b"s" * 32, dealer_index=3, recipient_index=3,
                              encryption_keys=keys)
    participant.start()
    state = StateFile(tmp_path / "s.state", b"\x01" * 32)
    state.save(participant)
    assert state.load() is not None
    assert state.load().to_bytes() == participant.to_bytes()  # type: ignore[union-attr]
    assert b"s" * 32 not in state.path.read_bytes()  # the seed never hits the disk in clear
    with pytest.raises(CeremonyStateError, match="wrong key"):
        StateFile(state.path, b"\x02" * 32).load()
    blob = bytearray(state.path.read_bytes())
    blob[-1] ^= 1
    state.path.write_bytes(bytes(blob))
    with pytest.raises(CeremonyStateError):
        state.load()
    state.wipe()
    assert not state.path.exists()
    assert StateFile(tmp_path / "absent", b"\x01" * 32).load() is None


def _proposal_log(*, pops_ok: bool = True) -> LogEntry:
    ids = identities(3)
    sks = [ceremony_secret(k) for k in ids]
    pops = [bls.pop_prove(sk).to_bytes() for sk in sks]
    if not pops_ok:
        pops[1] = pops[0]
    topics, data = encode_signer_set_proposed(
        epoch=1, proposal_id=9, threshold=2, activation_block=100,
        peer_ids=[ID.from_base58(peer_id_of(k)).to_bytes() for k in ids],
        member_keys=[bls.public_key(sk).to_bytes() for sk in sks], pops=pops)
    return LogEntry("0x" + "ab" * 20, tuple(topics), data, 7, b"\x00" * 32, b"\x00" * 32, 0)


def test_signer_set_proposed_decodes_and_checks_pops() -> None:
    proposal = decode_signer_set_proposed(_proposal_log())
    assert (proposal.proposal_id, proposal.threshold, proposal.activation_block) == (9, 2, 100)
    assert [m.index for m in proposal.members] == [1, 2, 3]
    with pytest.raises(ProposalError, match="member 2: invalid proof of possession"):
        decode_signer_set_proposed(_proposal_log(pops_ok=False))
    log = _proposal_log()
    with pytest.raises(ProposalError, match="undecodable"):
        decode_signer_set_proposed(LogEntry(log.address, log.topics, log.data[:50], 7,
                                            log.block_hash, log.transaction_hash, 0))


def test_atomic_write_survives_concurrent_writers(tmp_path: Path) -> None:
    """Many writers replacing one file never collide on a shared temp name."""
    import threading

    from oracle_node.ceremony.state import atomic_write

    target = tmp_path / "cluster-lock.json"
    errors: list[BaseException] = []

    def writer(tag: int) -> None:
        try:
            for _ in range(50):
                atomic_write(target, f"writer {tag}".encode())
        except BaseException as err:  # collected and asserted below
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert target.read_bytes().startswith(b"writer ")
    assert [p.name for p in tmp_path.iterdir()] == ["cluster-lock.json"]
    assert (target.stat().st_mode & 0o777) == 0o600
