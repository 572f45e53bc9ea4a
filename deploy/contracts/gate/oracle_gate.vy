# pragma version ~=0.4.3
"""
@title Oracle gate: BLS-confirmed final roots and their governance
@notice Module for the main contract (`initializes: oracle_gate`, `exports: oracle_gate.__interface__`).
        The main contract reports proved roots (`record_proven_root`) and asks `is_confirmed`
        before executing a block; anyone may submit the oracle network's group signature with
        `confirmFinalRoot`. See docs/gate.md for the algorithm, the decisions and the gas table.

        The group key (G2, 256-byte EIP-2537 form) lives in the code of a "key blob" contract
        (runtime code == the key, first byte 0x00 so it never executes) and is read with
        EXTCODECOPY: 2.6k gas instead of 8 cold SLOADs (16.8k). Its address, the key epoch, the
        last confirmed block and the pause flag share one storage word (`_head`), so a
        confirmation reads two cold slots (head, proved root) and writes one warm one.
"""

from gate import bls

event FinalRootConfirmed:
    block_number: indexed(uint256)
    final_root: bytes32
    epoch: uint256
    submitter: indexed(address)

event GroupKeyReplaced:
    epoch: indexed(uint256)
    group_key: Bytes[96]

event GroupKeyReplacementScheduled:
    epoch: indexed(uint256)
    group_key: Bytes[96]
    eta: uint256

event GroupKeyReplacementCancelled:
    epoch: indexed(uint256)

event ConfirmationsPaused:
    pass

event ConfirmationsUnpaused:
    pass

event GovernorChanged:
    previous: indexed(address)
    governor: indexed(address)

MAX_FORGET: constant(uint256) = 1024
CONFIRM_TAG: constant(bytes32) = keccak256("zkLink-oracle/confirmFinalRoot/v1")
HANDOVER_TAG: constant(bytes32) = keccak256("zkLink-oracle/handover/v1")

MAX_BLOCK_NUMBER: constant(uint256) = 2**63 - 1

# _head layout: key blob address (bits 0..159) | epoch (160..191) | last confirmed block
# (192..254) | paused (255)
_BLOB_MASK: constant(uint256) = 2**160 - 1
_EPOCH_SHIFT: constant(uint256) = 160
_EPOCH_MASK: constant(uint256) = 2**32 - 1
_LAST_SHIFT: constant(uint256) = 192
_LAST_CLEAR: constant(uint256) = max_value(uint256) - (MAX_BLOCK_NUMBER << _LAST_SHIFT)
_PAUSED_BIT: constant(uint256) = 2**255

NETWORK_ID: immutable(uint256)
EMERGENCY_DELAY: immutable(uint256)

_head: uint256
proven_roots: HashMap[uint256, bytes32]
used_keys: HashMap[bytes32, bool]
governor: address
replacement_blob: address
replacement_eta: uint256


@deploy
def __init__(governor: address, network_id: uint256, group_key_blob: address,
             emergency_delay: uint256):
    """
    @param group_key_blob a contract whose runtime code is the 256-byte EIP-2537 group key
           (see deploy/gate_tools.py `key_blob_initcode`); validated here with the pairing
           precompile, after a known-answer test of the hash-to-curve precompiles, so the
           deployment fails on a chain without working EIP-2537 precompiles.
    """
    if governor == empty(address):
        self._fail("ZeroGovernor")
    if not bls.self_test():
        self._fail("Eip2537SelfTestFailed")
    NETWORK_ID = network_id
    EMERGENCY_DELAY = emergency_delay
    self.governor = governor
    key: Bytes[256] = self._load_key_blob(group_key_blob)
    self.used_keys[keccak256(key)] = True
    self._head = convert(group_key_blob, uint256) | (1 << _EPOCH_SHIFT)


# ---------------------------------------------------------------- internal API (main contract)

@internal
def record_proven_root(block_number: uint256, final_root: bytes32):
    """@notice Called by the main contract when block `block_number` is proved with `final_root`."""
    if final_root == empty(bytes32):
        self._fail("EmptyRoot")
    if block_number > MAX_BLOCK_NUMBER:
        self._fail("BlockNumberTooLarge")
    if block_number <= self._last_of(self._head):
        self._fail("BlockAlreadyConfirmed")
    self.proven_roots[block_number] = final_root


@internal
@view
def is_confirmed(block_number: uint256, final_root: bytes32) -> bool:
    """@notice True iff the network confirmed `final_root` for `block_number` on this chain."""
    if block_number > self._last_of(self._head) or final_root == empty(bytes32):
        return False
    return self.proven_roots[block_number] == final_root


@internal
def forget_blocks(from_block: uint256, to_block: uint256):
    """@notice Called when blocks from_block..to_block (inclusive, at most 1024) are reverted."""
    if from_block == 0 or from_block > to_block:
        self._fail("BadRange")
    for b: uint256 in range(from_block, to_block + 1, bound=MAX_FORGET):
        self.proven_roots[b] = empty(bytes32)
    head: uint256 = self._head
    if from_block <= self._last_of(head):
        self._head = self._with_last(head, from_block - 1)


# ---------------------------------------------------------------- helpers

@internal
@view
def _load_key_blob(blob: address) -> Bytes[256]:
    if blob.codesize != 256:
        self._fail("MalformedGroupKey")
    key: Bytes[256] = slice(blob.code, 0, 256)
    if not bls.is_valid_g2(key):
        self._fail("MalformedGroupKey")
    return key


@internal
@pure
def _epoch_of(head: uint256) -> uint256:
    return (head >> _EPOCH_SHIFT) & _EPOCH_MASK


@internal
@pure
def _last_of(head: uint256) -> uint256:
    return (head >> _LAST_SHIFT) & MAX_BLOCK_NUMBER


@internal
@pure
def _with_last(head: uint256, last: uint256) -> uint256:
    return (head & _LAST_CLEAR) | (last << _LAST_SHIFT)


@internal
@view
def _key_of(head: uint256) -> Bytes[256]:
    blob: address = convert(convert(head & _BLOB_MASK, uint160), address)
    return slice(blob.code, 0, 256)


@internal
@view
def _signing_message(epoch: uint256, block_number: uint256, final_root: bytes32) -> bytes32:
    return keccak256(abi_encode(CONFIRM_TAG, NETWORK_ID, epoch, block_number, final_root))


@internal
@view
def _handover_message(old_epoch: uint256, new_key_compressed: Bytes[96]) -> bytes32:
    return keccak256(abi_encode(HANDOVER_TAG, NETWORK_ID, old_epoch,
                                keccak256(new_key_compressed)))


@internal
@pure
def _fail(reason: String[32]):
    # One revert site for every named error: each inline `raise "Name"` costs ~120 bytes of
    # code, and the main contract must stay under the 24,576-byte limit.
    raise reason


@internal
@pure
def _reject_signature(outcome: uint256):
    if outcome == bls.MALFORMED:
        self._fail("MalformedSignature")
    self._fail("InvalidSignature")


@internal
def _only_governor():
    if msg.sender != self.governor:
        self._fail("NotGovernor")


@internal
def _install_key(blob: address, key: Bytes[256], head: uint256) -> uint256:
    new_epoch: uint256 = self._epoch_of(head) + 1
    self.used_keys[keccak256(key)] = True
    self._head = (head & ~_BLOB_MASK & ~(_EPOCH_MASK << _EPOCH_SHIFT)) | convert(blob, uint256) \
        | (new_epoch << _EPOCH_SHIFT)
    self.replacement_blob = empty(address)
    self.replacement_eta = 0
    log GroupKeyReplaced(epoch=new_epoch, group_key=bls.compress_g2(key))
    return new_epoch


# ---------------------------------------------------------------- confirmations

@external
def confirmFinalRoot(block_number: uint256, final_root: bytes32, signature: Bytes[128]) -> bool:
    """
    @notice Confirm `final_root` for `block_number` with the group's BLS signature over the
            canonical message (docs/protocol.md §6) for the current epoch. Confirms every
            earlier block too (final roots form a hash chain).
    @return True if newly confirmed; False (no event, ~30k gas) if already confirmed.
    """
    head: uint256 = self._head
    if head & _PAUSED_BIT != 0:
        self._fail("ConfirmationsPaused")
    proven: bytes32 = self.proven_roots[block_number]
    if proven == empty(bytes32):
        self._fail("BlockNotProven")
    if proven != final_root:
        self._fail("RootMismatch")
    # The hot path spells out the _head accessors: each internal call costs ~50-100 gas.
    if block_number <= (head >> _LAST_SHIFT) & MAX_BLOCK_NUMBER:
        return False
    epoch: uint256 = (head >> _EPOCH_SHIFT) & _EPOCH_MASK
    blob: address = convert(convert(head & _BLOB_MASK, uint160), address)
    outcome: uint256 = bls.check(
        keccak256(abi_encode(CONFIRM_TAG, NETWORK_ID, epoch, block_number, final_root)),
        signature, slice(blob.code, 0, 256))
    if outcome != bls.VALID:
        self._reject_signature(outcome)
    self._head = (head & _LAST_CLEAR) | (block_number << _LAST_SHIFT)
    log FinalRootConfirmed(block_number=block_number, final_root=final_root, epoch=epoch,
                           submitter=msg.sender)
    return True


@view
@external
def isConfirmed(block_number: uint256, final_root: bytes32) -> bool:
    """@notice See `is_confirmed`."""
    return self.is_confirmed(block_number, final_root)


@view
@external
def lastConfirmedBlock() -> uint256:
    """@notice Highest confirmed block (every block up to it is confirmed)."""
    return self._last_of(self._head)


@view
@external
def provenRoot(block_number: uint256) -> bytes32:
    """@notice The proved final root this chain recorded for `block_number` (zero if none)."""
    return self.proven_roots[block_number]


@view
@external
def signingMessage(block_number: uint256, final_root: bytes32) -> bytes32:
    """@notice The 32-byte message the group signs for this block at the current epoch."""
    return self._signing_message(self._epoch_of(self._head), block_number, final_root)


# ---------------------------------------------------------------- key and epoch

@view
@external
def epoch() -> uint256:
    """@notice Current key epoch (starts at 1, bumped by each group-key replacement)."""
    return self._epoch_of(self._head)


@view
@external
def groupKey() -> Bytes[256]:
    """@notice Current group key, EIP-2537 G2 encoding."""
    return self._key_of(self._head)


@view
@external
def groupKeyCompressed() -> Bytes[96]:
    """@notice Current group key, 96-byte compressed."""
    return bls.compress_g2(self._key_of(self._head))


@view
@external
def networkId() -> uint256:
    """@notice Network id bound into every signed message."""
    return NETWORK_ID


@external
def handoverGroupKey(new_key_blob: address, signature: Bytes[128]) -> uint256:
    """
    @notice Replace the group key with the one in `new_key_blob`, authorised by the current
            group key's signature over `handoverMessage`. Anyone may submit it.
    @return the new epoch
    """
    head: uint256 = self._head
    key: Bytes[256] = self._load_key_blob(new_key_blob)
    if self.used_keys[keccak256(key)]:
        self._fail("HandoverReplayed")
    message: bytes32 = self._handover_message(self._epoch_of(head), bls.compress_g2(key))
    outcome: uint256 = bls.check(message, signature, self._key_of(head))
    if outcome != bls.VALID:
        self._reject_signature(outcome)
    return self._install_key(new_key_blob, key, head)


@external
def scheduleGroupKeyReplacement(new_key_blob: address) -> uint256:
    """
    @notice Emergency path (governor): schedule a key replacement executable after the delay.
    @return the earliest execution timestamp
    """
    self._only_governor()
    key: Bytes[256] = self._load_key_blob(new_key_blob)
    if self.used_keys[keccak256(key)]:
        self._fail("HandoverReplayed")
    eta: uint256 = block.timestamp + EMERGENCY_DELAY
    self.replacement_blob = new_key_blob
    self.replacement_eta = eta
    log GroupKeyReplacementScheduled(epoch=self._epoch_of(self._head) + 1,
                                     group_key=bls.compress_g2(key), eta=eta)
    return eta


@external
def executeGroupKeyReplacement() -> uint256:
    """@notice Emergency path (governor): install the scheduled key once its delay passed."""
    self._only_governor()
    blob: address = self.replacement_blob
    if blob == empty(address):
        self._fail("NoReplacementScheduled")
    if block.timestamp < self.replacement_eta:
        self._fail("ReplacementDelayNotPassed")
    return self._install_key(blob, slice(blob.code, 0, 256), self._head)


@external
def cancelGroupKeyReplacement():
    """@notice Emergency path (governor): drop the scheduled replacement."""
    self._only_governor()
    if self.replacement_blob == empty(address):
        self._fail("NoReplacementScheduled")
    self.replacement_blob = empty(address)
    self.replacement_eta = 0
    log GroupKeyReplacementCancelled(epoch=self._epoch_of(self._head) + 1)


@view
@external
def pendingReplacement() -> (address, uint256):
    """@notice (key blob, earliest execution time) of the scheduled emergency replacement."""
    return self.replacement_blob, self.replacement_eta


# ---------------------------------------------------------------- governance

@view
@external
def emergencyDelay() -> uint256:
    """@notice Seconds between scheduling and executing an emergency key replacement."""
    return EMERGENCY_DELAY


@view
@external
def governance() -> address:
    """@notice The governor (an account, a multisig or a timelock)."""
    return self.governor


@view
@external
def paused() -> bool:
    """@notice True while confirmations are paused."""
    return self._head & _PAUSED_BIT != 0


@external
def pause():
    """@notice Governor: stop accepting confirmations."""
    self._only_governor()
    self._head = self._head | _PAUSED_BIT
    log ConfirmationsPaused()


@external
def unpause():
    """@notice Governor: accept confirmations again."""
    self._only_governor()
    self._head = self._head & (_PAUSED_BIT - 1)
    log ConfirmationsUnpaused()


@external
def transferGovernance(new_governor: address):
    """@notice Governor: hand governance to another address."""
    self._only_governor()
    if new_governor == empty(address):
        self._fail("ZeroGovernor")
    log GovernorChanged(previous=self.governor, governor=new_governor)
    self.governor = new_governor
