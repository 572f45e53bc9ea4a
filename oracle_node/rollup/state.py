"""Rollup state: accounts, their Poseidon leaves, and the semantics of each operation.

An account is ``(owner, nonce, balances[token_slots])``; its leaf in the account tree is
``0`` while the account does not exist (owner = zero address) and
``poseidon(owner, nonce, balance_1, …, balance_T)`` once it does (token id ``j`` is balance
slot ``j - 1``; token ids outside ``1..T`` are unsupported). ``op_updates`` is the single
source of truth for the semantics of docs/protocol.md §2; the prover's witness builder
replays the same updates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from oracle_node.errors import RollupError
from oracle_node.rollup.poseidon import poseidon_unchecked
from oracle_node.rollup.pubdata import (
    U32_MAX,
    U128_MAX,
    Deposit,
    FullExit,
    Noop,
    Op,
    Transfer,
    Withdraw,
)
from oracle_node.rollup.tree import SparseMerkleTree

ZERO_ADDRESS = bytes(20)


class InvalidOperation(RollupError):
    """Raised when an operation is not valid for the current state (the state is unchanged).

    ``reason`` is a short machine-readable tag (``unknown_account``, ``bad_nonce``, …)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class RollupParams:
    """Shape parameters shared by the core and the circuit.

    ``depth``: account tree depth (account ids ``< 2^depth``); ``token_slots``: supported
    token ids ``1..token_slots``; ``capacity``: operations per block (``k``)."""

    depth: int = 16
    token_slots: int = 2
    capacity: int = 4

    def __post_init__(self) -> None:
        if not 2 <= self.depth <= 32 or self.depth % 2:
            raise RollupError(f"depth must be even and 2..32, got {self.depth}")
        if not 1 <= self.token_slots <= 10:
            raise RollupError(f"token_slots must be 1..10, got {self.token_slots}")
        if not 1 <= self.capacity <= 1024:
            raise RollupError(f"capacity must be 1..1024, got {self.capacity}")


@dataclass(frozen=True)
class Account:
    """One account's fields (the empty account has the zero owner, nonce 0, zero balances)."""

    owner: bytes
    nonce: int
    balances: tuple[int, ...]

    @property
    def exists(self) -> bool:
        """True once a deposit created the account."""
        return self.owner != ZERO_ADDRESS

    def leaf(self) -> int:
        """The account-tree leaf: 0 if absent, else poseidon(owner, nonce, *balances)."""
        if not self.exists:
            return 0
        return poseidon_unchecked([int.from_bytes(self.owner, "big"), self.nonce,
                                   *self.balances])


def empty_account(params: RollupParams) -> Account:
    """The account every unused id holds."""
    return Account(ZERO_ADDRESS, 0, (0,) * params.token_slots)


@dataclass(frozen=True)
class AccountUpdate:
    """One step of an operation: ``account_id`` goes from ``old`` to ``new``."""

    account_id: int
    old: Account
    new: Account


def _with_balance(account: Account, slot: int, value: int) -> tuple[int, ...]:
    balances = list(account.balances)
    balances[slot] = value
    return tuple(balances)


def _token_slot(token: int, params: RollupParams) -> int:
    if not 1 <= token <= params.token_slots:
        raise InvalidOperation("unsupported_token", f"token {token} not in 1..{params.token_slots}")
    return token - 1


def _check_account_id(account_id: int, params: RollupParams) -> None:
    if not 0 < account_id < (1 << params.depth):
        raise InvalidOperation("account_out_of_range",
                               f"account {account_id} not in 1..{(1 << params.depth) - 1}")


def _debit(account: Account, slot: int, amount: int, what: str) -> int:
    balance = account.balances[slot] - amount
    if balance < 0:
        raise InvalidOperation("insufficient_balance", f"{what}: balance below {amount}")
    return balance


def _check_chain(chain_id: int, chain_ids: frozenset[int]) -> None:
    if chain_id not in chain_ids:
        raise InvalidOperation("unknown_chain", f"chain {chain_id} is not connected")


def _spend(account_id: int, account: Account, nonce: int, what: str) -> None:
    if not account.exists:
        raise InvalidOperation("unknown_account", f"{what}: account {account_id} does not exist")
    if nonce != account.nonce:
        raise InvalidOperation("bad_nonce", f"{what}: nonce {nonce} != {account.nonce}")
    if account.nonce >= U32_MAX:
        raise InvalidOperation("nonce_overflow", f"{what}: account {account_id} nonce is maxed")


def op_updates(op: Op, get: Callable[[int], Account], params: RollupParams,
               chain_ids: frozenset[int]) -> list[AccountUpdate]:
    """The account updates ``op`` makes, in order (raise InvalidOperation if it is invalid).

    ``get`` reads the current account; the second update of a transfer sees the first."""
    if isinstance(op, Noop):
        return []
    if isinstance(op, Transfer):
        _check_account_id(op.from_account, params)
        _check_account_id(op.to_account, params)
        slot = _token_slot(op.token, params)
        sender = get(op.from_account)
        _spend(op.from_account, sender, op.from_nonce, "transfer")
        debited = Account(sender.owner, sender.nonce + 1,
                          _with_balance(sender, slot, _debit(sender, slot, op.amount, "transfer")))
        first = AccountUpdate(op.from_account, sender, debited)
        receiver = debited if op.to_account == op.from_account else get(op.to_account)
        if not receiver.exists:
            raise InvalidOperation("unknown_account", f"transfer to absent {op.to_account}")
        credited = receiver.balances[slot] + op.amount
        if credited > U128_MAX:
            raise InvalidOperation("balance_overflow", f"account {op.to_account} token {op.token}")
        second = AccountUpdate(op.to_account, receiver,
                               Account(receiver.owner, receiver.nonce,
                                       _with_balance(receiver, slot, credited)))
        return [first, second]
    _check_chain(op.chain_id, chain_ids)
    _check_account_id(op.account_id, params)
    slot = _token_slot(op.token, params)
    account = get(op.account_id)
    if isinstance(op, Deposit):
        if op.owner == ZERO_ADDRESS:
            raise InvalidOperation("zero_owner", "deposit to the zero address")
        if account.exists and account.owner != op.owner:
            raise InvalidOperation("owner_mismatch", f"account {op.account_id} has another owner")
        credited = account.balances[slot] + op.amount
        if credited > U128_MAX:
            raise InvalidOperation("balance_overflow", f"account {op.account_id} token {op.token}")
        new = Account(op.owner, account.nonce, _with_balance(account, slot, credited))
    elif isinstance(op, Withdraw):
        _spend(op.account_id, account, op.nonce, "withdraw")
        new = Account(account.owner, account.nonce + 1,
                      _with_balance(account, slot, _debit(account, slot, op.amount, "withdraw")))
    elif isinstance(op, FullExit):
        matches = account.exists and account.owner == op.owner
        expected = account.balances[slot] if matches else 0
        if op.amount != expected:
            raise InvalidOperation("bad_exit_amount",
                                   f"full exit amount {op.amount} != balance {expected}")
        new = Account(account.owner, account.nonce, _with_balance(account, slot, 0)) \
            if matches else account
    else:  # pragma: no cover - Op is a closed union
        raise InvalidOperation("unknown_op", repr(op))
    return [AccountUpdate(op.account_id, account, new)]


@dataclass
class State:
    """The whole L2 state: accounts by id and the account tree over their leaves."""

    params: RollupParams = field(default_factory=RollupParams)
    accounts: dict[int, Account] = field(default_factory=dict)
    tree: SparseMerkleTree = field(init=False)

    def __post_init__(self) -> None:
        self.tree = SparseMerkleTree(self.params.depth)
        if self.accounts:
            self.tree.commit(self.tree.stage({i: a.leaf() for i, a in self.accounts.items()}))

    @property
    def root(self) -> int:
        """The current state root (field element)."""
        return self.tree.root

    def account(self, account_id: int) -> Account:
        """The account at ``account_id`` (the empty account if it does not exist)."""
        found = self.accounts.get(account_id)
        return found if found is not None else empty_account(self.params)

    def copy(self) -> State:
        """An independent copy (accounts and tree)."""
        other = State.__new__(State)
        other.params = self.params
        other.accounts = dict(self.accounts)
        other.tree = self.tree.copy()
        return other

    def account_id_of(self, owner: bytes) -> int | None:
        """The id of the account owned by ``owner``, if any (linear scan; tooling only)."""
        for account_id, account in self.accounts.items():
            if account.owner == owner:
                return account_id
        return None
