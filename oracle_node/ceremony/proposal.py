"""Decoding of the gate's ``SignerSetProposed`` event (docs/gate.md) into a checked proposal."""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak
from libp2p.peer.id import ID

from consensus import bls
from consensus.errors import ConsensusError
from oracle_node.ceremony.errors import ProposalError
from oracle_node.ports import LogEntry
from oracle_node.types import PeerIdStr

SIGNER_SET_PROPOSED_SIGNATURE = \
    "SignerSetProposed(uint256,uint256,uint256,uint256,bytes[],bytes[],bytes[])"
SIGNER_SET_PROPOSED_TOPIC = bytes(keccak(text=SIGNER_SET_PROPOSED_SIGNATURE))
_DATA_TYPES = ["uint256", "uint256", "bytes[]", "bytes[]", "bytes[]"]


@dataclass(frozen=True)
class ProposedMember:
    """One member of a proposed signer set (index = position + 1)."""

    index: int
    peer_id: PeerIdStr
    member_key: bls.PublicKey


@dataclass(frozen=True)
class SignerSetProposal:
    """A decoded proposal whose every member proved possession of its key."""

    epoch: int
    proposal_id: int
    threshold: int
    activation_block: int
    members: tuple[ProposedMember, ...]
    block_number: int


def decode_signer_set_proposed(log: LogEntry) -> SignerSetProposal:
    """Decode and check one log; ``ProposalError`` says what is wrong with it."""
    if len(log.topics) != 3 or log.topics[0] != SIGNER_SET_PROPOSED_TOPIC:
        raise ProposalError("not a SignerSetProposed log")
    try:
        threshold, activation, peer_ids, keys, pops = abi_decode(_DATA_TYPES, log.data)
    except Exception as err:  # eth_abi raises several unrelated types on bad data
        raise ProposalError(f"undecodable SignerSetProposed data: {type(err).__name__}") from err
    if not (len(peer_ids) == len(keys) == len(pops)) or not peer_ids:
        raise ProposalError("member arrays differ in length or are empty")
    if not 1 <= threshold <= len(peer_ids):
        raise ProposalError(f"threshold {threshold} outside 1..{len(peer_ids)}")
    members = []
    for i, (raw_id, raw_key, raw_pop) in enumerate(zip(peer_ids, keys, pops, strict=True), 1):
        try:
            peer = PeerIdStr(ID(bytes(raw_id)).to_base58())
            key = bls.PublicKey.from_bytes(bytes(raw_key))
            pop = bls.Signature.from_bytes(bytes(raw_pop))
        except (ConsensusError, ValueError) as err:
            raise ProposalError(f"member {i}: malformed peer id or key: {err}") from err
        if not bls.pop_verify(key, pop):
            raise ProposalError(f"member {i}: invalid proof of possession")
        members.append(ProposedMember(i, peer, key))
    if len({m.peer_id for m in members}) != len(members):
        raise ProposalError("duplicate peer id")
    return SignerSetProposal(int.from_bytes(log.topics[1], "big"),
                             int.from_bytes(log.topics[2], "big"), threshold, activation,
                             tuple(members), log.block_number)


def encode_signer_set_proposed(*, epoch: int, proposal_id: int, threshold: int,
                               activation_block: int, peer_ids: list[bytes],
                               member_keys: list[bytes], pops: list[bytes]
                               ) -> tuple[list[bytes], bytes]:
    """(topics, data) of a ``SignerSetProposed`` log, as the gate emits it (tests, fakes)."""
    topics = [SIGNER_SET_PROPOSED_TOPIC, epoch.to_bytes(32, "big"),
              proposal_id.to_bytes(32, "big")]
    data = abi_encode(_DATA_TYPES, [threshold, activation_block, peer_ids, member_keys, pops])
    return topics, bytes(data)
