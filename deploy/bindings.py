"""Typed Python bindings of the main contract (``deploy/contracts/main/zklink.vy``, with the
oracle gate ``deploy/contracts/gate/oracle_gate.vy`` compiled in) and of the governance
chain's ``signer_sets.vy`` events.

Encoders build calldata for every call the sequencer, the node and the tooling make;
:func:`decode_log` turns a raw JSON-RPC log into a frozen event value (the events live in
``deploy._events`` and are re-exported here: import them from this module). The ABI they
assume is pinned by the golden files in ``tests/golden/abi/`` (a test compares them with
the compiled contract). Block records follow docs/protocol.md §4: the contract keeps only
``keccak(abi.encode(StoredBlock))`` per block and callers pass the record back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from deploy._events import (
    EVENT_SIGNATURES,
    EVENT_TOPICS,
    BlockCommitted,
    BlockExecuted,
    BlockProven,
    BlocksReverted,
    ConfirmationsPaused,
    ConfirmationsUnpaused,
    DepositQueued,
    ExodusMode,
    FinalRootConfirmed,
    FullExitQueued,
    GovernorChanged,
    GroupKeyReplaced,
    GroupKeyReplacementCancelled,
    GroupKeyReplacementScheduled,
    MainEvent,
    PendingBalanceWithdrawn,
    SignerSetProposed,
    TokenRegistered,
    ValidatorSet,
    decode_log,
)
from deploy.errors import BindingError

__all__ = [
    "COMMIT_BLOCK_ABI", "CONFIRM_FINAL_ROOT_SIGNATURE", "EVENT_SIGNATURES", "EVENT_TOPICS",
    "EXECUTE_BLOCK_ABI", "IS_CONFIRMED_SIGNATURE", "OP_BYTES", "PROVE_BLOCK_ABI",
    "REVERT_REASONS", "STORED_BLOCK_ABI",
    "BlockCommitted", "BlockExecuted", "BlockProven", "BlocksReverted", "CommitBlock",
    "ConfirmationsPaused", "ConfirmationsUnpaused", "DepositQueued", "ExodusMode",
    "FinalRootConfirmed", "FullExitQueued", "GovernorChanged", "GroupKeyReplaced",
    "GroupKeyReplacementCancelled", "GroupKeyReplacementScheduled", "MainEvent",
    "PendingBalanceWithdrawn", "SignerSetProposed", "StoredBlock", "TokenRegistered",
    "ValidatorSet", "count_priority_ops", "decode_log", "decode_revert_reason",
    "encode_activate_exodus_mode", "encode_call", "encode_commit_blocks",
    "encode_confirm_final_root", "encode_deposit_erc20", "encode_deposit_eth",
    "encode_execute_blocks", "encode_is_confirmed", "encode_prove_blocks",
    "encode_request_full_exit", "encode_revert_blocks", "encode_withdraw_pending_balance",
    "record_from_event", "selector", "split_proof", "stored_block_after",
]

OP_BYTES = 62
STORED_BLOCK_ABI = "(uint256,uint64,bytes32,bytes32,bytes32,bytes32,bytes32)"
COMMIT_BLOCK_ABI = "(uint256,bytes32,bytes,bytes32[])"
PROVE_BLOCK_ABI = f"({STORED_BLOCK_ABI},bytes,uint256[8])"
EXECUTE_BLOCK_ABI = f"({STORED_BLOCK_ABI},bytes)"

REVERT_REASONS: Mapping[str, str] = {
    "NotValidator": "caller is not an authorised validator",
    "NotGovernor": "caller is not the governor",
    "ExodusActive": "the contract is in exodus mode",
    "EmptyBatch": "no block given",
    "ReplayedCommit": "the block is already committed",
    "WrongLastBlock": "the given last block is not the latest committed record",
    "WrongBlockOrder": "blocks are not consecutive after the last committed/proven/executed",
    "WrongPubdataLength": "pubdata is not 62 * BLOCK_CAPACITY bytes",
    "StateRootNotInField": "the new state root is not a BN254 field element (unprovable)",
    "WrongOpsHashesLength": "ops_hashes does not have one entry per connected chain",
    "UnknownOpType": "an op type code above 4",
    "PriorityOpMismatch": "this chain's priority ops do not match its queue in order",
    "OwnOpsHashMismatch": "the supplied opsHash for this chain differs from the computed one",
    "AlreadyProven": "the block is already proven",
    "BlockNotCommitted": "the block is not committed",
    "StoredBlockMismatch": "the block record does not match the stored hash",
    "PubdataMismatch": "pubdata does not match the committed pubdata hash",
    "WrongProof": "the Groth16 verifier rejected the proof",
    "BlockNotProven": "the block is not proven",
    "NotConfirmed": "the oracle network has not confirmed the block's final_root",
    "BlockAlreadyExecuted": "an executed block cannot be reverted",
    "ZeroAmount": "a deposit or withdrawal of zero",
    "AmountTooLarge": "an amount above u128",
    "ZeroOwner": "a deposit to the zero address",
    "UnknownToken": "the token id is not registered",
    "TokenAlreadyRegistered": "the token id already has an address",
    "ReservedAccount": "account 0 is reserved",
    "TransferFailed": "the token transfer failed",
    "InsufficientPendingBalance": "withdrawal above the pending balance",
    "NoOpenRequest": "no open priority request",
    "RequestNotExpired": "the oldest open priority request has not expired",
    "VerifierNotContract": "deploy: the verifier address has no code",
    "ZeroGovernor": "deploy: the governor is the zero address",
    "BadChainIds": "deploy: chain ids not ascending/nonzero or missing this chain",
    "BadExpiryPeriod": "deploy: the expiry period is 0 or too large",
    "AccountIdTooLarge": "a full exit of an account id outside the rollup's account tree",
    # the oracle gate (docs/gate.md)
    "ConfirmationsPaused": "governance paused confirmations",
    "RootMismatch": "the signed final_root differs from the root this chain proved",
    "MalformedSignature": "the signature is not a valid EIP-2537 G1 point of the subgroup",
    "InvalidSignature": "the group key (current epoch) did not sign this message",
    "HandoverReplayed": "the new group key was installed before",
    "MalformedGroupKey": "the key blob is not a valid 256-byte EIP-2537 G2 point",
    "NoReplacementScheduled": "no emergency key replacement is scheduled",
    "ReplacementDelayNotPassed": "the emergency delay has not passed",
    "BlockAlreadyConfirmed": "proving a block at or below the last confirmed block",
    "EmptyRoot": "a zero final_root",
    "BlockNumberTooLarge": "a block number above 2**63 - 1",
    "BadRange": "reverting an empty block range",
    "Eip2537SelfTestFailed": "deploy: the chain's hash-to-curve precompiles gave a wrong answer",
    "BlsPrecompileFailed": "an EIP-2537 precompile is missing or failed",
    # signer_sets.vy (governance chain)
    "MalformedSignerSet": "signer set arrays of different lengths or wrong element sizes",
    "BadThreshold": "threshold outside 1..n",
    "ActivationInPast": "the activation block is not in the future",
    "GateNotContract": "deploy: the gate address has no code",
}
"""Every revert reason string of the main contract (gate included), of ``signer_sets.vy``
and what it means."""


def selector(signature: str) -> bytes:
    """The 4-byte function selector of ``signature``, e.g. ``"epoch()"``."""
    return bytes(keccak(signature.encode())[:4])


def _b32(name: str, value: bytes) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != 32:
        raise BindingError(f"{name} must be 32 bytes, got {value!r}")
    return bytes(value)


@dataclass(frozen=True)
class StoredBlock:
    """The per-block record whose hash the contract stores (``StoredBlock`` in zklink.vy)."""

    block_number: int
    priority_ops: int
    pubdata_hash: bytes
    old_state_root: bytes
    new_state_root: bytes
    commitment: bytes
    sync_hash: bytes

    @classmethod
    def genesis(cls, genesis_state_root: bytes) -> StoredBlock:
        """The record of block 0 the constructor stores."""
        zero = bytes(32)
        return cls(0, 0, zero, zero, _b32("genesis_state_root", genesis_state_root), zero, zero)

    def as_abi(self) -> tuple[Any, ...]:
        """The record as an ABI tuple value."""
        return (self.block_number, self.priority_ops, self.pubdata_hash, self.old_state_root,
                self.new_state_root, self.commitment, self.sync_hash)

    def record_hash(self) -> bytes:
        """``keccak(abi.encode(record))``, the value in ``stored_block_hashes``."""
        return keccak(abi_encode([STORED_BLOCK_ABI], [self.as_abi()]))

    @property
    def final_root(self) -> bytes:
        """``final_root_N = syncHash_N``."""
        return self.sync_hash


@dataclass(frozen=True)
class CommitBlock:
    """One block of a ``commitBlocks`` call (ops hashes of every chain, ascending chain id)."""

    block_number: int
    new_state_root: bytes
    pubdata: bytes
    ops_hashes: tuple[bytes, ...]

    def as_abi(self) -> tuple[Any, ...]:
        """The block as an ABI tuple value."""
        return (self.block_number, _b32("new_state_root", self.new_state_root), self.pubdata,
                [_b32("ops hash", h) for h in self.ops_hashes])


def count_priority_ops(pubdata: bytes, rollup_chain_id: int) -> int:
    """Deposit and FullExit ops of ``rollup_chain_id`` in ``pubdata`` (the record's count)."""
    if len(pubdata) % OP_BYTES:
        raise BindingError(f"pubdata length {len(pubdata)} is not a multiple of {OP_BYTES}")
    return sum(1 for i in range(0, len(pubdata), OP_BYTES)
               if pubdata[i] in (1, 4) and pubdata[i + 1] == rollup_chain_id)


def stored_block_after(prev: StoredBlock, block: CommitBlock, rollup_chain_id: int) -> StoredBlock:
    """The record chain ``rollup_chain_id`` stores when it commits ``block`` after ``prev``."""
    pubdata_hash = keccak(block.pubdata)
    commitment = keccak(abi_encode(["uint256", "bytes32", "bytes32", "bytes32"],
                                   [block.block_number, prev.new_state_root,
                                    block.new_state_root, pubdata_hash]))
    sync = keccak(prev.sync_hash + commitment + b"".join(block.ops_hashes))
    return StoredBlock(block.block_number, count_priority_ops(block.pubdata, rollup_chain_id),
                       pubdata_hash, prev.new_state_root, block.new_state_root, commitment, sync)


def record_from_event(prev: StoredBlock, event: BlockCommitted, rollup_chain_id: int
                      ) -> StoredBlock:
    """The record chain ``rollup_chain_id`` stored for a ``BlockCommitted`` event after ``prev``
    (what ``proveBlocks``/``executeBlocks``/``revertBlocks`` need); raise BindingError if the
    event's commitment or sync hash does not follow from ``prev`` and its own fields."""
    block = CommitBlock(event.block_number, event.new_state_root, event.pubdata,
                        event.ops_hashes)
    stored = stored_block_after(prev, block, rollup_chain_id)
    if (stored.commitment, stored.sync_hash) != (event.commitment, event.sync_hash):
        raise BindingError(f"BlockCommitted {event.block_number} does not follow the given "
                           "previous record")
    return stored


def split_proof(proof: bytes) -> list[int]:
    """The 256-byte groth16py proof blob ``a ‖ b ‖ c`` as the contract's ``uint256[8]``."""
    if len(proof) != 256:
        raise BindingError(f"a proof blob is 256 bytes, got {len(proof)}")
    return [int.from_bytes(proof[i:i + 32], "big") for i in range(0, 256, 32)]


def encode_commit_blocks(last_block: StoredBlock, blocks: Sequence[CommitBlock]) -> bytes:
    """Calldata of ``commitBlocks(last_block, blocks)``."""
    types = [STORED_BLOCK_ABI, f"{COMMIT_BLOCK_ABI}[]"]
    return (selector(f"commitBlocks({','.join(types)})")
            + abi_encode(types, [last_block.as_abi(), [b.as_abi() for b in blocks]]))


def encode_prove_blocks(blocks: Sequence[tuple[StoredBlock, bytes, bytes]]) -> bytes:
    """Calldata of ``proveBlocks``; each item is (record, pubdata, 256-byte proof)."""
    types = [f"{PROVE_BLOCK_ABI}[]"]
    value = [(stored.as_abi(), pubdata, split_proof(proof)) for stored, pubdata, proof in blocks]
    return selector(f"proveBlocks({types[0]})") + abi_encode(types, [value])


def encode_execute_blocks(blocks: Sequence[tuple[StoredBlock, bytes]]) -> bytes:
    """Calldata of ``executeBlocks``; each item is (record, pubdata)."""
    types = [f"{EXECUTE_BLOCK_ABI}[]"]
    value = [(stored.as_abi(), pubdata) for stored, pubdata in blocks]
    return selector(f"executeBlocks({types[0]})") + abi_encode(types, [value])


def encode_revert_blocks(newest_first: Sequence[StoredBlock]) -> bytes:
    """Calldata of ``revertBlocks`` (records from the latest committed block downwards)."""
    types = [f"{STORED_BLOCK_ABI}[]"]
    return (selector(f"revertBlocks({types[0]})")
            + abi_encode(types, [[b.as_abi() for b in newest_first]]))


def encode_deposit_eth(owner: str) -> bytes:
    """Calldata of ``depositETH(owner)`` (send the amount as the transaction value)."""
    return selector("depositETH(address)") + abi_encode(["address"], [owner])


def encode_deposit_erc20(token: int, amount: int, owner: str) -> bytes:
    """Calldata of ``depositERC20(token, amount, owner)`` (approve the main contract first)."""
    return (selector("depositERC20(uint16,uint128,address)")
            + abi_encode(["uint16", "uint128", "address"], [token, amount, owner]))


def encode_request_full_exit(account_id: int, token: int) -> bytes:
    """Calldata of ``requestFullExit(account_id, token)``."""
    return (selector("requestFullExit(uint32,uint16)")
            + abi_encode(["uint32", "uint16"], [account_id, token]))


def encode_withdraw_pending_balance(token: int, amount: int) -> bytes:
    """Calldata of ``withdrawPendingBalance(token, amount)``."""
    return (selector("withdrawPendingBalance(uint16,uint128)")
            + abi_encode(["uint16", "uint128"], [token, amount]))


CONFIRM_FINAL_ROOT_SIGNATURE = "confirmFinalRoot(uint256,bytes32,bytes)"
"""The gate's confirmation call (the one every submitter sends)."""


def encode_confirm_final_root(block_number: int, final_root: bytes, signature: bytes) -> bytes:
    """Calldata of ``confirmFinalRoot(block_number, final_root, signature)``; ``signature`` is
    the group signature in its 128-byte EIP-2537 G1 form (``Signature.to_eip2537()``)."""
    if len(signature) != 128:
        raise BindingError(f"the confirmation signature is 128 bytes (EIP-2537 G1), "
                           f"got {len(signature)}")
    return (selector(CONFIRM_FINAL_ROOT_SIGNATURE)
            + abi_encode(["uint256", "bytes32", "bytes"],
                         [block_number, _b32("final_root", final_root), bytes(signature)]))


IS_CONFIRMED_SIGNATURE = "isConfirmed(uint256,bytes32)"
"""The gate's confirmation query (a view)."""


def encode_is_confirmed(block_number: int, final_root: bytes) -> bytes:
    """Calldata of the ``isConfirmed(block_number, final_root)`` view."""
    return (selector(IS_CONFIRMED_SIGNATURE)
            + abi_encode(["uint256", "bytes32"], [block_number, _b32("final_root", final_root)]))


def encode_activate_exodus_mode() -> bytes:
    """Calldata of ``activateExodusMode()``."""
    return selector("activateExodusMode()")


def encode_call(name: str, arg_types: Sequence[str] = (), args: Sequence[Any] = ()) -> bytes:
    """Calldata of any other function, e.g. the getter ``pending_balances(address,uint16)``
    or the governor's ``setValidator(address,bool)``."""
    return selector(f"{name}({','.join(arg_types)})") + abi_encode(list(arg_types), list(args))


def decode_revert_reason(data: bytes) -> str | None:
    """The reason string of an ``Error(string)`` revert payload, or None for anything else."""
    if len(data) < 4 or data[:4] != selector("Error(string)"):
        return None
    try:
        (reason,) = abi_decode(["string"], data[4:])
    except Exception:  # malformed revert data from a chain is not our invariant
        return None
    return str(reason)
