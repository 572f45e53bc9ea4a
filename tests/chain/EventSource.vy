# pragma version ~=0.4.3
"""
@title Test stand-in for the main contract's watched events (docs/protocol.md section 5)
@notice Emits the same event signatures as the main contract and accepts confirmFinalRoot
        once per block number (a duplicate reverts, as on the real contract).
"""

event DepositQueued:
    serial_id: indexed(uint64)
    owner: indexed(address)
    token: uint16
    amount: uint128
    expiry_block: uint256

event FullExitQueued:
    serial_id: indexed(uint64)
    owner: indexed(address)
    account_id: uint32
    token: uint16
    expiry_block: uint256

event BlockCommitted:
    block_number: indexed(uint256)
    commitment: bytes32
    sync_hash: bytes32
    new_state_root: bytes32
    pubdata: Bytes[4096]
    ops_hashes: DynArray[bytes32, 255]

event BlockProven:
    block_number: indexed(uint256)
    final_root: bytes32
    new_state_root: bytes32

event FinalRootConfirmed:
    block_number: indexed(uint256)
    final_root: bytes32
    epoch: uint256
    submitter: indexed(address)

confirmed: public(HashMap[uint256, bytes32])
confirm_count: public(HashMap[uint256, uint256])


@external
def deposit(serial_id: uint64, token: uint16, amount: uint128):
    log DepositQueued(serial_id=serial_id, owner=msg.sender, token=token, amount=amount,
                      expiry_block=block.number + 100)


@external
def fullExit(serial_id: uint64, account_id: uint32, token: uint16):
    log FullExitQueued(serial_id=serial_id, owner=msg.sender, account_id=account_id,
                       token=token, expiry_block=block.number + 100)


@external
def commit(block_number: uint256, commitment: bytes32, sync_hash: bytes32,
           new_state_root: bytes32, pubdata: Bytes[4096], ops_hashes: DynArray[bytes32, 255]):
    log BlockCommitted(block_number=block_number, commitment=commitment, sync_hash=sync_hash,
                       new_state_root=new_state_root, pubdata=pubdata, ops_hashes=ops_hashes)


@external
def prove(block_number: uint256, final_root: bytes32, new_state_root: bytes32):
    log BlockProven(block_number=block_number, final_root=final_root,
                    new_state_root=new_state_root)


@external
def confirmFinalRoot(block_number: uint256, final_root: bytes32):
    assert self.confirmed[block_number] == empty(bytes32), "already confirmed"
    self.confirmed[block_number] = final_root
    self.confirm_count[block_number] += 1
    log FinalRootConfirmed(block_number=block_number, final_root=final_root, epoch=1,
                           submitter=msg.sender)
