"""Python side of the on-chain oracle gate (``deploy/contracts/gate/``).

Encodes what the gate's calls take (EIP-2537 keys and signatures, key blobs, governance
payloads), the handover message, and a small synchronous transaction helper for tooling and
tests (over ``deploy.rpc``; the node itself never uses this module).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import encode
from eth_account import Account
from eth_utils.crypto import keccak

from consensus import bls
from deploy.bindings import encode_call
from deploy.compile import CompiledContract, compile_file
from deploy.errors import DeployError
from deploy.rpc import (
    BlockingRpc,
    GasMargin,
    JsonRpcError,
    JsonRpcRevertError,
    TransactionRevertedError,
)

HANDOVER_TAG: bytes = keccak(b"zkLink-oracle/handover/v1")
"""Domain tag of the group-key handover message."""

MAX_MEMBERS = 256
MAX_PEER_ID_BYTES = 64

# Initcode that returns the 256 bytes appended to it as the new contract's runtime code:
# PUSH2 0x0100 DUP1 PUSH1 0x0a PUSH0 CODECOPY PUSH0 RETURN
_KEY_BLOB_PREFIX = bytes.fromhex("610100" "80" "600a" "5f" "39" "5f" "f3")

CONFIRM_GAS_LIMIT = 250_000
"""Gas limit for ``confirmFinalRoot`` transactions. ``eth_estimateGas`` is unreliable for calls
that swallow precompile failures, so submitters use a fixed limit (a valid confirmation uses
~158.5k, a rejected one at most ~154k)."""

HANDOVER_GAS_LIMIT = 500_000

GAS_MARGIN = GasMargin(5, 4, 0)
"""Gas limit of an estimated transaction: ``estimate * 1.25``."""
RECEIPT_TIMEOUT = 30.0
"""Seconds :meth:`TxSender.send` waits for a receipt."""


class GateToolError(DeployError):
    """Raised when a gate payload cannot be built (bad sizes, bad keys)."""


class TransactionFailedError(DeployError):
    """Raised when a transaction reverted; ``reason`` is the contract's error name if known."""

    def __init__(self, reason: str, receipt: Any = None) -> None:
        super().__init__(f"transaction reverted: {reason}")
        self.reason = reason
        self.receipt = receipt


def key_blob_initcode(group_key_eip2537: bytes) -> bytes:
    """Initcode of a key blob: a contract whose runtime code is exactly the 256-byte key.

    The key's first byte is a zero pad byte (STOP), so the blob never executes.
    """
    if len(group_key_eip2537) != 256 or group_key_eip2537[:16] != bytes(16):
        raise GateToolError("a key blob holds one 256-byte EIP-2537 G2 point")
    return _KEY_BLOB_PREFIX + group_key_eip2537


def group_key_eip2537(compressed: bytes) -> bytes:
    """EIP-2537 form (256 B) of a 96-byte compressed group key; strict decoding."""
    try:
        return bls.PublicKey.from_bytes(compressed).to_eip2537()
    except Exception as err:  # consensus raises its EncodingError family
        raise GateToolError(f"bad group key: {err}") from err


def signature_eip2537(compressed: bytes) -> bytes:
    """EIP-2537 form (128 B) of a 48-byte compressed signature; strict decoding."""
    try:
        return bls.Signature.from_bytes(compressed).to_eip2537()
    except Exception as err:
        raise GateToolError(f"bad signature: {err}") from err


def handover_message(*, network_id: int, old_epoch: int, new_key: bytes) -> bytes:
    """The 32-byte message the current group key signs to hand over to ``new_key`` (96 B).

    ``keccak(abi.encode(bytes32 HANDOVER_TAG, uint256 network_id, uint256 old_epoch,
    bytes32 keccak(new_key_compressed)))`` — the contract recomputes it.
    """
    if len(new_key) != 96:
        raise GateToolError("new_key must be the 96-byte compressed group key")
    return bytes(keccak(encode(["bytes32", "uint256", "uint256", "bytes32"],
                               [HANDOVER_TAG, network_id, old_epoch, keccak(new_key)])))


@dataclass(frozen=True)
class SignerSetMember:
    """One member of a proposed signer set."""

    peer_id: bytes
    """libp2p peer id (binary multihash)."""
    public_key: bytes
    """96-byte compressed BLS public key (G2)."""
    pop: bytes
    """48-byte compressed proof of possession of ``public_key``."""


def propose_signer_set_args(members: Sequence[SignerSetMember], threshold: int,
                            activation_block: int) -> list[Any]:
    """Arguments of ``proposeSignerSet`` after checking the sizes the contract enforces."""
    if not 1 <= len(members) <= MAX_MEMBERS:
        raise GateToolError(f"a signer set has 1..{MAX_MEMBERS} members")
    if not 1 <= threshold <= len(members):
        raise GateToolError("threshold must be in 1..len(members)")
    for member in members:
        if not 1 <= len(member.peer_id) <= MAX_PEER_ID_BYTES:
            raise GateToolError("peer ids are 1..64 bytes")
        if len(member.public_key) != 96 or len(member.pop) != 48:
            raise GateToolError("member keys are 96 bytes and proofs of possession 48 bytes")
    return [[m.peer_id for m in members], [m.public_key for m in members],
            [m.pop for m in members], threshold, activation_block]


PROPOSE_ARG_TYPES = ("bytes[]", "bytes[]", "bytes[]", "uint256", "uint256")
PROPOSE_SIGNATURE = f"proposeSignerSet({','.join(PROPOSE_ARG_TYPES)})"


def propose_signer_set_calldata(members: Sequence[SignerSetMember], threshold: int,
                                activation_block: int) -> bytes:
    """Calldata of ``proposeSignerSet`` (for a multisig or timelock to send)."""
    args = propose_signer_set_args(members, threshold, activation_block)
    return encode_call("proposeSignerSet", PROPOSE_ARG_TYPES, args)


def gate_contract() -> CompiledContract:
    """The gate module compiled on its own (its ABI is the gate part of the main contract's)."""
    return compile_file("gate/oracle_gate.vy")


def signer_sets_contract() -> CompiledContract:
    """The signer-set proposal contract (governance chain only)."""
    return compile_file("gate/signer_sets.vy")


class TxSender:
    """Signs and sends transactions from one private key through :class:`deploy.rpc.BlockingRpc`
    (to the endpoint of a sync ``web3.Web3``, whose receipt objects it returns)."""

    def __init__(self, w3: Any, private_key: str) -> None:
        """``w3`` is a ``web3.Web3`` over an HTTP provider; ``private_key`` a 0x-prefixed hex
        key."""
        self.w3 = w3
        self.account = Account.from_key(private_key)
        self._key = private_key
        self.rpc = BlockingRpc(str(w3.provider.endpoint_uri), gas_margin=GAS_MARGIN)

    @property
    def address(self) -> str:
        """The sender's checksummed address."""
        return str(self.account.address)

    def send(self, to: str | None, data: bytes, *, gas: int | None = None, value: int = 0,
             check: bool = True) -> Any:
        """Send one transaction, wait for it and return its ``web3`` receipt.

        Without ``gas`` the limit is estimated (+25 %); a call that would revert then raises
        :class:`TransactionFailedError` before sending. With ``check`` a mined transaction that
        reverted raises it too, with the ``reason`` recovered by replaying the call.
        """
        try:
            tx_hash = self.rpc.send_transaction(self._key, to=to, data=data, value=value,
                                                gas=gas)
        except JsonRpcError as err:
            if err.method != "eth_estimateGas":
                raise
            raise TransactionFailedError(error_name(err)) from err
        try:
            self.rpc.wait_receipt(tx_hash, timeout=RECEIPT_TIMEOUT)
        except TransactionRevertedError as err:
            if check:
                raise TransactionFailedError(err.reason or "unknown",
                                             self.w3.eth.get_transaction_receipt(tx_hash)) from err
        return self.w3.eth.get_transaction_receipt(tx_hash)

    def deploy(self, initcode: bytes) -> str:
        """Deploy ``initcode`` and return the new contract's address."""
        receipt = self.send(None, initcode)
        return str(receipt["contractAddress"])


def error_name(err: BaseException) -> str:
    """The contract error name (``raise "Name"``) carried by an RPC or ``web3`` exception."""
    if isinstance(err, JsonRpcRevertError) and err.reason is not None:
        return err.reason
    if isinstance(err, JsonRpcError) and err.message:
        text = err.message
    else:
        text = str(err.args[0]) if err.args else str(err)
    prefix = "execution reverted: "
    return text.split(prefix, 1)[1] if prefix in text else text


def deploy_key_blob(sender: TxSender, group_key: bytes) -> str:
    """Deploy a key blob for ``group_key`` (96-byte compressed or 256-byte EIP-2537)."""
    key = group_key_eip2537(group_key) if len(group_key) == 96 else group_key
    return sender.deploy(key_blob_initcode(key))


def constructor_args(*, governor: str, network_id: int, group_key_blob: str,
                     emergency_delay: int) -> bytes:
    """ABI-encoded arguments of the gate's ``__init__`` (append to the initcode)."""
    return encode(["address", "uint256", "address", "uint256"],
                  [governor, network_id, group_key_blob, emergency_delay])


def deploy_gate_contract(sender: TxSender, compiled: CompiledContract, *, governor: str,
                         network_id: int, group_key: bytes, emergency_delay: int) -> str:
    """Deploy a key blob for ``group_key`` and then ``compiled`` (a contract that initializes
    the gate with the gate's constructor arguments); return the contract address."""
    blob = deploy_key_blob(sender, group_key)
    return sender.deploy(compiled.bytecode + constructor_args(
        governor=governor, network_id=network_id, group_key_blob=blob,
        emergency_delay=emergency_delay))


def deploy_signer_sets(sender: TxSender, gate: str) -> str:
    """Deploy the signer-set proposal contract for ``gate`` (on the governance chain)."""
    return sender.deploy(signer_sets_contract().bytecode + encode(["address"], [gate]))
