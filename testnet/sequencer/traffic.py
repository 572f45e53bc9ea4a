"""Traffic for the testnet: deposits on every chain, L2 transfers and cross-chain withdrawals.

The sequencer keeps a small mirror of L2 accounts (owner, balances, nonce) to generate
operations the rollup core will accept; the authoritative state and roots come from
``oracle_node.rollup``. Traffic is deterministic for a given seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from oracle_node.rollup.pubdata import Deposit, FullExit, Op, Transfer, Withdraw

ETH = 1
TST = 2
DEPOSIT_WEI = 10**16          # 0.01 ETH per deposit
DEPOSIT_TST = 5 * 10**18


@dataclass
class Account:
    """One L2 account as the sequencer sees it."""

    account_id: int
    owner: bytes
    balances: dict[int, int] = field(default_factory=dict)
    nonce: int = 0


@dataclass
class L2Mirror:
    """Accounts by id and owner; apply ops in block order to keep it current."""

    accounts: dict[int, Account] = field(default_factory=dict)
    by_owner: dict[bytes, int] = field(default_factory=dict)
    next_id: int = 1  # account 0 is reserved (docs/protocol.md §1)

    def account_for(self, owner: bytes) -> int:
        """The account id of ``owner``, assigning the next free id at first sight."""
        if owner not in self.by_owner:
            self.by_owner[owner] = self.next_id
            self.accounts[self.next_id] = Account(self.next_id, owner)
            self.next_id += 1
        return self.by_owner[owner]

    def known(self, owner: bytes) -> int | None:
        """The account id of ``owner`` if it exists."""
        return self.by_owner.get(owner)

    def apply(self, op: Op) -> None:
        """Update balances and nonces for one op the rollup core accepted."""
        if isinstance(op, Deposit):
            acc = self.accounts[op.account_id]
            acc.balances[op.token] = acc.balances.get(op.token, 0) + op.amount
        elif isinstance(op, Transfer):
            src, dst = self.accounts[op.from_account], self.accounts[op.to_account]
            src.balances[op.token] -= op.amount
            src.nonce += 1
            dst.balances[op.token] = dst.balances.get(op.token, 0) + op.amount
        elif isinstance(op, Withdraw):
            acc = self.accounts[op.account_id]
            acc.balances[op.token] -= op.amount
            acc.nonce += 1
        elif isinstance(op, FullExit) and op.amount:
            self.accounts[op.account_id].balances[op.token] -= op.amount


@dataclass
class TrafficGenerator:
    """Chooses the next L2 transactions (transfers, withdrawals to another chain)."""

    chain_ids: list[int]
    seed: int = 7
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def l2_ops(self, mirror: L2Mirror, count: int, block_number: int) -> list[Op]:
        """Up to ``count`` valid transfers/withdrawals against ``mirror`` (not applied)."""
        ops: list[Op] = []
        funded = [a for a in mirror.accounts.values() if any(v > 1 for v in a.balances.values())]
        used: set[int] = set()
        for _ in range(count):
            candidates = [a for a in funded if a.account_id not in used]
            if not candidates or len(mirror.accounts) < 1:
                break
            src = self.rng.choice(candidates)
            used.add(src.account_id)
            token = self.rng.choice([t for t, v in src.balances.items() if v > 1])
            amount = max(1, src.balances[token] // 10)
            others = [a for a in mirror.accounts.values() if a.account_id != src.account_id]
            if others and (block_number + len(ops)) % 2 == 0:
                dst = self.rng.choice(others)
                ops.append(Transfer(from_account=src.account_id, token=token, amount=amount,
                                    to_account=dst.account_id, from_nonce=src.nonce))
            else:
                # Withdraw to a chain other than the first one the sequencer lists, rotating.
                target = self.chain_ids[(block_number + src.account_id) % len(self.chain_ids)]
                ops.append(Withdraw(chain_id=target, account_id=src.account_id, token=token,
                                    amount=amount, to_address=src.owner, nonce=src.nonce))
        return ops
