"""The witness builder: all private inputs of the block circuit, from the rollup core.

It replays the block on a copy of the pre-block state one account update at a time (the
same ``op_updates`` the core uses) and records, per op slot, the old fields and the Merkle
siblings of account A (the op's account) and account B (the transfer recipient, else
account 0, left unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oracle_node.errors import ProverError, RollupError
from oracle_node.rollup import hashes
from oracle_node.rollup.pubdata import Noop, Op, Transfer, decode_block_pubdata
from oracle_node.rollup.state import Account, State, op_updates


class WitnessError(ProverError):
    """Raised when a block cannot be witnessed (invalid ops, wrong size, root mismatch)."""


@dataclass(frozen=True)
class BlockWitness:
    """The circuit inputs of one block and its public inputs (docs/protocol.md §3)."""

    inputs: dict[str, Any]
    public_inputs: list[int]
    new_state_root: int


def _account_index(op: Op) -> int:
    if isinstance(op, Noop):
        return 0
    if isinstance(op, Transfer):
        return op.from_account
    return op.account_id


def _fields(account: Account) -> tuple[int, int, list[int]]:
    return int.from_bytes(account.owner, "big"), account.nonce, list(account.balances)


def build_witness(state: State, block_number: int, pubdata: bytes,
                  chain_ids: frozenset[int]) -> BlockWitness:
    """Witness block ``block_number`` with ``pubdata`` applied to ``state`` (not modified)."""
    params = state.params
    ops = decode_block_pubdata(pubdata)
    if len(ops) != params.capacity:
        raise WitnessError(f"block has {len(ops)} slots, the circuit has {params.capacity}")
    work = state.copy()
    old_root = work.root
    cols: dict[str, list[Any]] = {name: [] for name in (
        "a_owner", "a_nonce", "a_bal", "a_sib", "b_owner", "b_nonce", "b_bal", "b_sib")}
    for op in ops:
        try:
            updates = op_updates(op, work.account, params, chain_ids)
        except RollupError as err:
            raise WitnessError(f"block {block_number}: {err}") from err
        slots = [(_account_index(op), updates[0] if updates else None),
                 (op.to_account if isinstance(op, Transfer) else 0,
                  updates[1] if len(updates) > 1 else None)]
        for prefix, (index, update) in zip(("a", "b"), slots, strict=True):
            current = work.account(index)
            if update is not None and (update.account_id != index or update.old != current):
                raise WitnessError("update order differs from the circuit's slot layout")
            owner, nonce, balances = _fields(current)
            cols[f"{prefix}_owner"].append(owner)
            cols[f"{prefix}_nonce"].append(nonce)
            cols[f"{prefix}_bal"].append(balances)
            cols[f"{prefix}_sib"].append(work.tree.siblings(index))
            if update is not None:
                work.tree.set_leaf(index, update.new.leaf())
                work.accounts[index] = update.new
    public = hashes.public_inputs(old_root, work.root, block_number, pubdata)
    inputs: dict[str, Any] = {
        "old_root": public[0], "new_root": public[1], "block_number": block_number,
        "pubdata": public[3:], **cols,
    }
    return BlockWitness(inputs, public, work.root)
