# pragma version ~=0.4.3
"""
@title Signer-set proposals (deployed on the governance chain only)
@notice The governor of the gate announces a new signer set here; the nodes verify the members'
        proofs of possession off-chain and reshare the group key among them. Nothing changes
        on-chain (a reshare keeps the group key and epoch), so this costs one transaction on
        one chain. Kept out of the main contract so that every main contract stays under the
        24,576-byte code limit (the proposal's ABI encoding alone is ~1.8 kB of code).
"""

interface Gate:
    def governance() -> address: view
    def epoch() -> uint256: view

MAX_MEMBERS: constant(uint256) = 256

event SignerSetProposed:
    epoch: indexed(uint256)
    proposal_id: indexed(uint256)
    threshold: uint256
    activation_block: uint256
    peer_ids: DynArray[Bytes[64], MAX_MEMBERS]
    member_keys: DynArray[Bytes[96], MAX_MEMBERS]
    pops: DynArray[Bytes[48], MAX_MEMBERS]

GATE: immutable(address)
proposal_count: uint256
pending_activation_block: uint256
pending_threshold: uint256
pending_size: uint256


@deploy
def __init__(gate: address):
    """@param gate the governance chain's main contract (it holds the governor and the epoch)."""
    assert gate.is_contract, "GateNotContract"
    GATE = gate


@external
def proposeSignerSet(peer_ids: DynArray[Bytes[64], MAX_MEMBERS],
                     member_keys: DynArray[Bytes[96], MAX_MEMBERS],
                     pops: DynArray[Bytes[48], MAX_MEMBERS], threshold: uint256,
                     activation_block: uint256) -> uint256:
    """
    @notice Governor of the gate: announce a signer set active from `activation_block` (a block
            number of this chain). Keys are 96-byte compressed G2, PoPs 48-byte compressed G1.
    @return the proposal id
    """
    if msg.sender != staticcall Gate(GATE).governance():
        raise "NotGovernor"
    n: uint256 = len(peer_ids)
    if n == 0 or len(member_keys) != n or len(pops) != n:
        raise "MalformedSignerSet"
    if threshold == 0 or threshold > n:
        raise "BadThreshold"
    if activation_block <= block.number:
        raise "ActivationInPast"
    for i: uint256 in range(n, bound=MAX_MEMBERS):
        if len(member_keys[i]) != 96 or len(pops[i]) != 48 or len(peer_ids[i]) == 0:
            raise "MalformedSignerSet"
    proposal_id: uint256 = self.proposal_count + 1
    self.proposal_count = proposal_id
    self.pending_activation_block = activation_block
    self.pending_threshold = threshold
    self.pending_size = n
    log SignerSetProposed(epoch=staticcall Gate(GATE).epoch(), proposal_id=proposal_id,
                          threshold=threshold, activation_block=activation_block,
                          peer_ids=peer_ids, member_keys=member_keys, pops=pops)
    return proposal_id


@view
@external
def pendingSignerSet() -> (uint256, uint256, uint256, uint256):
    """@notice (proposal id, activation block, threshold, size) of the latest proposal."""
    return (self.proposal_count, self.pending_activation_block, self.pending_threshold,
            self.pending_size)


@view
@external
def gate() -> address:
    """@notice The gate whose governor may propose."""
    return GATE
