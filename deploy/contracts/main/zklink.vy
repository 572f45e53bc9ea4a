# pragma version ~=0.4.3
# @license GPL-3.0-or-later
"""
@title zkLink-style main contract (one deployment per connected chain)
@notice Commit -> prove -> (oracle confirmation) -> execute, exactly per docs/protocol.md.
        Template parameters: BLOCK_CAPACITY (k ops per block), N_PUBLIC_INPUTS (3 + 2k),
        MAX_CHAINS (the number of connected chains, fixed at deployment: it bounds the
        ops-hash arrays, whose memory dominates commit gas if oversized; the ABI type is
        bytes32[] whatever the bound) and ACCOUNT_TREE_DEPTH (account ids are below
        2**depth; full exits of other ids are refused).
        The oracle gate (deploy/contracts/gate/oracle_gate.vy) is compiled in: it accepts the
        oracle network's BLS confirmations and holds the one governor of the contract.
        Each committed block is kept as the hash of its StoredBlock record; callers pass the
        record back (deploy/bindings.py builds it) and the contract checks it against the hash.
"""

from ethereum.ercs import IERC20
import guard
import priority_queue
from gate import oracle_gate

initializes: priority_queue
initializes: oracle_gate

exports: (
    priority_queue.depositETH,
    priority_queue.depositERC20,
    priority_queue.requestFullExit,
    priority_queue.activateExodusMode,
    priority_queue.token_addresses,
    priority_queue.expiry_period,
    priority_queue.total_requests,
    priority_queue.first_open_request,
    priority_queue.next_commit_serial,
    priority_queue.exodus_mode,
    oracle_gate.__interface__,
)

BLOCK_CAPACITY: constant(uint256) = {{BLOCK_CAPACITY}}
N_PUBLIC_INPUTS: constant(uint256) = {{N_PUBLIC_INPUTS}}
PUBDATA_BYTES: constant(uint256) = BLOCK_CAPACITY * 62
MAX_CHAINS: constant(uint256) = {{MAX_CHAINS}}
MAX_ACCOUNTS: constant(uint256) = 2**{{ACCOUNT_TREE_DEPTH}}
MAX_BATCH: constant(uint256) = 8
MAX_REVERT: constant(uint256) = 32
ETH_TOKEN_ID: constant(uint16) = 1
U128_MASK: constant(uint256) = 2**128 - 1
U64_MASK: constant(uint256) = 2**64 - 1
BN254_R: constant(uint256) = 21888242871839275222246405745257275088548364400416034343698204186575808495617
VERIFY_SELECTOR: constant(bytes4) = method_id("verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[{{N_PUBLIC_INPUTS}}])", output_type=bytes4)

struct StoredBlock:
    block_number: uint256
    priority_ops: uint64
    pubdata_hash: bytes32
    old_state_root: bytes32
    new_state_root: bytes32
    commitment: bytes32
    sync_hash: bytes32

struct CommitBlock:
    block_number: uint256
    new_state_root: bytes32
    pubdata: Bytes[PUBDATA_BYTES]
    ops_hashes: DynArray[bytes32, MAX_CHAINS]

struct ProveBlock:
    stored: StoredBlock
    pubdata: Bytes[PUBDATA_BYTES]
    proof: uint256[8]

struct ExecuteBlock:
    stored: StoredBlock
    pubdata: Bytes[PUBDATA_BYTES]

event BlockCommitted:
    block_number: indexed(uint256)
    commitment: bytes32
    sync_hash: bytes32
    new_state_root: bytes32
    pubdata: Bytes[PUBDATA_BYTES]
    ops_hashes: DynArray[bytes32, MAX_CHAINS]

event BlockProven:
    block_number: indexed(uint256)
    final_root: bytes32
    new_state_root: bytes32

event BlockExecuted:
    block_number: indexed(uint256)

event BlocksReverted:
    from_block: uint256
    to_block: uint256

event PendingBalanceWithdrawn:
    owner: indexed(address)
    token: uint16
    amount: uint128

event ValidatorSet:
    validator: indexed(address)
    active: bool

event TokenRegistered:
    token: uint16
    token_address: address

network_id: public(immutable(uint256))
rollup_chain_id: public(immutable(uint8))
verifier: public(immutable(address))
chain_ids: public(DynArray[uint8, MAX_CHAINS])
own_chain_index: public(uint256)
validators: public(HashMap[address, bool])

total_blocks_committed: public(uint256)
total_blocks_proven: public(uint256)
total_blocks_executed: public(uint256)
stored_block_hashes: public(HashMap[uint256, bytes32])
pending_balances: public(HashMap[address, HashMap[uint16, uint256]])


@deploy
def __init__(network_id_: uint256, rollup_chain_id_: uint8, chain_ids_: DynArray[uint8, MAX_CHAINS],
             genesis_state_root: bytes32, verifier_: address, validator: address,
             governor_: address, test_token: address, expiry_period: uint256,
             group_key_blob: address, emergency_delay: uint256):
    """
    @param group_key_blob a key blob contract holding the oracle group key (EIP-2537 G2,
           deploy/gate_tools.py `key_blob_initcode`); `governor_` governs both the rollup
           roles and the gate (one governor: `transferGovernance` moves both).
    """
    guard.check(verifier_.is_contract, "VerifierNotContract")
    found: bool = False
    for i: uint256 in range(len(chain_ids_), bound=MAX_CHAINS):
        guard.check(chain_ids_[i] != 0, "BadChainIds")
        if i > 0:
            guard.check(chain_ids_[i] > chain_ids_[i - 1], "BadChainIds")
        if chain_ids_[i] == rollup_chain_id_:
            self.own_chain_index = i
            found = True
    guard.check(found, "BadChainIds")
    priority_queue.__init__(expiry_period, test_token, MAX_ACCOUNTS)
    oracle_gate.__init__(governor_, network_id_, group_key_blob, emergency_delay)
    network_id = network_id_
    rollup_chain_id = rollup_chain_id_
    verifier = verifier_
    self.chain_ids = chain_ids_
    self.validators[validator] = True
    genesis: StoredBlock = empty(StoredBlock)
    genesis.new_state_root = genesis_state_root
    self.stored_block_hashes[0] = keccak256(abi_encode(genesis))


# ---- oracle gate hooks (docs/contracts.md) ----

@internal
@view
def _oracle_allows_execution(block_number: uint256, final_root: bytes32) -> bool:
    """
    @notice True once the oracle network confirmed `final_root` for `block_number`.
    """
    return oracle_gate.is_confirmed(block_number, final_root)


@internal
def _on_block_proven(block_number: uint256, final_root: bytes32):
    oracle_gate.record_proven_root(block_number, final_root)


@internal
def _on_blocks_reverted(from_block: uint256, to_block: uint256):
    oracle_gate.forget_blocks(from_block, to_block)


# ---- roles ----

@view
@external
def governor() -> address:
    """
    @notice The governor of roles, tokens and the gate (same as `governance()`).
    """
    return oracle_gate.governor


@external
def setValidator(validator: address, active: bool):
    guard.check(msg.sender == oracle_gate.governor, "NotGovernor")
    self.validators[validator] = active
    log ValidatorSet(validator=validator, active=active)


@external
def registerToken(token: uint16, token_address: address):
    guard.check(msg.sender == oracle_gate.governor, "NotGovernor")
    guard.check(token > ETH_TOKEN_ID and token_address.is_contract, "UnknownToken")
    guard.check(priority_queue.token_addresses[token] == empty(address), "TokenAlreadyRegistered")
    priority_queue.token_addresses[token] = token_address
    log TokenRegistered(token=token, token_address=token_address)


# ---- commit ----

@internal
@pure
def _address_at(word: uint256) -> address:
    # `word` holds op bytes 12..43: the address is op bytes 24..43, its low 20 bytes
    return convert(convert(word & (2**160 - 1), uint160), address)


@internal
@view
def _hash_stored(b: StoredBlock) -> bytes32:
    return keccak256(abi_encode(b))


@internal
def _own_ops_hash(pubdata: Bytes[PUBDATA_BYTES]) -> (bytes32, uint64):
    """
    @notice This chain's opsHash and the number of its priority ops, checking each priority op
            against the queue in order.
    """
    own_chain: uint256 = convert(rollup_chain_id, uint256)
    h: bytes32 = keccak256(b"")
    serial: uint64 = priority_queue.next_commit_serial
    first_serial: uint64 = serial
    for i: uint256 in range(BLOCK_CAPACITY):
        offset: uint256 = i * 62
        head: uint256 = extract32(pubdata, offset, output_type=uint256)
        op_type: uint256 = head >> 248
        guard.check(op_type <= 4, "UnknownOpType")
        if op_type == 0 or op_type == 2 or (head >> 240) & 255 != own_chain:
            continue
        h = keccak256(concat(h, slice(pubdata, offset, 62)))
        if op_type == 3:
            continue
        owner: address = self._address_at(extract32(pubdata, offset + 12, output_type=uint256))
        token: uint256 = (head >> 192) & 65535
        op_serial: uint256 = extract32(pubdata, offset + 20, output_type=uint256) & U64_MASK
        guard.check(op_serial == convert(serial, uint256), "PriorityOpMismatch")
        expected: uint256 = 0
        if op_type == 1:
            amount: uint256 = (head >> 64) & U128_MASK
            expected = priority_queue.request_hash(1, 0, token, amount, owner)
        else:
            account: uint256 = (head >> 208) & 4294967295
            expected = priority_queue.request_hash(4, account, token, 0, owner)
        guard.check(priority_queue.matches(serial, expected), "PriorityOpMismatch")
        serial += 1
    priority_queue.next_commit_serial = serial
    return h, serial - first_serial


@internal
def _commit_one(prev: StoredBlock, blk: CommitBlock) -> StoredBlock:
    guard.check(len(blk.pubdata) == PUBDATA_BYTES, "WrongPubdataLength")
    guard.check(convert(blk.new_state_root, uint256) < BN254_R, "StateRootNotInField")
    guard.check(len(blk.ops_hashes) == len(self.chain_ids), "WrongOpsHashesLength")
    own_hash: bytes32 = empty(bytes32)
    n_priority: uint64 = 0
    own_hash, n_priority = self._own_ops_hash(blk.pubdata)
    guard.check(blk.ops_hashes[self.own_chain_index] == own_hash, "OwnOpsHashMismatch")
    pubdata_hash: bytes32 = keccak256(blk.pubdata)
    commitment: bytes32 = keccak256(concat(convert(blk.block_number, bytes32),
                                           prev.new_state_root, blk.new_state_root, pubdata_hash))
    hashes: Bytes[32 * MAX_CHAINS + 32] = abi_encode(blk.ops_hashes, ensure_tuple=False)
    sync_hash: bytes32 = keccak256(concat(prev.sync_hash, commitment,
                                          slice(hashes, 32, 32 * len(blk.ops_hashes))))
    stored: StoredBlock = StoredBlock(
        block_number=blk.block_number, priority_ops=n_priority, pubdata_hash=pubdata_hash,
        old_state_root=prev.new_state_root, new_state_root=blk.new_state_root,
        commitment=commitment, sync_hash=sync_hash)
    self.stored_block_hashes[blk.block_number] = self._hash_stored(stored)
    log BlockCommitted(block_number=blk.block_number, commitment=commitment, sync_hash=sync_hash,
                       new_state_root=blk.new_state_root, pubdata=blk.pubdata,
                       ops_hashes=blk.ops_hashes)
    return stored


@external
def commitBlocks(last_block: StoredBlock, blocks: DynArray[CommitBlock, MAX_BATCH]):
    """
    @notice Commit consecutive blocks after `last_block` (the latest committed record).
    """
    guard.check(self.validators[msg.sender], "NotValidator")
    guard.check(not priority_queue.exodus_mode, "ExodusActive")
    guard.check(len(blocks) > 0, "EmptyBatch")
    committed: uint256 = self.total_blocks_committed
    guard.check(blocks[0].block_number > committed, "ReplayedCommit")
    guard.check(last_block.block_number == committed, "WrongLastBlock")
    guard.check(self._hash_stored(last_block) == self.stored_block_hashes[committed], "WrongLastBlock")
    prev: StoredBlock = last_block
    for blk: CommitBlock in blocks:
        guard.check(blk.block_number == prev.block_number + 1, "WrongBlockOrder")
        prev = self._commit_one(prev, blk)
    self.total_blocks_committed = prev.block_number


# ---- prove ----

@internal
@view
def _verify(proof: uint256[8], inputs: uint256[N_PUBLIC_INPUTS]) -> bool:
    # The generated verifier reverts on malformed points; both outcomes mean "wrong proof".
    a: uint256[2] = [proof[0], proof[1]]
    b: uint256[2][2] = [[proof[2], proof[3]], [proof[4], proof[5]]]
    c: uint256[2] = [proof[6], proof[7]]
    ok: bool = False
    result: Bytes[32] = b""
    ok, result = raw_call(
        verifier, abi_encode(a, b, c, inputs, method_id=VERIFY_SELECTOR),
        max_outsize=32, is_static_call=True, revert_on_failure=False)
    return ok and len(result) == 32 and extract32(result, 0, output_type=uint256) == 1


@external
def proveBlocks(blocks: DynArray[ProveBlock, MAX_BATCH]):
    """
    @notice Verify each block's Groth16 proof against public inputs rebuilt from calldata.
    """
    for pb: ProveBlock in blocks:
        n: uint256 = pb.stored.block_number
        guard.check(n > self.total_blocks_proven, "AlreadyProven")
        guard.check(n == self.total_blocks_proven + 1, "WrongBlockOrder")
        guard.check(n <= self.total_blocks_committed, "BlockNotCommitted")
        guard.check(self._hash_stored(pb.stored) == self.stored_block_hashes[n], "StoredBlockMismatch")
        guard.check(keccak256(pb.pubdata) == pb.stored.pubdata_hash, "PubdataMismatch")
        inputs: uint256[N_PUBLIC_INPUTS] = empty(uint256[N_PUBLIC_INPUTS])
        inputs[0] = convert(pb.stored.old_state_root, uint256)
        inputs[1] = convert(pb.stored.new_state_root, uint256)
        inputs[2] = n
        for i: uint256 in range(BLOCK_CAPACITY):
            inputs[3 + 2 * i] = extract32(pb.pubdata, i * 62, output_type=uint256) >> 8
            inputs[4 + 2 * i] = extract32(pb.pubdata, i * 62 + 30, output_type=uint256) & (2**248 - 1)
        guard.check(self._verify(pb.proof, inputs), "WrongProof")
        self.total_blocks_proven = n
        self._on_block_proven(n, pb.stored.sync_hash)
        log BlockProven(block_number=n, final_root=pb.stored.sync_hash,
                        new_state_root=pb.stored.new_state_root)


# ---- execute ----

@external
def executeBlocks(blocks: DynArray[ExecuteBlock, MAX_BATCH]):
    """
    @notice Execute proven, oracle-confirmed blocks in order: credit this chain's withdrawals
            and full exits to pending balances and retire the block's priority requests.
    """
    guard.check(not priority_queue.exodus_mode, "ExodusActive")
    own_chain: uint256 = convert(rollup_chain_id, uint256)
    for eb: ExecuteBlock in blocks:
        n: uint256 = eb.stored.block_number
        guard.check(n == self.total_blocks_executed + 1, "WrongBlockOrder")
        guard.check(n <= self.total_blocks_proven, "BlockNotProven")
        guard.check(self._hash_stored(eb.stored) == self.stored_block_hashes[n], "StoredBlockMismatch")
        guard.check(keccak256(eb.pubdata) == eb.stored.pubdata_hash, "PubdataMismatch")
        guard.check(self._oracle_allows_execution(n, eb.stored.sync_hash), "NotConfirmed")
        for i: uint256 in range(BLOCK_CAPACITY):
            offset: uint256 = i * 62
            head: uint256 = extract32(eb.pubdata, offset, output_type=uint256)
            op_type: uint256 = head >> 248
            if (op_type == 3 or op_type == 4) and (head >> 240) & 255 == own_chain:
                to: address = self._address_at(
                    extract32(eb.pubdata, offset + 12, output_type=uint256))
                token: uint16 = convert((head >> 192) & 65535, uint16)
                self.pending_balances[to][token] += (head >> 64) & U128_MASK
        priority_queue.consume(eb.stored.priority_ops)
        self.total_blocks_executed = n
        log BlockExecuted(block_number=n)


@external
@nonreentrant
def withdrawPendingBalance(token: uint16, amount: uint128):
    """
    @notice Pay `amount` of `token` from the caller's pending balance to the caller.
    """
    balance: uint256 = self.pending_balances[msg.sender][token]
    guard.check(amount > 0, "ZeroAmount")
    guard.check(convert(amount, uint256) <= balance, "InsufficientPendingBalance")
    self.pending_balances[msg.sender][token] = balance - convert(amount, uint256)
    if token == ETH_TOKEN_ID:
        raw_call(msg.sender, b"", value=convert(amount, uint256))
    else:
        token_address: address = priority_queue.token_addresses[token]
        guard.check(token_address != empty(address), "UnknownToken")
        guard.check(extcall IERC20(token_address).transfer(msg.sender, convert(amount, uint256),
                                                      default_return_value=True), "TransferFailed")
    log PendingBalanceWithdrawn(owner=msg.sender, token=token, amount=amount)


# ---- revert ----

@external
def revertBlocks(blocks: DynArray[StoredBlock, MAX_REVERT]):
    """
    @notice Revert committed, unexecuted blocks; `blocks` runs from the latest committed
            block downwards.
    """
    guard.check(self.validators[msg.sender], "NotValidator")
    guard.check(len(blocks) > 0, "EmptyBatch")
    top: uint256 = self.total_blocks_committed
    n: uint256 = top
    priority_ops: uint64 = 0
    for b: StoredBlock in blocks:
        guard.check(b.block_number == n and n > 0, "WrongBlockOrder")
        guard.check(n > self.total_blocks_executed, "BlockAlreadyExecuted")
        guard.check(self._hash_stored(b) == self.stored_block_hashes[n], "StoredBlockMismatch")
        self.stored_block_hashes[n] = empty(bytes32)
        priority_ops += b.priority_ops
        n -= 1
    self.total_blocks_committed = n
    priority_queue.next_commit_serial -= priority_ops
    if self.total_blocks_proven > n:
        self.total_blocks_proven = n
    self._on_blocks_reverted(n + 1, top)
    log BlocksReverted(from_block=n + 1, to_block=top)
