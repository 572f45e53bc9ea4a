"""Deploy the gate harness on a real anvil chain and sign for it with the consensus library."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web3 import Web3

from consensus import bls, threshold
from consensus.message import signing_message
from deploy.compile import CONTRACTS_DIR, CompiledContract, compile_source
from deploy.gate_tools import (
    CONFIRM_GAS_LIMIT,
    TxSender,
    deploy_gate_contract,
)
from testnet.anvil import DEV_PRIVATE_KEYS, AnvilChain

HERE = Path(__file__).resolve().parent
NETWORK_ID = 4242
EMERGENCY_DELAY = 3600


def harness_contract() -> CompiledContract:
    """The test harness: the gate module plus externally callable main-contract hooks."""
    return compile_source("gate_harness", (HERE / "gate_harness.vy").read_text(),
                          (CONTRACTS_DIR, HERE))


@dataclass
class Committee:
    """A t-of-n threshold group made by a trusted dealer (tests only)."""

    group_key: bls.PublicKey
    shares: list[threshold.KeyShare]
    t: int

    @classmethod
    def make(cls, t: int, n: int, seed: bytes) -> Committee:
        """Deal a fresh t-of-n group."""
        group_key, shares, _ = threshold.trusted_dealer_split_for_tests(t, n, seed)
        return cls(group_key, list(shares), t)

    def sign(self, message: bytes, members: Sequence[int] | None = None) -> bytes:
        """Combined group signature (EIP-2537, 128 B) from t partials of the chosen members."""
        chosen = [s for s in self.shares if members is None or s.index in members][: self.t]
        partials = [threshold.partial_sign(share, message) for share in chosen]
        return threshold.combine(partials, self.t).to_eip2537()

    def sign_root(self, *, epoch: int, block_number: int, final_root: bytes,
                  network_id: int = NETWORK_ID) -> bytes:
        """Group signature over the canonical confirmFinalRoot message."""
        return self.sign(signing_message(network_id=network_id, epoch=epoch,
                                         block_number=block_number, final_root=final_root))


@dataclass
class Gate:
    """A deployed gate harness and the accounts that talk to it."""

    chain: AnvilChain
    w3: Web3
    contract: Any
    governor: TxSender
    submitter: TxSender

    @property
    def address(self) -> str:
        """Contract address."""
        return str(self.contract.address)

    def call_data(self, fn: str, *args: Any) -> bytes:
        """ABI-encoded call of ``fn``."""
        return bytes.fromhex(self.contract.encode_abi(fn, list(args))[2:])

    def transact(self, sender: TxSender, fn: str, *args: Any, gas: int | None = None,
                 check: bool = True) -> Any:
        """Send ``fn(*args)`` from ``sender`` and return the receipt."""
        return sender.send(self.address, self.call_data(fn, *args), gas=gas, check=check)

    def confirm(self, block_number: int, final_root: bytes, signature: bytes,
                check: bool = True) -> Any:
        """Submit ``confirmFinalRoot`` with the fixed submitter gas limit."""
        return self.transact(self.submitter, "confirmFinalRoot", block_number, final_root,
                             signature, gas=CONFIRM_GAS_LIMIT, check=check)

    def events(self, name: str, receipt: Any) -> list[Any]:
        """Decoded ``name`` events of a receipt."""
        from web3.logs import DISCARD

        decoded = getattr(self.contract.events, name)().process_receipt(receipt, errors=DISCARD)
        return [event for event in decoded if event.address == self.contract.address]


def deploy_gate(chain: AnvilChain, group_key: bls.PublicKey, *,
                governor_key: str = DEV_PRIVATE_KEYS[0], governor_address: str | None = None,
                network_id: int = NETWORK_ID) -> Gate:
    """Deploy a key blob and the harness on ``chain`` (governed by ``governor_address`` if given,
    else by the account of ``governor_key``)."""
    w3 = Web3(Web3.HTTPProvider(chain.rpc_url))
    governor = TxSender(w3, governor_key)
    submitter = TxSender(w3, DEV_PRIVATE_KEYS[1])
    compiled = harness_contract()
    address = deploy_gate_contract(
        governor, compiled, governor=governor_address or governor.address,
        network_id=network_id, group_key=group_key.to_bytes(), emergency_delay=EMERGENCY_DELAY)
    contract = w3.eth.contract(address=Web3.to_checksum_address(address), abi=compiled.abi)
    return Gate(chain, w3, contract, governor, submitter)


FIELD_P = bls.FIELD_MODULUS


def fp(value: int) -> bytes:
    """EIP-2537 field element encoding."""
    return bytes(16) + value.to_bytes(48, "big")


def g1_off_subgroup() -> bytes:
    """A point on the G1 curve y² = x³ + 4 that is not in the prime-order subgroup."""
    x = 1
    while True:
        rhs = (x**3 + 4) % FIELD_P
        y = pow(rhs, (FIELD_P + 1) // 4, FIELD_P)
        if y * y % FIELD_P == rhs:
            return fp(x) + fp(y)
        x += 1


def revert_name(gate: Gate, sender: TxSender, fn: str, *args: Any, gas: int = 600_000
                ) -> tuple[str, int]:
    """Send a transaction expected to revert; return (error name, gas used)."""
    from deploy.gate_tools import TransactionFailedError

    try:
        gate.transact(sender, fn, *args, gas=gas)
    except TransactionFailedError as err:
        return err.reason, int(err.receipt["gasUsed"])
    raise AssertionError(f"{fn} did not revert")


def deploy_signer_sets_for(gate: Gate) -> Gate:
    """The signer-set proposal contract next to ``gate``, wrapped like a gate."""
    from deploy.gate_tools import deploy_signer_sets, signer_sets_contract

    address = deploy_signer_sets(gate.governor, gate.address)
    contract = gate.w3.eth.contract(address=Web3.to_checksum_address(address),
                                    abi=signer_sets_contract().abi)
    return Gate(gate.chain, gate.w3, contract, gate.governor, gate.submitter)
