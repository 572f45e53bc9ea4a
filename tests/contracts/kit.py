"""Test kit for the contracts: the square circuit (real Groth16 proofs of a trivial statement
with the rollup proof's public-input shape), a thin handle on a deployed main contract and a
trusted-dealer oracle committee that produces real threshold BLS confirmations.

The square circuit keeps these tests fast (the real rollup circuit runs in
``test_real_circuit.py``): it has exactly ``3 + 2k`` public inputs, so the main contract, its
public-input rebuilding and the generated verifier are exercised for real; it does not prove a state
transition. Its single-party setup is cached under ``.cache/contracts/`` (test only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import groth16py
from eth_abi.abi import decode as abi_decode
from eth_account import Account

from consensus import bls, threshold
from consensus.message import signing_message
from deploy import bindings
from deploy.errors import ContractRevertError
from deploy.gate_tools import CONFIRM_GAS_LIMIT
from deploy.rpc import BlockingRpc
from oracle_node.rollup import hashes
from oracle_node.rollup.pubdata import Op, encode_block_pubdata

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache" / "contracts"
SQUARE_SOURCE = Path(__file__).with_name("square.circom")


@dataclass(frozen=True)
class SquareCircuit:
    """Proving/verifying key of the square circuit for capacity ``k``."""

    k: int
    pk: Any
    vk: Any

    def prove(self, public_inputs: list[int]) -> bytes:
        """A real proof (of 3 * 3 == 9) bound to ``public_inputs``."""
        assert len(public_inputs) == 3 + 2 * self.k
        return bytes(groth16py.prove(self.pk, {"pub": public_inputs, "x": 3, "y": 9}))

    def verifier_source(self) -> str:
        """The groth16py-generated Vyper verifier."""
        return str(self.vk.to_vyper(style="snarkjs"))


def square_circuit(k: int) -> SquareCircuit:
    """Set up (or load from the cache) the square circuit with ``3 + 2k`` public inputs."""
    folder = CACHE / f"square_k{k}"
    source = SQUARE_SOURCE.read_text().replace("Square(11)", f"Square({3 + 2 * k})")
    stamp = folder / "source.circom"
    pk_path, vk_path = folder / "pk.bin", folder / "vk.bin"
    if stamp.is_file() and stamp.read_text() == source and pk_path.is_file() and vk_path.is_file():
        return SquareCircuit(k, groth16py.ProvingKey.load(str(pk_path)),
                             groth16py.VerifyingKey.load(str(vk_path)))
    folder.mkdir(parents=True, exist_ok=True)
    stamp.write_text(source)
    pk, vk = groth16py.setup_circom(str(stamp))
    pk.save(str(pk_path))
    vk.save(str(vk_path))
    return SquareCircuit(k, pk, vk)


def root(n: int) -> bytes:
    """A deterministic test state root (a BN254 field element as bytes32)."""
    return hashes.root_to_bytes(int.from_bytes(bytes([n]) * 32, "big") % hashes.BN254_R)


@dataclass
class Main:
    """One deployed main contract with the records it has stored."""

    name: str
    rpc: BlockingRpc
    address: str
    rollup_chain_id: int
    token: str
    records: list[bindings.StoredBlock]

    def send(self, key: str, data: bytes, value: int = 0, to: str | None = None) -> dict[str, Any]:
        """Transact (to the main contract unless ``to``); return the receipt."""
        return self.rpc.transact(key, to=to or self.address, data=data, value=value)

    def reason(self, key: str, data: bytes, value: int = 0) -> str | None:
        """The revert reason of a call that must revert (AssertionError if it succeeds)."""
        sender = Account.from_key(key).address
        try:
            self.rpc.call("eth_estimateGas", [{"from": sender, "to": self.address,
                                               "data": "0x" + data.hex(), "value": hex(value)}])
        except ContractRevertError as err:
            return err.reason
        raise AssertionError("the call did not revert")

    def view(self, name: str, types: tuple[str, ...] = (), args: tuple[Any, ...] = (),
             out: str = "uint256") -> Any:
        """Call a getter."""
        raw = self.rpc.eth_call(self.address, bindings.encode_call(name, types, args))
        return abi_decode([out], raw)[0]

    def events(self, receipt: dict[str, Any]) -> list[bindings.MainEvent]:
        """The main-contract events of a receipt."""
        found = []
        for log in receipt["logs"]:
            if log["address"].lower() == self.address.lower():
                event = bindings.decode_log(log)
                if event is not None:
                    found.append(event)
        return found

    def snapshot(self) -> str:
        """``evm_snapshot`` id."""
        return str(self.rpc.call("evm_snapshot"))

    def restore(self, snapshot: str) -> None:
        """``evm_revert`` to ``snapshot`` (and forget records committed since)."""
        assert self.rpc.call("evm_revert", [snapshot]) is True


def commit_input(block_number: int, new_root: bytes, ops: Sequence[Op], k: int,
                 chain_ids: list[int]) -> bindings.CommitBlock:
    """The honest commitBlocks input of a block (every chain's ops hash from the rollup core)."""
    return bindings.CommitBlock(block_number, new_root, encode_block_pubdata(ops, k),
                                tuple(hashes.ops_hash(ops, c) for c in chain_ids))


def public_inputs(stored: bindings.StoredBlock, pubdata: bytes) -> list[int]:
    """The proof's public inputs of a committed block (docs/protocol.md §3)."""
    return hashes.public_inputs(int.from_bytes(stored.old_state_root, "big"),
                                int.from_bytes(stored.new_state_root, "big"),
                                stored.block_number, pubdata)


def commit(main: Main, key: str, blocks: list[bindings.CommitBlock]) -> dict[str, Any]:
    """Commit ``blocks`` after the main contract's latest record; remember the new records."""
    receipt = main.send(key, bindings.encode_commit_blocks(main.records[-1], blocks))
    for block in blocks:
        main.records.append(bindings.stored_block_after(main.records[-1], block,
                                                        main.rollup_chain_id))
    return receipt


def prove(main: Main, key: str, circuit: SquareCircuit, numbers: list[int],
          pubdatas: list[bytes]) -> dict[str, Any]:
    """Prove the committed blocks ``numbers`` (with their pubdata) with real proofs."""
    items = []
    for n, pubdata in zip(numbers, pubdatas, strict=True):
        stored = main.records[n]
        items.append((stored, pubdata, circuit.prove(public_inputs(stored, pubdata))))
    return main.send(key, bindings.encode_prove_blocks(items))


@dataclass(frozen=True)
class Committee:
    """A t-of-n oracle group made by a trusted dealer (TEST ONLY) that signs final roots the
    way the node does: t partial signatures combined into the group signature."""

    group_key: bls.PublicKey
    shares: tuple[threshold.KeyShare, ...]
    t: int

    @classmethod
    def make(cls, t: int, n: int, seed: bytes) -> Committee:
        """Deal a fresh t-of-n group."""
        group_key, shares, _ = threshold.trusted_dealer_split_for_tests(t, n, seed)
        return cls(group_key, tuple(shares), t)

    def sign(self, message: bytes) -> bytes:
        """The 128-byte EIP-2537 group signature over ``message``, combined from the partial
        signatures of the last t members."""
        partials = [threshold.partial_sign(share, message) for share in self.shares[-self.t:]]
        return threshold.combine(partials, self.t).to_eip2537()

    def sign_root(self, *, network_id: int, epoch: int, block_number: int,
                  final_root: bytes) -> bytes:
        """The group signature over the canonical confirmation message (protocol §6)."""
        return self.sign(signing_message(network_id=network_id, epoch=epoch,
                                         block_number=block_number, final_root=final_root))


def confirm(main: Main, key: str, committee: Committee, network_id: int, block_number: int
            ) -> dict[str, Any]:
    """Sign block ``block_number``'s final root (from the main contract's record) with the
    committee and submit ``confirmFinalRoot``; return the receipt."""
    epoch = main.view("epoch")
    final_root = main.records[block_number].final_root
    signature = committee.sign_root(network_id=network_id, epoch=epoch,
                                    block_number=block_number, final_root=final_root)
    return main.rpc.transact(key, to=main.address, gas=CONFIRM_GAS_LIMIT,
                             data=bindings.encode_confirm_final_root(block_number, final_root,
                                                                     signature))
