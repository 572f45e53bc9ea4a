# pragma version ~=0.4.3
"""
@title Test harness: the oracle gate module alone, with the main contract's hooks exposed
@notice Test-only. The real main contract calls these internals from proveBlocks/revertBlocks.
"""

from gate import oracle_gate
from gate import bls

initializes: oracle_gate
exports: oracle_gate.__interface__


@deploy
def __init__(governor: address, network_id: uint256, group_key_blob: address,
             emergency_delay: uint256):
    oracle_gate.__init__(governor, network_id, group_key_blob, emergency_delay)


@external
def recordProvenRoot(block_number: uint256, final_root: bytes32):
    oracle_gate.record_proven_root(block_number, final_root)


@external
def forgetBlocks(from_block: uint256, to_block: uint256):
    oracle_gate.forget_blocks(from_block, to_block)


@external
@view
def blsCheck(message: bytes32, signature: Bytes[128], public_key: Bytes[256]) -> uint256:
    return bls.check(message, signature, public_key)


@external
@view
def hashToG1(message: bytes32) -> Bytes[128]:
    return bls.hash_to_g1(message)


@external
@pure
def compressG2(public_key: Bytes[256]) -> Bytes[96]:
    return bls.compress_g2(public_key)


@external
@view
def handoverMessage(new_key: Bytes[256]) -> bytes32:
    return oracle_gate._handover_message(oracle_gate._epoch_of(oracle_gate._head),
                                         bls.compress_g2(new_key))
