# pragma version ~=0.4.3
"""
@title k-of-n ECDSA confirmation of final roots (gas comparison baseline only)
@notice Same message, checks, storage and event as the BLS gate's confirmFinalRoot, but
        authorised by k ECDSA signatures (ecrecover over the 32-byte canonical message,
        signers strictly ascending so each counts once). Not used in production.
"""

MAX_SIGNERS: constant(uint256) = 256
CONFIRM_TAG: constant(bytes32) = keccak256("zkLink-oracle/confirmFinalRoot/v1")
EPOCH: constant(uint256) = 1

event FinalRootConfirmed:
    block_number: indexed(uint256)
    final_root: bytes32
    epoch: uint256
    submitter: indexed(address)

is_signer: public(HashMap[address, bool])
threshold: public(uint256)
network_id: public(uint256)
last_confirmed: public(uint256)
proven_roots: public(HashMap[uint256, bytes32])
owner: address


@deploy
def __init__(signers: DynArray[address, MAX_SIGNERS], threshold: uint256, network_id: uint256):
    assert threshold > 0 and threshold <= len(signers), "BadThreshold"
    for signer: address in signers:
        self.is_signer[signer] = True
    self.threshold = threshold
    self.network_id = network_id
    self.owner = msg.sender


@external
def recordProvenRoot(block_number: uint256, final_root: bytes32):
    """@notice Stand-in for proveBlocks (owner only)."""
    assert msg.sender == self.owner, "NotOwner"
    self.proven_roots[block_number] = final_root


@internal
@view
def _check(message: bytes32, v: DynArray[uint8, MAX_SIGNERS], r: DynArray[bytes32, MAX_SIGNERS],
           s: DynArray[bytes32, MAX_SIGNERS]) -> bool:
    n: uint256 = len(v)
    if n < self.threshold or len(r) != n or len(s) != n:
        return False
    previous: address = empty(address)
    for i: uint256 in range(n, bound=MAX_SIGNERS):
        signer: address = ecrecover(message, v[i], r[i], s[i])
        if convert(signer, uint256) <= convert(previous, uint256) or not self.is_signer[signer]:
            return False
        previous = signer
    return True


@view
@external
def checkSignatures(message: bytes32, v: DynArray[uint8, MAX_SIGNERS],
                    r: DynArray[bytes32, MAX_SIGNERS], s: DynArray[bytes32, MAX_SIGNERS]) -> bool:
    """@notice True iff at least `threshold` distinct signers (ascending) signed `message`."""
    return self._check(message, v, r, s)


@external
def confirmFinalRoot(block_number: uint256, final_root: bytes32, v: DynArray[uint8, MAX_SIGNERS],
                     r: DynArray[bytes32, MAX_SIGNERS], s: DynArray[bytes32, MAX_SIGNERS]) -> bool:
    """@notice The gate's confirmFinalRoot with a k-of-n ECDSA check instead of BLS."""
    proven: bytes32 = self.proven_roots[block_number]
    if proven == empty(bytes32):
        raise "BlockNotProven"
    if proven != final_root:
        raise "RootMismatch"
    if block_number <= self.last_confirmed:
        return False
    message: bytes32 = keccak256(abi_encode(CONFIRM_TAG, self.network_id, EPOCH, block_number,
                                            final_root))
    if not self._check(message, v, r, s):
        raise "InvalidSignature"
    self.last_confirmed = block_number
    log FinalRootConfirmed(block_number=block_number, final_root=final_root, epoch=EPOCH,
                           submitter=msg.sender)
    return True
