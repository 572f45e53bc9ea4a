"""A fake main contract (commit/prove events + the oracle gate) for ``FakeChain``.

The sequencer drives commits, proofs and priority requests directly in Python (no proofs in
the simulator: a commit is followed by ``BlockProven`` with the root the sequencer computed
for this chain). Nodes reach the contract only through real signed transactions and
``eth_call``: ``confirmFinalRoot(uint256,bytes32,bytes)`` verifies the EIP-2537 group
signature with real BLS (``consensus``) over the canonical message, exactly like the gate in
``deploy/contracts/gate/oracle_gate.vy`` (``RootMismatch``/``BlockNotProven``/``InvalidSignature``
revert; an already-confirmed block returns false without an event). ``epoch()`` and
``groupKeyCompressed()`` answer like the gate; :meth:`FakeMainContract.handover` is the gate's
``handoverGroupKey`` (the current group's signature over the handover message, checked with
real BLS; a key used before is refused) and emits ``GroupKeyReplaced``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode

from consensus.bls import FIELD_MODULUS, PublicKey, Signature, verify
from consensus.errors import ConsensusError
from consensus.message import signing_message
from deploy.bindings import (
    CONFIRM_FINAL_ROOT_SIGNATURE,
    EVENT_TOPICS,
    IS_CONFIRMED_SIGNATURE,
    selector,
)
from deploy.gate_tools import handover_message
from oracle_node.chain.events import encode_event
from oracle_node.chain.fake import ContractResult, FakeChain, FakeRevert

LAST_CONFIRMED_SIG = "lastConfirmedBlock()"
EPOCH_SIG = "epoch()"
GROUP_KEY_SIG = "groupKeyCompressed()"


class HandoverRefused(ValueError):
    """The fake gate refused a handover (``reason`` as the real gate names it)."""


def g1_from_eip2537(data: bytes) -> bytes:
    """The 48-byte compressed form of a 128-byte EIP-2537 G1 point (strict length/padding)."""
    if len(data) != 128 or data[:16] != bytes(16) or data[64:80] != bytes(16):
        raise ValueError("not a 128-byte EIP-2537 G1 point")
    x, y = int.from_bytes(data[16:64], "big"), int.from_bytes(data[80:128], "big")
    if x >= FIELD_MODULUS or y >= FIELD_MODULUS:
        raise ValueError("coordinate not below the field modulus")
    flags = 0x80 | (0x20 if y > (FIELD_MODULUS - 1) // 2 else 0)
    out = bytearray(x.to_bytes(48, "big"))
    out[0] |= flags
    return bytes(out)


@dataclass
class FakeMainContract:
    """One chain's main contract + gate; register with :meth:`install`."""

    chain: FakeChain
    address: str
    rollup_chain_id: int
    network_id: int
    group_key: PublicKey
    epoch: int = 1
    proven_roots: dict[int, bytes] = field(default_factory=dict)
    last_confirmed: int = 0
    confirmations: Counter[int] = field(default_factory=Counter)
    """FinalRootConfirmed events emitted per block (must end at exactly one)."""
    rejected: Counter[str] = field(default_factory=Counter)
    next_serial: int = 0
    used_keys: set[bytes] = field(default_factory=set)

    def install(self) -> None:
        """Register the handler on the chain."""
        self.chain.register_contract(self.address, self.handle)
        self.used_keys.add(self.group_key.to_bytes())

    def handover(self, new_key: PublicKey, signature: Signature) -> int:
        """``handoverGroupKey``: install ``new_key`` authorised by the current group.

        Bumps the epoch, emits ``GroupKeyReplaced(epoch, key)`` and returns the new epoch;
        raises :class:`HandoverRefused` (``InvalidSignature``, ``HandoverReplayed``).
        """
        key = new_key.to_bytes()
        if key in self.used_keys:
            raise HandoverRefused("HandoverReplayed")
        message = handover_message(network_id=self.network_id, old_epoch=self.epoch,
                                   new_key=key)
        if not verify(self.group_key, message, signature):
            raise HandoverRefused("InvalidSignature")
        self.used_keys.add(key)
        self.group_key = new_key
        self.epoch += 1
        self.chain.emit(self.address, *encode_event("GroupKeyReplaced", (self.epoch,), (key,)))
        return self.epoch

    # -- sequencer side (direct) ---------------------------------------------------------
    def queue_deposit(self, owner: bytes, token: int, amount: int) -> int:
        """Emit ``DepositQueued`` and return the serial id."""
        serial = self.next_serial
        self.next_serial += 1
        self.chain.emit(self.address, *encode_event(
            "DepositQueued", (serial, "0x" + owner.hex()), (token, amount, 2**32)))
        return serial

    def commit(self, block_number: int, commitment: bytes, sync_hash: bytes,
               new_state_root: bytes, pubdata: bytes, ops_hashes: tuple[bytes, ...]) -> None:
        """Emit ``BlockCommitted``."""
        self.chain.emit(self.address, *encode_event(
            "BlockCommitted", (block_number,),
            (commitment, sync_hash, new_state_root, pubdata, list(ops_hashes))))

    def revert_blocks(self, from_block: int, to_block: int) -> None:
        """``revertBlocks``: forget the proved roots of ``from_block..to_block``, lower
        ``lastConfirmedBlock`` below them and emit ``BlocksReverted(from_block, to_block)``."""
        for block in range(from_block, to_block + 1):
            self.proven_roots.pop(block, None)
        self.last_confirmed = min(self.last_confirmed, from_block - 1)
        self.chain.emit(self.address, [EVENT_TOPICS["BlocksReverted"]],
                        abi_encode(["uint256", "uint256"], [from_block, to_block]))

    def prove(self, block_number: int, final_root: bytes, new_state_root: bytes) -> None:
        """Record the proven root (the gate's ``record_proven_root``) and emit ``BlockProven``."""
        self.proven_roots[block_number] = final_root
        self.chain.emit(self.address, *encode_event("BlockProven", (block_number,),
                                                    (final_root, new_state_root)))

    # -- node side (transactions and eth_call) -------------------------------------------
    def handle(self, sender: str, calldata: bytes, value: int) -> ContractResult:
        """Serve one call or transaction."""
        sel, args = calldata[:4], calldata[4:]
        if sel == selector(IS_CONFIRMED_SIGNATURE):
            block, root = abi_decode(["uint256", "bytes32"], args)
            ok = block <= self.last_confirmed and self.proven_roots.get(block) == bytes(root)
            return ContractResult(abi_encode(["bool"], [ok]))
        if sel == selector(EPOCH_SIG):
            return ContractResult(abi_encode(["uint256"], [self.epoch]))
        if sel == selector(GROUP_KEY_SIG):
            return ContractResult(abi_encode(["bytes"], [self.group_key.to_bytes()]))
        if sel == selector(LAST_CONFIRMED_SIG):
            return ContractResult(abi_encode(["uint256"], [self.last_confirmed]))
        if sel == selector(CONFIRM_FINAL_ROOT_SIGNATURE):
            return self._confirm(sender, args)
        raise FakeRevert(b"UnknownSelector")

    def _revert(self, reason: str) -> FakeRevert:
        self.rejected[reason] += 1
        return FakeRevert(reason.encode())

    def _confirm(self, sender: str, args: bytes) -> ContractResult:
        try:
            block, root, sig = abi_decode(["uint256", "bytes32", "bytes"], args)
        except Exception as err:  # eth_abi raises several types on bad calldata
            raise self._revert("MalformedCalldata") from err
        root = bytes(root)
        proven = self.proven_roots.get(block)
        if proven is None:
            raise self._revert("BlockNotProven")
        if proven != root:
            raise self._revert("RootMismatch")
        if block <= self.last_confirmed:
            return ContractResult(abi_encode(["bool"], [False]))
        message = signing_message(network_id=self.network_id, epoch=self.epoch,
                                  block_number=block, final_root=root)
        try:
            signature = Signature.from_bytes(g1_from_eip2537(bytes(sig)))
        except (ValueError, ConsensusError) as err:
            raise self._revert("MalformedSignature") from err
        if not verify(self.group_key, message, signature):
            raise self._revert("InvalidSignature")
        self.last_confirmed = block
        self.confirmations[block] += 1
        topics, data = encode_event("FinalRootConfirmed", (block, sender), (root, self.epoch))
        return ContractResult(abi_encode(["bool"], [True]), [(topics, data)])
